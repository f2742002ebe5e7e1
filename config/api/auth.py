"""The API token endpoint, throttled like the HTML sign-in (django-axes)."""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from rest_framework import status
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response


class ThrottledObtainAuthToken(ObtainAuthToken):
    """POST {username, password} -> {token}. After too many failures for one username from one
    address, answers 429 until the cool-off has passed (never indefinitely)."""

    def post(self, request, *args, **kwargs):
        credentials = {"username": str(request.data.get("username", ""))[:150]}
        if getattr(settings, "AXES_ENABLED", True) and AxesProxyHandler.is_locked(
            request._request, credentials
        ):
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            return Response(
                {"detail": f"Too many failed sign-in attempts: try again in {minutes} minutes."},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(minutes * 60)},
            )
        return super().post(request, *args, **kwargs)
