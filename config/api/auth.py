"""API tokens: the endpoint that issues them (throttled like the HTML sign-in by
django-axes, asking for a two-factor code from users who have two-factor sign-in on), the
routes that revoke them, and the authentication class that accepts them.

Tokens are django-rest-knox tokens (training.ApiToken): only a hash is stored, each expires
after CALIBRATE_API_TOKEN_DAYS days, and every request for one issues a new one."""

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.authentication import ExpiringTokenAuthentication
from config.throttling import cool_off_minutes
from training.accounts import tokens, twofactor
from training.models import ApiToken


class ExpiringTokenScheme(OpenApiAuthenticationExtension):
    target_class = ExpiringTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "`Token <token>`, with a token from POST /api/v1/auth/token/. Tokens expire "
                "after a number of days (the `expires` field) and can be revoked."
            ),
        }


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
        200: inline_serializer("AuthTokenIssued", {
            "token": serializers.CharField(help_text="Shown once; the server keeps only a hash."),
            "expires": serializers.DateTimeField(help_text="When the token stops working."),
            "prefix": serializers.CharField(
                help_text="Its first characters, as the account page lists it."),
        }),
        400: _errors,
        429: inline_serializer("AuthTokenTooMany", {"detail": serializers.CharField()}),
    },
    auth=[],
)
class ThrottledObtainAuthToken(APIView):
    """POST {username, password[, otp_token]} -> {token, expires, prefix}: a new token on every
    request (one per client; the others keep working), valid for a number of days. Accounts
    with two-factor sign-in on must also send otp_token (a code from the authenticator app or
    a backup code); without it, or with a wrong one, 400 names the field. After too many
    failed passwords for one username (from any addresses), or from one address (across
    usernames), answers 429 until the cool-off has passed (never indefinitely); wrong codes
    make the next try wait a few seconds (429 with Retry-After)."""

    serializer_class = OTPAuthTokenSerializer
    permission_classes = [AllowAny]

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
        serializer = self.serializer_class(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        token, key = tokens.api_token_issue(user=serializer.validated_data["user"])
        return Response({"token": key, "expires": token.expiry, "prefix": token.prefix})


@extend_schema(
    request=None,
    responses={204: None, 400: inline_serializer("AuthTokenRevokeError",
                                                 {"detail": serializers.CharField()})},
)
class RevokeCurrentToken(APIView):
    """POST: revoke the token this request is made with (signing a script out). 204; the
    token answers 401 from then on. 400 when the request was not made with a token."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        if not isinstance(request.auth, ApiToken):
            return Response({"detail": _(
                "This request was not made with an API token: send Authorization: Token "
                "<token> with the token to revoke.")}, status=status.HTTP_400_BAD_REQUEST)
        tokens.api_token_revoke(actor=request.user, user=request.user,
                                digest=request.auth.digest)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    request=None,
    responses={200: inline_serializer("AuthTokensRevoked", {
        "revoked": serializers.IntegerField(help_text="How many tokens ended."),
    })},
)
class RevokeAllTokens(APIView):
    """POST: revoke every API token of the signed-in user, this one included. Browser
    sessions are not ended (the account page's "Sign out everywhere" does both)."""

    permission_classes = [IsAuthenticated]

    def post(self, request):
        revoked = tokens.api_tokens_revoke_all(actor=request.user, user=request.user,
                                               reason=tokens.REVOKED_BY_USER)
        return Response({"revoked": revoked})
