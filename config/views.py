import sys

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views import defaults
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from config.middleware import database_unavailable, database_unavailable_response


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


def server_error(request):
    """handler500: an unavailable database answers 503 (with Retry-After) wherever it was hit,
    including the middleware that loads the session and the user before any view runs; any
    other uncaught error is the plain 500 page. (Under WSGI, as deployed, handler500 runs
    inside the except block that caught the error, so sys.exception() is that error.)"""
    exc = sys.exception()
    if exc is not None and database_unavailable(exc):
        return database_unavailable_response(request, exc)
    return defaults.server_error(request)
