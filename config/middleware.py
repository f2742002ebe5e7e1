
class NoIndexMiddleware:
    """Ask search engines not to index anything but the public home page.

    Content pages hold fictional case material; verification pages are for the people given a
    code, not for search results.
    """

    INDEXABLE_PATHS = {"/"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path not in self.INDEXABLE_PATHS:
            response.headers.setdefault("X-Robots-Tag", "noindex, nofollow")
        return response


class BodySizeLimitMiddleware:
    """Refuse request bodies over the configured limits with 413, before anything reads them.

    JSON bodies (the API) have a small limit; HTML forms and uploads a larger one. Bodies
    without a Content-Length are still bounded by DATA_UPLOAD_MAX_MEMORY_SIZE.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings
        from django.http import HttpResponse, JsonResponse

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        is_json = request.content_type == "application/json"
        limit = settings.CALIBRATE_MAX_JSON_BODY if is_json else settings.CALIBRATE_MAX_FORM_BODY
        if length > limit:
            message = f"The request body ({length} bytes) is larger than the limit ({limit} bytes)."
            if is_json or request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every response for a signed-in user and on every API
    response: pages and data that hold ratings, exams or reference data must never sit in a
    shared or browser cache. Static files and the public home page are unaffected."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.utils.cache import patch_cache_control

        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path.startswith(("/api/", "/verify/")) or (
            user is not None and user.is_authenticated
        ):
            patch_cache_control(response, no_store=True, private=True)
        return response


# --- The database unavailable: 503 with Retry-After, never a 500 or a false success ---------

RETRY_AFTER_SECONDS = 10
DATABASE_UNAVAILABLE_MESSAGE = (
    "The database is unavailable at the moment, so this request could not be completed. "
    "Try again in a moment."
)


def database_unavailable(exc: BaseException) -> bool:
    """True for the errors that mean "the database cannot answer now", not "this request is
    wrong": a lost or refused connection (PostgreSQL), a locked or read-only file (SQLite),
    a lock or statement timeout. Django raises these as OperationalError or InterfaceError;
    IntegrityError, ProgrammingError and the rest stay 500s (they are bugs)."""
    from django.db import InterfaceError, OperationalError

    return isinstance(exc, OperationalError | InterfaceError)


def note_database_unavailable(request, exc: BaseException) -> None:
    """Log the failure (one line, no traceback: it is not a bug) and make sure the rest of
    this request does not ask the database again: the outer middleware read request.user for
    their headers, and each new attempt could wait for a whole connect timeout."""
    import logging

    from django.contrib.auth.models import AnonymousUser

    first_line = (str(exc).strip().splitlines() or [""])[0]
    logging.getLogger("calibrate.database").error(
        "Database unavailable (%s: %s): answered 503 to %s %s",
        type(exc).__name__, first_line, request.method, request.path,
        extra={"request": request, "status_code": 503},
    )
    request.user = AnonymousUser()
    request._cached_user = request.user


def database_unavailable_response(request, exc: BaseException):
    """503 + Retry-After: JSON {"detail": ...} for the API and JSON clients, the plain 503
    page for everything else. Rendered without touching the database."""
    from django.http import HttpResponse, JsonResponse
    from django.template.loader import render_to_string
    from django.utils.cache import patch_cache_control

    note_database_unavailable(request, exc)
    if request.path.startswith("/api/") or request.content_type == "application/json":
        response = JsonResponse({"detail": DATABASE_UNAVAILABLE_MESSAGE}, status=503)
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    patch_cache_control(response, no_store=True, private=True)
    response._has_been_logged = True  # logged above, once, without a traceback
    return response


class DatabaseUnavailableMiddleware:
    """A view that hits an unavailable database answers 503 (see database_unavailable).

    The errors raised in the middleware around the views (loading the session, the user, the
    active organisation) never reach process_exception: Django hands them to handler500,
    which is config.views.server_error and answers the same 503. The API's own exception
    handler does the same for DRF views.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_unavailable(exception):
            return database_unavailable_response(request, exception)
        return None
