from django import template

from training import formatting
from training.accounts.selectors import memberships_for
from training.accounts.twofactor import is_offered
from training.tenancy import active_membership

register = template.Library()


@register.simple_tag(takes_context=True)
def current_membership(context):
    """The active membership, computed once per request."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return None
    if not hasattr(request, "_calibrate_membership"):
        request._calibrate_membership = getattr(request, "membership", None) or active_membership(
            request.user
        )
    return request._calibrate_membership


@register.simple_tag(takes_context=True)
def user_memberships(context):
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return []

    return list(memberships_for(request.user))


@register.simple_tag(takes_context=True)
def two_factor_offered(context):
    """Whether the account menu links to the two-factor page: for site staff, org admins and
    instructors, and for anyone whose session a device verified (they have it on)."""
    request = context.get("request")
    if request is None or not request.user.is_authenticated:
        return False
    is_verified = getattr(request.user, "is_verified", None)
    if is_verified is not None and is_verified():
        return True

    return is_offered(request.user)


@register.filter
def when(value, zone=None):
    """A moment in the organisation's zone, the zone named: '6 Dec 2026, 14:05 (Europe/London)'.
    Without a zone, the active one (the organisation's; UTC where none applies)."""
    return formatting.when(value, zone)


@register.filter
def day(value, zone=None):
    """The day of a moment in the organisation's zone: '6 Dec 2026'."""
    return formatting.day(value, zone)


@register.filter
def iso(value):
    """ISO 8601 in UTC, for <time datetime="...">."""
    return formatting.iso(value)


@register.filter
def count(value):
    return formatting.count(value)


@register.filter
def percent(value, digits=0):
    return formatting.percent(value, digits)


@register.filter
def coef(value, digits=2):
    return formatting.coefficient(value, digits)


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def get_index(sequence, index):
    try:
        return sequence[int(index)]
    except (IndexError, TypeError, ValueError):
        return ""
