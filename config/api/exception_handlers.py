"""One place that turns service errors into API responses: ValidationError -> 400,
Conflict -> 409, a body over the limit -> 413, the database unavailable -> 503."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler, set_rollback

from config.middleware import (
    DATABASE_UNAVAILABLE_MESSAGE,
    RETRY_AFTER_SECONDS,
    database_unavailable,
    note_database_unavailable,
)
from training.exceptions import Conflict


def api_exception_handler(exc, context):
    if database_unavailable(exc):
        # The service's transaction has rolled back: nothing of this request was stored.
        set_rollback()
        note_database_unavailable(context["request"]._request, exc)
        response = Response(
            {"detail": DATABASE_UNAVAILABLE_MESSAGE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        response._has_been_logged = True
        return response
    if isinstance(exc, Conflict):
        return Response(
            {"detail": exc.message, "code": exc.code, **exc.extra}, status=status.HTTP_409_CONFLICT
        )
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "The request body is larger than this endpoint accepts."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, ValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    return exception_handler(exc, context)
