"""Certification rules API (org admins): list, read with the rule's D-study, create and edit.
A rule whose exam is shorter than its own D-study suggests is refused (400, the reason under
`accept_short_exam`) unless `"accept_short_exam": true` is sent; the acceptance is recorded."""

from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from training.certification import dstudy, rules
from training.models import CertificationRule, FeedbackPolicy, Role
from training.tenancy import ORG_HEADER, OrganizationScopedApi


class RuleInputSerializer(serializers.Serializer):
    instrument = serializers.SlugField(required=False, help_text="Instrument slug (create).")
    min_exam_vignettes = serializers.IntegerField(required=False, min_value=1, max_value=200)
    item_agreement = serializers.FloatField(required=False, min_value=0, max_value=1)
    total_tolerance = serializers.IntegerField(required=False, min_value=0, max_value=20)
    total_within_tolerance = serializers.FloatField(required=False, min_value=0, max_value=1)
    band_agreement = serializers.FloatField(required=False, min_value=0, max_value=1)
    icc_a1 = serializers.FloatField(required=False, min_value=-1, max_value=1)
    icc_a1_required = serializers.BooleanField(
        required=False, allow_null=True,
        help_text="null: required only where the exam pool's totals let ICC(A,1) discriminate.")
    applicability_every_vignette = serializers.BooleanField(required=False)
    use_ci_lower_bound = serializers.BooleanField(required=False)
    validity_months = serializers.IntegerField(required=False, min_value=1, max_value=120)
    retake_wait_days = serializers.IntegerField(required=False, min_value=0, max_value=365)
    recalibration_interval_days = serializers.IntegerField(required=False, allow_null=True)
    recalibration_size = serializers.IntegerField(required=False, allow_null=True)
    cusum_slack = serializers.FloatField(required=False, allow_null=True)
    cusum_threshold = serializers.FloatField(required=False, allow_null=True)
    exam_feedback_policy = serializers.ChoiceField(required=False,
                                                   choices=FeedbackPolicy.choices)
    accept_short_exam = serializers.BooleanField(
        required=False, default=False,
        help_text="Needed to save a rule whose exam length gives Phi(lambda) below 0.80.")


class ScoreStudySerializer(serializers.Serializer):
    criterion = serializers.CharField(source="key")
    label = serializers.CharField()
    cut = serializers.FloatField()
    phi_lambda = serializers.FloatField(source="phi", allow_null=True)
    ci95 = serializers.SerializerMethodField()
    vignettes_needed = serializers.SerializerMethodField()
    terms = serializers.SerializerMethodField(
        help_text="sigma2(p), sigma2(i), sigma2(pi,e), the mean, sigma2(mean), the raw and the "
                  "truncated (mean - lambda)^2 - sigma2(mean), sigma2(Delta).")
    reason = serializers.CharField()

    def get_ci95(self, s) -> list[float] | None:
        return list(s.result.ci95) if s.result and s.result.ci95 else None

    def get_vignettes_needed(self, s) -> int | None:
        return s.result.vignettes_needed if s.result else None

    def get_terms(self, s) -> dict | None:
        if not s.result:
            return None
        vc = s.result.components
        return {"sigma2_p": vc.rater, "sigma2_i": vc.vignette, "sigma2_pi_e": vc.residual,
                "method": vc.method, "n_raters": vc.n_raters, "n_vignettes": vc.n_vignettes,
                "n_scores": vc.n_scores} | dict(s.result.estimate.extra)


class RuleDependabilitySerializer(serializers.Serializer):
    target = serializers.FloatField()
    n_exam = serializers.IntegerField()
    below_target = serializers.BooleanField()
    vignettes_needed = serializers.IntegerField(allow_null=True)
    pool_size = serializers.IntegerField()
    n_raters = serializers.IntegerField()
    n_vignettes = serializers.IntegerField()
    n_scores = serializers.IntegerField()
    reason = serializers.CharField()
    decisions = ScoreStudySerializer(source="studies", many=True)


class IccRequirementSerializer(serializers.Serializer):
    required = serializers.BooleanField()
    automatic = serializers.BooleanField(help_text="true: decided from the exam pool.")
    reason = serializers.CharField()


class RuleSerializer(serializers.ModelSerializer):
    instrument = serializers.CharField(source="instrument.slug")
    short_exam_accepted_by = serializers.CharField(
        source="short_exam_accepted_by.username", allow_null=True, default=None,
        help_text="Who accepted an exam shorter than the rule's D-study suggests.")

    class Meta:
        model = CertificationRule
        fields = ["id", "instrument", *rules.RULE_FIELDS, "short_exam_accepted_by",
                  "short_exam_accepted_at", "updated_at"]
        read_only_fields = fields


class RuleDetailSerializer(RuleSerializer):
    d_study = serializers.SerializerMethodField()
    icc_a1_requirement = serializers.SerializerMethodField()

    class Meta(RuleSerializer.Meta):
        fields = [*RuleSerializer.Meta.fields, "d_study", "icc_a1_requirement"]
        read_only_fields = fields

    @extend_schema_field(RuleDependabilitySerializer)
    def get_d_study(self, rule):
        return RuleDependabilitySerializer(dstudy.rule_dependability(rule=rule)).data

    @extend_schema_field(IccRequirementSerializer)
    def get_icc_a1_requirement(self, rule):
        return IccRequirementSerializer(dstudy.icc_requirement(rule)).data


BAD_REQUEST = inline_serializer("RuleBadRequest", {
    "accept_short_exam": serializers.ListField(child=serializers.CharField(), required=False),
    "detail": serializers.CharField(required=False)})


class _AdminApi(OrganizationScopedApi):
    def check_admin(self):
        if self.membership.role != Role.ORG_ADMIN:
            raise PermissionDenied("Only organisation admins manage certification rules.")

    def save(self, request, rule=None):
        data = RuleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        slug = values.pop("instrument", None)
        accept = values.pop("accept_short_exam", False)
        saved = rules.rule_save(actor=request.user, organization=self.organization, rule=rule,
                                instrument_slug=slug, accept_short_exam=accept, **values)
        saved = rules.rule_get(organization=self.organization, rule_id=saved.pk)
        return RuleDetailSerializer(saved).data


class RuleListApi(_AdminApi):
    """The organisation's certification rules (org admins)."""

    @extend_schema(operation_id="certification_rules_list", parameters=[ORG_HEADER],
                   responses={200: RuleSerializer(many=True)})
    def get(self, request):
        self.check_admin()
        rows = rules.rule_list(organization=self.organization).select_related(
            "short_exam_accepted_by")
        return Response(RuleSerializer(rows, many=True).data)

    @extend_schema(operation_id="certification_rules_create", parameters=[ORG_HEADER],
                   request=RuleInputSerializer,
                   responses={201: RuleDetailSerializer, 400: BAD_REQUEST})
    def post(self, request):
        self.check_admin()
        return Response(self.save(request), status=201)


class RuleDetailApi(_AdminApi):
    """One rule with its D-study (Phi(lambda) of each decision, interval, exam length needed)
    and whether its ICC(A,1) criterion applies on the exam pool; PATCH edits it."""

    def rule(self, rule_id) -> CertificationRule:
        self.check_admin()
        return rules.rule_get(organization=self.organization, rule_id=rule_id)

    @extend_schema(operation_id="certification_rules_retrieve", parameters=[ORG_HEADER],
                   responses={200: RuleDetailSerializer})
    def get(self, request, rule_id):
        return Response(RuleDetailSerializer(self.rule(rule_id)).data)

    @extend_schema(operation_id="certification_rules_partial_update", parameters=[ORG_HEADER],
                   request=RuleInputSerializer,
                   responses={200: RuleDetailSerializer, 400: BAD_REQUEST})
    def patch(self, request, rule_id):
        return Response(self.save(request, self.rule(rule_id)))
