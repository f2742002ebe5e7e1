
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
