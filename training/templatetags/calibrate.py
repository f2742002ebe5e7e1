from django import template

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
def percent(value, digits=0):
    if value is None:
        return "–"
    return f"{100 * value:.{int(digits)}f} %"


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
