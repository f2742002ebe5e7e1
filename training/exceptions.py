"""Errors services raise beyond Django's ValidationError (400) and Http404."""


class Conflict(Exception):
    """The request conflicts with the current state (HTTP 409): a stale revision, a second
    submission, a change to submitted work. Nothing was changed."""

    def __init__(self, message: str, *, code: str = "conflict", **extra):
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra
