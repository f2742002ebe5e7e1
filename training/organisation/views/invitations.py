"""Accepting an invitation (public): the e-mailed link, then the join page whose address carries no token."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from training.organisation import members as member_services
from training.organisation.forms import AcceptWithAccountForm, _add_service_errors


def _invitation_invalid(request):
    return render(request, "training/manage/invitation_invalid.html", status=404)


# The invitation tokens this browser has opened, by invitation id: the token leaves the address
# bar after the first visit, as Django's password reset does with its own token.
INVITATION_TOKENS_SESSION_KEY = "invitation_tokens"


@never_cache
@require_GET
def invitation_open(request, token):
    """The link from the invitation e-mail. A valid token is kept in the session and the
    browser moves on to the invitation's page, whose address does not carry it: the token is
    then in no address bar, history entry or Referer header, whatever a page links to, and the
    page keeps the site's referrer policy (so its forms post with a real Origin)."""
    try:
        invitation = member_services.invitation_get_by_token(token=token)
    except ValidationError:
        return _invitation_invalid(request)
    tokens = request.session.get(INVITATION_TOKENS_SESSION_KEY, {})
    tokens[str(invitation.pk)] = token
    request.session[INVITATION_TOKENS_SESSION_KEY] = tokens
    return redirect("invitation-join", invitation_id=invitation.pk)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, invitation_id):
    """Join the organisation: a new account through the form, or one button when signed in.
    Works only in the browser session that opened the invitation link."""
    token = request.session.get(INVITATION_TOKENS_SESSION_KEY, {}).get(str(invitation_id), "")
    try:
        invitation = member_services.invitation_get_by_token(token=token)
    except ValidationError:
        return _invitation_invalid(request)
    if invitation.pk != invitation_id:
        return _invitation_invalid(request)
    signed_in = request.user.is_authenticated
    form = None if signed_in else AcceptWithAccountForm()
    error = None
    if request.method == "POST":
        if signed_in:
            try:
                member_services.invitation_accept(token=token, user=request.user)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                _forget_invitation_token(request, invitation)
                messages.success(request, _("You joined %(org)s.") % {
                    "org": invitation.organization.name})
                return redirect("dashboard")
        else:
            form = AcceptWithAccountForm(request.POST)
            if form.is_valid():
                try:
                    membership = member_services.invitation_accept(
                        token=token,
                        username=form.cleaned_data["username"],
                        password=form.cleaned_data["password"],
                    )
                except ValidationError as exc:
                    _add_service_errors(form, exc)
                else:
                    # login() rotates the session key.
                    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
                    _forget_invitation_token(request, invitation)
                    messages.success(request, _("Welcome to %(org)s.") % {
                        "org": invitation.organization.name})
                    return redirect("dashboard")
    return render(
        request,
        "training/manage/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "error": error,
            "login_url": f"{reverse('login')}?{urlencode({'next': request.path})}",
        },
        status=400 if request.method == "POST" else 200,
    )


def _forget_invitation_token(request, invitation):
    tokens = request.session.get(INVITATION_TOKENS_SESSION_KEY, {})
    tokens.pop(str(invitation.pk), None)
    request.session[INVITATION_TOKENS_SESSION_KEY] = tokens
