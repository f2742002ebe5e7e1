"""The active organisation: every page and endpoint acts inside exactly one."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from training.models import Membership, Profile, Role


def profile_for(user) -> Profile:
    profile, _ = Profile.objects.get_or_create(user=user)
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


STAFF_ROLES = (Role.INSTRUCTOR, Role.ORG_ADMIN)
