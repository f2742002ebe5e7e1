
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
