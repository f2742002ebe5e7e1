"""Certification API: public verification of a certificate; the certificates and decisions
of the active organisation (read-only)."""

from django.urls import reverse
from drf_spectacular.utils import (
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import generics, serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.throttling import client_address
from training.certification import certificates, decisions
from training.certification.filters import CertificateListQuerySerializer
from training.certification.recalibration import display_status
from training.models import Certificate, CertificationDecision, Role
from training.teaching.serializers import BandConsistencySerializer
from training.tenancy import ORG_HEADER, OrganizationScopedApi


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
        retry = certificates.verify_rate_limited(client_address(request))
        headers = {"X-Robots-Tag": "noindex, nofollow", "Cache-Control": "no-store"}
        if retry is not None:
            return Response({"detail": "Too many requests."}, status=429,
                            headers=headers | {"Retry-After": str(retry)})
        public = certificates.certificate_verify(code)
        if public is None:
            return Response(NOT_FOUND, status=404, headers=headers)
        return Response(CertificateVerifySerializer(public).data, headers=headers)


# --- certificates and decisions of the active organisation ---------------------------------

class _OnInstrumentVersion(serializers.Serializer):
    """A record about one version of an instrument."""

    id = serializers.IntegerField()
    instrument = serializers.CharField(source="instrument_version.instrument.slug")
    instrument_version = serializers.CharField(source="instrument_version.version_label",
                                               help_text="The version named by its authors.")
    instrument_revision = serializers.IntegerField(
        source="instrument_version.number",
        help_text="Calibrate's revision of that version (a coding note changed, say).")


class CertificateSerializer(_OnInstrumentVersion):
    holder = serializers.CharField(source="holder.username", help_text="Username.")
    status = serializers.SerializerMethodField(
        help_text="active, recalibration_due, suspended, revoked, superseded or expired.")
    status_reason = serializers.CharField()
    issued_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    recalibration_due_at = serializers.DateTimeField(allow_null=True)
    decision = serializers.IntegerField(source="decision_id")
    verification_code = serializers.CharField()
    verify_url = serializers.SerializerMethodField()

    def get_status(self, cert) -> str:

        return display_status(cert)

    def get_verify_url(self, cert) -> str:
        return self.context["request"].build_absolute_uri(
            reverse("verify", args=[cert.verification_code]))


class CriterionSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    applicable = serializers.BooleanField(
        help_text="False for a criterion the instrument or the rule does not have (band "
                  "agreement on an instrument without published bands): never blocks a pass.")
    value = serializers.FloatField(allow_null=True)
    threshold = serializers.FloatField(allow_null=True)
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                 min_length=2, max_length=2)
    judged_on = serializers.ChoiceField(choices=["value", "ci_lower"])
    n = serializers.IntegerField()
    passed = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    required = serializers.BooleanField(
        default=True, help_text="false: reported but not required (ICC(A,1) on an exam pool "
                                "whose totals vary too little; the reason says why).")
    n_vignettes = serializers.IntegerField(
        required=False, help_text="Item agreement: the vignettes its items are clustered in.")
    design_effect = serializers.FloatField(
        required=False, help_text="Item agreement: the design effect of that clustering.")


class DecisionSerializer(_OnInstrumentVersion):
    user = serializers.CharField(source="user.username", help_text="Username.")
    attempt = serializers.IntegerField(source="attempt_id")
    passed = serializers.BooleanField()
    decided_at = serializers.DateTimeField()
    criteria = serializers.SerializerMethodField()
    band_consistency = serializers.SerializerMethodField(
        help_text="Decision consistency on this exam: how often a disagreement on the total "
                  "changes the band, per band boundary. Organisation admins only (null for "
                  "the candidate).")
    certificate = serializers.SerializerMethodField()

    @extend_schema_field(CriterionSerializer(many=True))
    def get_criteria(self, decision):
        return CriterionSerializer(decisions.criteria_for_display(
            decision.criteria, decision.instrument_version.instrument), many=True).data

    @extend_schema_field(BandConsistencySerializer(allow_null=True))
    def get_band_consistency(self, decision):
        if not self.context.get("admin"):
            return None
        return BandConsistencySerializer(decisions.decision_band_consistency(decision)).data

    def get_certificate(self, decision) -> int | None:
        cert = getattr(decision, "certificate", None)
        return cert.pk if cert is not None else None


class CertificateListApi(OrganizationScopedApi, generics.GenericAPIView):
    """Certificates of the active organisation: every one for an org admin, your own for
    anyone else. `status` (org admins): active, expiring (within 60 days), suspended or
    revoked; `holder` (org admins): a username."""

    serializer_class = CertificateSerializer
    queryset = Certificate.objects.none()  # for the schema; get() scopes the rows

    @extend_schema(
        operation_id="certificates_list",
        parameters=[ORG_HEADER, CertificateListQuerySerializer],
        responses={200: CertificateSerializer(many=True),
                   400: inline_serializer("CertificateListBadRequest", {
                       "detail": serializers.CharField(required=False),
                       "status": serializers.ListField(child=serializers.CharField(),
                                                       required=False),
                       "holder": serializers.ListField(child=serializers.CharField(),
                                                       required=False)})},
    )
    def get(self, request):
        query = CertificateListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        status_filter = query.validated_data.get("status", "")
        if self.membership.role == Role.ORG_ADMIN:
            # A page of the query, not every certificate of the organisation.
            rows = certificates.certificates_for_admin_query(organization=self.organization,
                                                             filter_=status_filter)
            holder = query.validated_data.get("holder")
            if holder:
                rows = rows.filter(holder__username=holder)
        else:
            rows = list(Certificate.objects.filter(
                organization=self.organization, holder=request.user,
            ).select_related("holder", "instrument_version__instrument").order_by(
                "-issued_at", "-pk"))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


def _one_of(serializer, not_found: str):
    """The schema of a detail endpoint of the active organisation: the record, or 404."""
    return extend_schema(parameters=[ORG_HEADER], responses={
        200: serializer, 404: inline_serializer(not_found, {"detail": serializers.CharField()})})


@_one_of(CertificateSerializer, "CertificateNotFound")
class CertificateDetailApi(OrganizationScopedApi):
    """One certificate: your own, or any of the organisation's for an org admin (else 404)."""

    def get(self, request, certificate_id):
        cert = certificates.certificate_for_viewer(membership=self.membership,
                                                    certificate_id=certificate_id)
        return Response(CertificateSerializer(cert, context={"request": request}).data)


def _decisions(membership):
    qs = CertificationDecision.objects.filter(organization=membership.organization
                                              ).select_related(
        "user", "instrument_version__instrument", "attempt__assignment", "certificate",
    ).order_by("-decided_at", "-pk")
    if membership.role == Role.ORG_ADMIN:
        return list(qs)
    # A trainee sees their own decisions only when the exam's feedback policy allows.
    return [d for d in qs.filter(user_id=membership.user_id)
            if decisions.decision_visible_to_trainee(d)]


class DecisionListApi(OrganizationScopedApi, generics.GenericAPIView):
    """Certification decisions: every one of the organisation for an org admin; your own for
    anyone else, once the exam's feedback policy releases them."""

    serializer_class = DecisionSerializer
    queryset = CertificationDecision.objects.none()  # for the schema; get() scopes the rows

    def get_serializer_context(self):
        return super().get_serializer_context() | {
            "admin": self.membership.role == Role.ORG_ADMIN}

    @extend_schema(operation_id="certification_decisions_list", parameters=[ORG_HEADER],
                   responses=DecisionSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(_decisions(self.membership))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


@_one_of(DecisionSerializer, "DecisionNotFound")
class DecisionDetailApi(OrganizationScopedApi):
    """One decision with every criterion (404 when it is not yours to see)."""

    def get(self, request, decision_id):
        decision = decisions.decision_get(membership=self.membership,
                                              decision_id=decision_id)
        return Response(DecisionSerializer(decision, context={
            "request": request, "admin": self.membership.role == Role.ORG_ADMIN}).data)
