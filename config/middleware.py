from config import input_guards as guards
from config.input_guards import shown


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


class TextGuardMiddleware:
    """Refuse, with 400 naming the field, a request whose text no person types and the
    database cannot store: a NUL character, a lone surrogate (also percent-encoded, as
    %ED%A0%80, or escaped in JSON, as "\\ud800") or a control character other than tab, CR
    and LF — in the path, the query string, cookies, the Authorization header, form fields and
    uploaded files' names (never their contents: a content pack is binary), JSON keys and
    string values. Every JSON body also passes config.input_guards.load_json (size, nesting
    depth, duplicate keys) here, whichever view would read it.

    Placed before authentication, sign-in throttling (django-axes looks the username up) and
    every view, so nothing of such a request is stored. The body is read once: Django keeps it
    for the parsers that follow (DRF reads it again from there).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.core.exceptions import RequestDataTooBig
        from django.http.multipartparser import MultiPartParserError


        try:
            refusal = self.refusal(request)
        except guards.JSONInputError as exc:
            return bad_input_response(request, exc.message, status=exc.status, json_body=True)
        except RequestDataTooBig:
            return bad_input_response(request, guards.body_too_big_message(), status=413)
        except MultiPartParserError:
            return bad_input_response(request, guards.unreadable_form_message())
        if refusal is not None:
            message, field = refusal
            return bad_input_response(request, message, field=field)
        return self.get_response(request)

    def refusal(self, request) -> tuple[str, str | None] | None:
        """(message, field) for the first bad piece of text in the request, or None."""

        problem = guards.text_problem(request.path_info)
        if problem:
            return guards.address_problem(problem), None
        found = guards.urlencoded_problem(_wsgi_bytes(request.META.get("QUERY_STRING", "")))
        if found:
            return guards.field_problem(*found), found[0]
        for name, value in request.COOKIES.items():
            problem = guards.text_problem(name) or guards.text_problem(value)
            if problem:
                return guards.cookie_problem(name, problem), None
        problem = guards.text_problem(request.META.get("HTTP_AUTHORIZATION", ""))
        if problem:
            return guards.header_problem("Authorization", problem), None
        found = self.body_problem(request)
        if found:
            return guards.field_problem(*found), found[0]
        return None

    def body_problem(self, request) -> tuple[str, str] | None:
        import io

        from django.conf import settings
        from django.core.files.uploadhandler import load_handler
        from django.http.multipartparser import MultiPartParser


        content_type = request.content_type or ""
        if content_type == "application/json" or content_type.endswith("+json"):
            if not request.body:
                return None
            data = guards.load_json(request.body, encoding=request.encoding or "utf-8")
            return guards.json_text_problem(data)
        if content_type == "application/x-www-form-urlencoded":
            return guards.urlencoded_problem(request.body)
        if content_type == "multipart/form-data":
            if request.method == "POST":
                fields, files = request.POST, request.FILES
            else:
                # Django parses multipart bodies only for POST; the API parses PUT and PATCH
                # itself, later, from the body Django keeps.
                handlers = [load_handler(h, request) for h in settings.FILE_UPLOAD_HANDLERS]
                fields, files = MultiPartParser(
                    request.META, io.BytesIO(request.body), handlers, request.encoding
                ).parse()
            return guards.fields_problem(fields) or guards.files_problem(files)
        return None


def _wsgi_bytes(text: str) -> bytes:
    """A WSGI environ string (the bytes decoded as ISO-8859-1, PEP 3333) back to its bytes."""
    try:
        return text.encode("iso-8859-1")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def bad_input_response(request, message: str, *, status: int = 400, field: str | None = None,
                       json_body: bool = False):
    """400 (or 413) for input the edge refuses. For the API and JSON clients, both of the API's
    error shapes at once: {"detail": message} as every error answers, and {field: [message]}
    as a serializer names the field to blame. For pages, the 400 page with the message.
    Rendered without the database: nothing has loaded the session or the user yet."""
    from django.http import HttpResponse, JsonResponse
    from django.template.loader import render_to_string
    from django.utils.cache import patch_cache_control


    if json_body or request.path.startswith("/api/") or request.content_type == "application/json":
        body = {"detail": message}
        if field is not None and field != "detail":
            body[shown(field)] = [message]
        response = JsonResponse(body, status=status)
    elif status == 400:
        response = HttpResponse(render_to_string("400.html", {"problem": message}), status=400)
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    patch_cache_control(response, no_store=True, private=True)
    return response


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
