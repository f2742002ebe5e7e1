"""Markdown to safe HTML. Everything user- or file-authored passes through nh3."""

from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import SafeString, mark_safe

ALLOWED_TAGS = {
    "h2", "h3", "h4", "p", "ul", "ol", "li", "strong", "em", "table", "thead", "tbody", "tr",
    "th", "td", "blockquote", "br", "hr", "code", "pre",
}


def render_markdown(text: str) -> SafeString:
    return mark_safe(_render(text))  # noqa: S308


# The HTML depends on the text alone, and a vignette revision never changes: an exam attempt's
# detail (ten case files) would otherwise render every file on every read and submission.
@lru_cache(maxsize=512)
def _render(text: str) -> str:
    html = markdown.markdown(text, extensions=["tables", "sane_lists"], output_format="html")
    # No attributes at all: no inline styles (CSP), no links or images out of the case file.
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes={}, link_rel=None)
