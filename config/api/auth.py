"""The API token endpoint, throttled like the HTML sign-in (django-axes), and asking for a
two-factor code from users who have two-factor sign-in on."""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from config.throttling import cool_off_minutes


class OTPAuthTokenSerializer(AuthTokenSerializer):
    token = None  # the response is {"token": ...}, documented separately below
    otp_token = serializers.CharField(
        label="Two-factor code",
        required=False,
        allow_blank=True,
        write_only=True,
        max_length=64,
        trim_whitespace=True,
        help_text=(
            "Required for accounts with two-factor sign-in on: the current code from the "
            "authenticator app (6 digits) or an unused backup code. Ignored otherwise."
        ),
    )

    def validate(self, attrs):
        attrs = super().validate(attrs)
        from training.services import twofactor

        user = attrs["user"]
        if not twofactor.is_enabled(user):
            return attrs
        code = attrs.get("otp_token") or ""
        if not code:
            raise serializers.ValidationError(
                {"otp_token": ["This account has two-factor sign-in: send otp_token, the code "
                               "from the authenticator app or a backup code."]},
                code="required",
            )
        result = twofactor.check_sign_in_code(user, code)
        if result.retry_after:
            raise exceptions.Throttled(wait=result.retry_after,
                                      detail="Too many wrong two-factor codes.")
        if not result.ok:
            raise serializers.ValidationError({"otp_token": [result.error]}, code="invalid")
        return attrs


_errors = inline_serializer("AuthTokenError", {
    "username": serializers.ListField(child=serializers.CharField(), required=False),
    "password": serializers.ListField(child=serializers.CharField(), required=False),
    "otp_token": serializers.ListField(child=serializers.CharField(), required=False),
    "non_field_errors": serializers.ListField(child=serializers.CharField(), required=False),
})


@extend_schema(
    request=OTPAuthTokenSerializer,
    responses={
        200: inline_serializer("AuthTokenIssued", {"token": serializers.CharField()}),
        400: _errors,
        429: inline_serializer("AuthTokenTooMany", {"detail": serializers.CharField()}),
    },
    auth=[],
)
class ThrottledObtainAuthToken(ObtainAuthToken):
    """POST {username, password[, otp_token]} -> {token}. Accounts with two-factor sign-in on
    must also send otp_token (a code from the authenticator app or a backup code); without it,
    or with a wrong one, 400 names the field. After too many failed passwords for one username
    (from any addresses), or from one address (across usernames), answers 429 until the
    cool-off has passed (never indefinitely); wrong codes make the next try wait a few seconds
    (429 with Retry-After)."""

    serializer_class = OTPAuthTokenSerializer

    def post(self, request, *args, **kwargs):
        credentials = {"username": str(request.data.get("username", ""))[:150]}
        if getattr(settings, "AXES_ENABLED", True) and AxesProxyHandler.is_locked(
            request._request, credentials
        ):
            minutes = cool_off_minutes()
            return Response(
                {"detail": _("Too many failed sign-in attempts: try again in %(minutes)d "
                             "minutes.") % {"minutes": minutes}},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
                headers={"Retry-After": str(minutes * 60)},
            )
        return super().post(request, *args, **kwargs)
