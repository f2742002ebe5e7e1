"""Pages every signed-in person meets: the content notice and the organisation switch."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from training.accounts.profile import (
    profile_acknowledge_content_notice,
    profile_switch_organization,
)


def _safe_next(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return fallback


@login_required
@require_http_methods(["GET", "POST"])
def content_notice(request):
    if request.method == "POST":
        profile_acknowledge_content_notice(user=request.user)
        return redirect(_safe_next(request, reverse("dashboard")))
    return render(request, "training/content_notice.html", {"next": _safe_next(request, "")})


@login_required
@require_POST
def organization_switch(request):
    try:
        membership = profile_switch_organization(
            user=request.user, organization_slug=request.POST.get("organization", "")
        )
    except ValidationError:
        raise Http404 from None
    messages.success(request, _("You are now working in %(org)s.") % {
        "org": membership.organization.name})
    return redirect(_safe_next(request, reverse("dashboard")))
