"""The account page (/accounts/): password, two-factor sign-in, the user's API tokens with a
Revoke button each, and "Sign out everywhere"; and the sign-out page, which says what plain
"Sign out" leaves working. Thin: the rules are in training/accounts/tokens.py."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout as auth_logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LogoutView
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from training.accounts import selectors as account_selectors
from training.accounts import tokens, twofactor
from training.models import ApiToken


class TokenRevokeForm(forms.Form):
    # The token's hash identifies it: the token itself is never known to the server.
    digest = forms.CharField(max_length=128, min_length=1)


def _token_count(user) -> int:
    return len(account_selectors.api_token_list(user=user))


@never_cache
@login_required
@require_GET
def account(request):
    return render(request, "training/account.html", {
        "tokens": account_selectors.api_token_list(user=request.user),
        "api_token_days": settings.CALIBRATE_API_TOKEN_DAYS,
        "two_factor": twofactor.may_manage(request.user),
    })


@never_cache
@login_required
@require_POST
def token_revoke(request):
    form = TokenRevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a token to revoke."))
        return redirect("account")
    try:
        token = tokens.api_token_revoke(actor=request.user, user=request.user,
                                        digest=form.cleaned_data["digest"])
    except ApiToken.DoesNotExist:
        raise Http404(_("You have no such API token: it may have been revoked or have "
                        "expired already.")) from None
    messages.success(request, _("API token %(prefix)s… is revoked: it no longer works.")
                     % {"prefix": token.prefix})
    return redirect("account")


@never_cache
@login_required
@require_POST
def sign_out_everywhere(request):
    ended, _sessions = tokens.sign_out_everywhere(user=request.user)
    auth_logout(request)
    messages.success(request, ngettext(
        "You are signed out everywhere: every browser, and your %(n)d API token.",
        "You are signed out everywhere: every browser, and your %(n)d API tokens.",
        ended) % {"n": ended})
    return redirect("login")


class SignOutView(LogoutView):
    """Plain "Sign out" (POST, as the header's button sends it) ends this browser's session
    only: API tokens are for scripts and keep working until they expire or are revoked, and
    the message after signing out says how many there are. A GET shows the choice between
    signing out here and signing out everywhere."""

    http_method_names = ["get", "post", "options"]

    def get(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect("home")
        response = render(request, "registration/sign_out.html",
                          {"token_count": _token_count(request.user)})
        response["Cache-Control"] = "no-store"
        return response

    def post(self, request, *args, **kwargs):
        count = _token_count(request.user) if request.user.is_authenticated else 0
        response = super().post(request, *args, **kwargs)
        if count:
            messages.info(request, ngettext(
                "You are signed out of this browser. Your %(n)d API token still works until "
                "it expires or you revoke it: sign in and use “Sign out everywhere” to end it.",
                "You are signed out of this browser. Your %(n)d API tokens still work until "
                "they expire or you revoke them: sign in and use “Sign out everywhere” to end "
                "them.", count) % {"n": count})
        return response
