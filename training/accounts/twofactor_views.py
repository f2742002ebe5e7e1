"""Two-factor sign-in pages: the two-step sign-in (/accounts/login/, then
/accounts/login/code/) and the "Two-factor sign-in" page (/accounts/two-factor/) where staff,
org admins and instructors turn it on and off. Thin: the rules are in
training/accounts/twofactor.py.

A user with two-factor sign-in on is not signed in after the password: the session only
remembers, for five minutes, who typed a correct password. Only a correct code signs them in.
"""

from __future__ import annotations

import time

import segno
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login

from training.accounts import twofactor

PENDING_KEY = "calibrate_two_factor_pending"
PENDING_SECONDS = 5 * 60

# --- Forms ----------------------------------------------------------------------------------


def _code_field(label):
    return forms.CharField(
        label=label,
        max_length=64,
        strip=True,
        widget=forms.TextInput(attrs={
            "autocomplete": "one-time-code", "autocapitalize": "none", "spellcheck": "false",
            "size": 12,
        }),
    )


def _password_field():
    return forms.CharField(
        label=gettext_lazy("Your password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class SignInCodeForm(forms.Form):
    code = _code_field(gettext_lazy("Code from your authenticator app, or a backup code"))


class ConfirmForm(forms.Form):
    code = _code_field(gettext_lazy("The 6-digit code your app shows now"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs["inputmode"] = "numeric"


class DisableForm(forms.Form):
    password = _password_field()
    code = _code_field(gettext_lazy("Code from your authenticator app, or a backup code"))


class BackupCodesForm(forms.Form):
    password = _password_field()


def _service_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            form.add_error(field if field in form.fields else None,
                           [m for e in errors for m in e.messages])
    else:
        form.add_error(None, exc.messages)


# --- Sign-in, step 1 and step 2 -------------------------------------------------------------


def _safe_next(request, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


class SignInView(LoginView):
    """Django's LoginView (django-axes counts its failures); for a user with two-factor
    sign-in on, a correct password leads to the code step instead of signing in."""

    def form_valid(self, form):
        user = form.get_user()
        if not twofactor.is_enabled(user):
            return super().form_valid(form)
        session = self.request.session
        session.cycle_key()
        session[PENDING_KEY] = {
            "user": user.pk,
            "backend": getattr(user, "backend", None) or settings.AUTHENTICATION_BACKENDS[-1],
            "hash": user.get_session_auth_hash(),
            "at": int(time.time()),
            "next": self.get_redirect_url(),
        }
        return HttpResponseRedirect(reverse("login-code"))


def _pending_user(request):
    data = request.session.get(PENDING_KEY)
    if not isinstance(data, dict):
        return None, None
    if int(time.time()) - int(data.get("at", 0)) > PENDING_SECONDS:
        request.session.pop(PENDING_KEY, None)
        return None, None
    user = get_user_model()._default_manager.filter(pk=data.get("user"), is_active=True).first()
    # A password changed meanwhile ends the half-finished sign-in.
    if user is None or not constant_time_compare(data.get("hash", ""),
                                                 user.get_session_auth_hash()):
        request.session.pop(PENDING_KEY, None)
        return None, None
    return user, data


@never_cache
@sensitive_post_parameters("code")
@csrf_protect
@require_http_methods(["GET", "POST"])
def sign_in_code(request):
    """Step 2: a code from the authenticator app or a backup code; only then signed in."""
    user, data = _pending_user(request)
    if user is None:
        messages.info(request, _("Please sign in again: the sign-in was not started or took "
                                 "longer than five minutes."))
        return redirect("login")
    form = SignInCodeForm(request.POST or None)
    status = 200
    headers = {}
    if request.method == "POST":
        status = 400
        if form.is_valid():
            result = twofactor.check_sign_in_code(user, form.cleaned_data["code"])
            if result.ok:
                request.session.pop(PENDING_KEY, None)
                backend = data["backend"]
                if backend not in settings.AUTHENTICATION_BACKENDS:
                    backend = settings.AUTHENTICATION_BACKENDS[-1]
                auth_login(request, user, backend=backend)
                otp_login(request, result.device)
                target = _safe_next(request, data.get("next") or "")
                return HttpResponseRedirect(target or resolve_url(settings.LOGIN_REDIRECT_URL))
            form.add_error("code", result.error)
            if result.retry_after:
                status = 429
                headers["Retry-After"] = str(result.retry_after)
    response = render(request, "registration/login_code.html", {"form": form}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


# --- The two-factor page --------------------------------------------------------------------


def _require_access(user) -> None:
    if not twofactor.may_manage(user):
        raise PermissionDenied(_("Two-factor sign-in is offered to site staff, organisation "
                                 "admins and instructors."))


def _page(request, *, disable_form=None, codes_form=None, status=200):
    info = twofactor.status(request.user)
    return render(
        request,
        "training/twofactor/index.html",
        {
            **info,
            "offered": twofactor.is_offered(request.user),
            "disable_form": disable_form or DisableForm(prefix="disable"),
            "codes_form": codes_form or BackupCodesForm(prefix="codes"),
            "backup_code_count": twofactor.BACKUP_CODE_COUNT,
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET"])
def two_factor(request):
    _require_access(request.user)
    return _page(request)


@never_cache
@login_required
@require_POST
def two_factor_start(request):
    _require_access(request.user)
    try:
        twofactor.enrolment_start(user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("two-factor")
    return redirect("two-factor-setup")


def _qr_svg(uri: str):
    # segno writes the SVG with presentation attributes only (no style): CSP-safe inline.
    return mark_safe(segno.make(uri, error="m").svg_inline(
        scale=4, title=_("QR code for your authenticator app")))


@never_cache
@sensitive_post_parameters("code")
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    """Scan the QR code (or type the secret), then confirm with a code."""
    _require_access(request.user)
    device = twofactor.pending_device(request.user)
    if device is None:
        return redirect("two-factor")
    form = ConfirmForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                device, codes = twofactor.enrolment_confirm(
                    user=request.user, code=form.cleaned_data["code"])
            except ValidationError as exc:
                _service_errors(form, exc)
            else:
                # This session is the one that proved the device: it counts as verified.
                otp_login(request, device)
                return render(request, "training/twofactor/backup_codes.html",
                              {"codes": codes, "first_time": True})
    uri = device.config_url
    return render(
        request,
        "training/twofactor/setup.html",
        {"form": form, "qr_svg": _qr_svg(uri), "secret": twofactor.secret_base32(device),
         "uri": uri},
        status=status,
    )


@never_cache
@sensitive_post_parameters("disable-password", "disable-code")
@login_required
@require_POST
def two_factor_disable(request):
    _require_access(request.user)
    form = DisableForm(request.POST, prefix="disable")
    if form.is_valid():
        try:
            twofactor.disable(user=request.user, password=form.cleaned_data["password"],
                              code=form.cleaned_data["code"])
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            messages.success(request, _("Two-factor sign-in is off. Your authenticator app "
                                        "entry and backup codes no longer work."))
            return redirect("two-factor")
    return _page(request, disable_form=form, status=400)


@never_cache
@sensitive_post_parameters("codes-password")
@login_required
@require_POST
def two_factor_backup_codes(request):
    _require_access(request.user)
    form = BackupCodesForm(request.POST, prefix="codes")
    if form.is_valid():
        try:
            codes = twofactor.regenerate_backup_codes(
                user=request.user, password=form.cleaned_data["password"])
        except ValidationError as exc:
            _service_errors(form, exc)
        else:
            return render(request, "training/twofactor/backup_codes.html",
                          {"codes": codes, "first_time": False})
    return _page(request, codes_form=form, status=400)

