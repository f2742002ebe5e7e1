"""The active organisation: every page and endpoint acts inside exactly one."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter
from rest_framework.views import APIView

from training import security
from training.exceptions import ObjectInOtherOrganization
from training.models import Membership, Profile, Role


def profile_for(user) -> Profile:
    profile, _created = Profile.objects.get_or_create(user=user)
    return profile


def active_membership(user, *, requested_slug: str | None = None) -> Membership | None:
    """The membership the user acts under.

    `requested_slug` (the API's X-Organization header) must be one of the user's own
    organisations; otherwise the profile's active organisation, else the first membership.
    """
    if not user.is_authenticated:
        return None
    memberships = Membership.objects.filter(user=user).select_related("organization")
    if requested_slug:
        membership = memberships.filter(organization__slug=requested_slug).first()
        if membership is None:
            raise PermissionDenied("You are not a member of that organisation.")
        return membership
    profile = profile_for(user)
    if profile.active_organization_id:
        membership = memberships.filter(organization_id=profile.active_organization_id).first()
        if membership:
            return membership
    return memberships.order_by("organization__name").first()


def require_role(membership: Membership | None, *roles: str) -> Membership:
    if membership is None or membership.role not in roles:
        raise PermissionDenied("Your role in this organisation does not allow this.")
    return membership


# The organisation's staff: instructors and org admins. They teach cohorts, see cohort data,
# author the organisation's content and sit on its reference panels.
STAFF_ROLES = (Role.INSTRUCTOR, Role.ORG_ADMIN)


def int_or_404(value) -> int:
    """An object id from a URL or a request as an int; anything else is a 404, the same
    answer as an id that does not exist."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


def not_found_in(model, *, organization, via: str = "organization",
                 missing: Exception | None = None, **lookup) -> Exception:
    """The exception for an object that `lookup` did not find inside `organization`: `missing`
    (a plain 404 unless given), or an `ObjectInOtherOrganization` carrying it when the same
    lookup matches an object of another organisation. `via` is the path from `model` to its
    organisation ("owner" for content, "attempt__organization" for a rating...). Call it only
    after the scoped lookup failed: it costs one query."""
    missing = missing if missing is not None else Http404()
    other = (
        model._base_manager.filter(**lookup)
        .exclude(**{via: organization}).exclude(**{f"{via}__isnull": True})
        .values_list(via, flat=True).first()
    )
    if other is None:
        return missing
    return ObjectInOtherOrganization(
        missing=missing, object_type=model._meta.label,
        object_id=next(iter(lookup.values()), "") if len(lookup) == 1 else lookup,
        object_organization_id=other,
    )


def get_in_organization(queryset, *, organization, via: str = "organization", **lookup):
    """`get_object_or_404` for an object of the active organisation: the same 404 for an
    object that does not exist and for another organisation's (which is also recorded)."""
    model = getattr(queryset, "model", queryset)
    manager = queryset if hasattr(queryset, "model") else queryset._default_manager.all()
    obj = manager.filter(**{via: organization}, **lookup).first()
    if obj is None:
        missing = Http404(f"No {model._meta.object_name} matches the given query.")
        raise not_found_in(model, organization=organization, via=via, missing=missing, **lookup)
    return obj


# --- pages and API views: the active membership, roles, another organisation's objects ---


def with_membership(*roles):
    """Resolve the active membership (request.membership); optionally require a role. A
    lookup of another organisation's object (`ObjectInOtherOrganization`) is recorded here
    and answered with the ordinary 404."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            membership = getattr(request, "_calibrate_membership", None) or active_membership(
                request.user
            )
            if membership is None:
                return render(request, "training/no_membership.html")
            if roles and membership.role not in roles:
                raise PermissionDenied(_("Your role in this organisation does not allow this."))
            request.membership = membership
            request.organization = membership.organization
            try:
                return view(request, *args, **kwargs)
            except ObjectInOtherOrganization as denial:
                # Recorded, then answered exactly as for an object that does not exist.
                security.cross_organization_denied(
                    request, organization=membership.organization, denial=denial)
                raise denial.missing from None

        return wrapper

    return decorator


ORG_HEADER = OpenApiParameter(
    "X-Organization",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="Slug of the organisation to act in (default: your active organisation).",
)


class OrganizationScopedApi(APIView):
    """Every endpoint acts inside one organisation the user belongs to. A lookup of another
    organisation's object (`ObjectInOtherOrganization`) is recorded here and answered with
    the ordinary 404."""

    def handle_exception(self, exc):
        if isinstance(exc, ObjectInOtherOrganization):
            membership = getattr(self, "_membership", None)
            security.cross_organization_denied(
                self.request, denial=exc,
                organization=membership.organization if membership else None)
            exc = exc.missing
        return super().handle_exception(exc)

    @property
    def membership(self):
        if not hasattr(self, "_membership"):
            membership = active_membership(
                self.request.user, requested_slug=self.request.headers.get("X-Organization")
            )
            if membership is None:
                raise PermissionDenied("You are not a member of any organisation.")
            self._membership = membership
        return self._membership

    @property
    def organization(self):
        return self.membership.organization
