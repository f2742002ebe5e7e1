"""Public certificate verification API."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from training import certification as cert_services


class CertificateVerifySerializer(serializers.Serializer):
    holder = serializers.CharField(help_text="Full name or initials, as the holder chose.")
    instrument = serializers.CharField()
    instrument_version = serializers.CharField()
    organization = serializers.CharField()
    status = serializers.CharField(
        help_text="active, suspended, revoked, superseded or expired.")
    issued_at = serializers.DateField()
    expires_at = serializers.DateField()
    statement = serializers.CharField()


NOT_FOUND = {"detail": "No certificate with this code."}


@extend_schema(
    responses={200: CertificateVerifySerializer,
               404: inline_serializer("VerifyNotFound", {"detail": serializers.CharField()}),
               429: inline_serializer("VerifyTooMany", {"detail": serializers.CharField()})},
    description="Public: verify a certificate from its code. Unknown and malformed codes "
                "answer identically (404). Rate-limited per IP (429 with Retry-After).",
    auth=[],
)
class CertificateVerifyApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    def get(self, request, code):
        retry = cert_services.verify_rate_limited(cert_services.client_ip(request))
        headers = {"X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
        if retry is not None:
            return Response({"detail": "Too many requests."}, status=429,
                            headers=headers | {"Retry-After": str(retry)})
        public = cert_services.certificate_verify(code)
        if public is None:
            return Response(NOT_FOUND, status=404, headers=headers)
        return Response(CertificateVerifySerializer(public).data, headers=headers)
