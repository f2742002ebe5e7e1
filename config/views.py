import logging
import sys

from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.middleware import database_unavailable, database_unavailable_response
from config.throttling import client_address, password_reset_allowed

log = logging.getLogger("calibrate.throttling")


@require_GET
def home(request):
    return render(request, "home.html")


@require_GET
def favicon(request):
    # Resolved per request: with hashed static names the URL is only known after collectstatic.
    return redirect(static("calibrate/favicon.svg"), permanent=True)


@never_cache
@require_GET
def healthz(request):
    """Liveness and readiness: answers 200 only when the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any database failure means "not ready"
        return JsonResponse({"status": "unavailable", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


class ThrottledPasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, rate limited per e-mail and per client address. Over either limit
    it sends nothing; the page still answers "check your e-mail", as for an address without an
    account, so the limit tells nobody whether the account exists."""

    def save(self, *, request=None, **kwargs):
        email = self.cleaned_data["email"]
        if not password_reset_allowed(email=email, address=client_address(request)):
            log.warning("Password reset refused: too many requests for one e-mail or address.")
            return
        super().save(request=request, **kwargs)


password_reset = auth_views.PasswordResetView.as_view(form_class=ThrottledPasswordResetForm)


def server_error(request):
    """handler500: an unavailable database answers 503 (with Retry-After) wherever it was hit,
    including the middleware that loads the session and the user before any view runs; any
    other uncaught error is the plain 500 page. (Under WSGI, as deployed, handler500 runs
    inside the except block that caught the error, so sys.exception() is that error.)"""
    exc = sys.exception()
    if exc is not None and database_unavailable(exc):
        return database_unavailable_response(request, exc)
    return defaults.server_error(request)
