"""The Django admin site, with the two-factor rule: a staff user who has a confirmed
two-factor device must have verified it in this session (django-otp's OTPAdminSite asks it of
every staff user; here two-factor sign-in stays optional). Everyone signs in on the one
sign-in page, which asks for the second step when needed."""

from django.contrib import admin
from django.contrib.auth.views import redirect_to_login
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from training.accounts.twofactor import session_is_verified_or_unneeded


class CalibrateAdminSite(admin.AdminSite):
    def has_permission(self, request):
        if not super().has_permission(request):
            return False

        return session_is_verified_or_unneeded(request.user)

    def login(self, request, extra_context=None):
        target = request.GET.get("next") or ""
        if not url_has_allowed_host_and_scheme(target, {request.get_host()},
                                               request.is_secure()):
            target = reverse("admin:index", current_app=self.name)
        return redirect_to_login(target, reverse("login"))
