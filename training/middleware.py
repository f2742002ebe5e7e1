import zoneinfo

from django.contrib.auth import logout
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django_otp.middleware import OTPMiddleware

from training.accounts.twofactor import session_is_verified_or_unneeded
from training.tenancy import active_membership, profile_for

EXEMPT_PREFIXES = ("/notice/", "/accounts/", "/static/", "/api/", "/admin/", "/healthz",
                   "/verify/", "/invitations/", "/issuers/", "/contexts/")


class ContentNoticeMiddleware:
    """At first sign-in, show once that the platform holds fictional case material about
    sexual offending, before any other page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and request.method == "GET"
            and request.path != "/"
            and not request.path.startswith(EXEMPT_PREFIXES)
            and profile_for(user).content_notice_seen_at is None
        ):
            return redirect(f"{reverse('content-notice')}?next={request.get_full_path()}")
        return self.get_response(request)


class OrganizationTimeZoneMiddleware:
    """Show times in the active organisation's time zone (they are stored in UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        membership = active_membership(user) if user is not None and user.is_authenticated else None
        # Views and templates reuse it instead of asking again.
        request._calibrate_membership = membership
        if membership is not None:
            try:
                timezone.activate(zoneinfo.ZoneInfo(membership.organization.time_zone))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class TwoFactorSessionMiddleware:
    """A signed-in session whose user has a confirmed two-factor device, but that no device
    verified, is signed out before any view sees it (it goes right after django-otp's
    OTPMiddleware). The sign-in page never creates such a session: it signs the user in only
    after the code. This closes every other way in (another login view, a session made some
    other way), for the HTML pages, the admin and the API's session authentication alike."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (user is not None and user.is_authenticated
                and not session_is_verified_or_unneeded(user)):
            logout(request)
            OTPMiddleware._init_user_fields(request.user)
        return self.get_response(request)
