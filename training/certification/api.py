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
from training.certification.credentials import badges
from training.certification.filters import CertificateListQuerySerializer
from training.certification.recalibration import display_status
from training.certification.retest import certificate_retest, retest_summaries
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
    # Added so that nobody misreads a certificate that is not active; the fields above keep
    # their meaning.
    active = serializers.BooleanField(
        help_text="True only when the certificate is active and may be relied on now.")
    status_line = serializers.CharField(
        help_text='As the page says it: "Active, valid until ...", "Suspended since ... '
                  '(recalibration due | other reason)", "Revoked on ...", "Expired on ..." '
                  '(a suspended one: "Expired on ... (suspended since ...)"), '
                  '"Superseded on ... by a renewed certificate".')
    status_since = serializers.DateField(
        allow_null=True, help_text="When a certificate that is not active stopped being "
                                   "active (null while active).")
    suspension_reason = serializers.ChoiceField(
        choices=["recalibration_due", "other"], allow_null=True,
        help_text="Why a suspended certificate is suspended (null otherwise).")
    valid_until = serializers.DateField(
        allow_null=True, help_text="The last day of validity, only while active.")
    holder_shown_as = serializers.ChoiceField(
        choices=["full_name", "initials", "erased"],
        help_text="What `holder` holds, as the holder consented.")
    identity_note = serializers.CharField(
        help_text="How to confirm the holder's identity from what is shown.")


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


class RetestSerializer(serializers.Serializer):
    n_pairs = serializers.IntegerField(help_text="Cases the holder rated twice (both submitted).")
    n_scored_pairs = serializers.IntegerField(
        help_text="Of those, the pairs both judged applicable: item and total values rest on them.")
    n_items = serializers.IntegerField(help_text="Item codes compared.")
    applicability_agreement = serializers.FloatField(allow_null=True)
    item_agreement = serializers.FloatField(allow_null=True,
                                            help_text="Share of identical item codes.")
    mean_abs_total_difference = serializers.FloatField(allow_null=True)
    mean_total_difference = serializers.FloatField(
        allow_null=True, help_text="Retest − first: positive = more severe the second time.")
    icc_a1 = serializers.FloatField(allow_null=True, help_text="ICC(A,1) of the totals.")
    icc_a1_ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    reason = serializers.CharField(allow_null=True)
    icc_reason = serializers.CharField(allow_null=True)
    indicative = serializers.BooleanField()
    min_pairs = serializers.IntegerField()
    min_pairs_icc = serializers.IntegerField()


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
    retest = serializers.SerializerMethodField(
        help_text="Org admins only (null for anyone else): the holder's test–retest agreement "
                  "on the instrument, from recalibration cases rated twice at least six months "
                  "apart. n_pairs, n_scored_pairs (both judged applicable) and n_items say what "
                  "it rests on; values are null below min_pairs (ICC(A,1): min_pairs_icc), "
                  "with the reason.")

    def get_status(self, cert) -> str:

        return display_status(cert)

    @extend_schema_field(RetestSerializer(allow_null=True))
    def get_retest(self, cert):
        if not self.context.get("admin"):
            return None
        # The views read every listed certificate's agreement at once (retest_summaries).
        retests = self.context.get("retests")
        summary = retests[cert.pk] if retests is not None else certificate_retest(cert)
        return RetestSerializer(summary.as_dict()).data

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
    superseded_by = serializers.IntegerField(
        source="superseded_by_id", allow_null=True,
        help_text="The decision an appeal replaced this one with (this one no longer counts).")
    voided = serializers.SerializerMethodField(
        help_text="true: the exam attempt was voided for misconduct; the decision no longer "
                  "counts.")

    def get_voided(self, decision) -> bool:
        void = getattr(decision.attempt, "void", None)
        return bool(void is not None and void.in_force)

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

    def get_serializer_context(self):
        return super().get_serializer_context() | {
            "admin": self.membership.role == Role.ORG_ADMIN}

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
        page = rows if page is None else page
        context = self.get_serializer_context()
        if context["admin"]:
            context["retests"] = retest_summaries(organization=self.organization,
                                                  certificates=page)
        return self.get_paginated_response(
            self.get_serializer(page, many=True, context=context).data)


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
        admin = self.membership.role == Role.ORG_ADMIN
        retests = (retest_summaries(organization=self.organization, certificates=[cert])
                   if admin else {})
        return Response(CertificateSerializer(cert, context={
            "request": request, "admin": admin, "retests": retests}).data)


class CertificateDisplaySerializer(serializers.Serializer):
    show_full_name = serializers.ChoiceField(
        choices=["full", "initials"],
        help_text="What the public verification page shows of your name: `full` "
                  "(recommended: a third party can match it to an identity document) or "
                  "`initials` (the page then says identity must be confirmed another way).")


class CertificateDisplayOutSerializer(serializers.Serializer):
    show_full_name = serializers.BooleanField()
    display_consented_at = serializers.DateTimeField()
    holder = serializers.CharField(help_text="What the public page now shows.")


@extend_schema(parameters=[ORG_HEADER], request=CertificateDisplaySerializer, responses={
    200: CertificateDisplayOutSerializer,
    400: inline_serializer("CertificateDisplayBadRequest", {
        "show_full_name": serializers.ListField(child=serializers.CharField(), required=False),
        "detail": serializers.CharField(required=False)}),
    404: inline_serializer("CertificateDisplayNotFound", {"detail": serializers.CharField()})})
class CertificateDisplayApi(OrganizationScopedApi):
    """The holder's choice of what the public page shows of their name, recorded as their
    consent (who and when). Only the holder may make it (anyone else: 404)."""

    def put(self, request, certificate_id):
        data = CertificateDisplaySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        cert = certificates.certificate_set_display(
            user=request.user, organization=self.organization, certificate_id=certificate_id,
            show_full_name=data.validated_data["show_full_name"])
        return Response(CertificateDisplayOutSerializer({
            "show_full_name": cert.show_full_name,
            "display_consented_at": cert.display_consented_at,
            "holder": certificates.holder_display(cert)}).data)


class CertificateCredentialSerializer(serializers.Serializer):
    credential = serializers.CharField(
        help_text="The certificate as an Open Badges 3.0 credential in VC-JWT form (compact "
                  "JWS, ES256), signed by the organisation.")
    media_type = serializers.CharField(help_text="application/vc+jwt")
    jwks_uri = serializers.URLField(help_text="The organisation's public keys (JWK set).")


@extend_schema(parameters=[ORG_HEADER], responses={
    200: CertificateCredentialSerializer,
    404: inline_serializer("CredentialNotFound", {"detail": serializers.CharField()}),
    409: inline_serializer("CredentialNotIssuable", {"detail": serializers.CharField()})})
class CertificateCredentialApi(OrganizationScopedApi):
    """The certificate as a verifiable credential: your own, or any of the organisation's for
    an org admin (else 404); 409 for a revoked, superseded or expired certificate."""

    def get(self, request, certificate_id):
        cert = certificates.certificate_for_viewer(membership=self.membership,
                                                    certificate_id=certificate_id)
        token = badges.certificate_credential(cert=cert, actor=request.user)
        return Response({"credential": token, "media_type": badges.MEDIA_TYPE,
                         "jwks_uri": badges.jwks_url(cert.organization)})


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
