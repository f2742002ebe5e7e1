"""List every URL pattern of the site: route, name and the view that answers it."""

from django.core.management.base import BaseCommand
from django.urls import URLPattern, URLResolver, get_resolver


def url_patterns(patterns=None, prefix: str = "", namespace: str = ""):
    """(route, name, view) for every pattern, in the order Django tries them."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            callback = pattern.callback
            view = (getattr(callback, "view_class", None) or getattr(callback, "cls", None)
                    or callback)
            name = f"{namespace}{pattern.name}" if pattern.name else "-"
            yield (f"{prefix}{pattern.pattern}", name,
                   f"{view.__module__}.{getattr(view, '__qualname__', view.__name__)}")


class Command(BaseCommand):
    help = "List every URL pattern: route, name and view, tab-separated."

    def handle(self, *args, **options):
        for route, name, view in url_patterns():
            self.stdout.write(f"{route}\t{name}\t{view}")
