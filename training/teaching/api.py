"""Instructor API: cohorts, their reliability over time, the long-format export."""

from django.db.models import Count
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from training.models import Cohort
from training.reliability.sufficiency import ci_note
from training.teaching import bands as band_stats
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from training.teaching import rounds as round_stats
from training.teaching import snapshot
from training.teaching import trainees as trainee_stats
from training.teaching.exports import cohort_export_rows, csv_lines
from training.teaching.serializers import (
    BandConsistencySerializer,
    CohortReliabilityQuerySerializer,
)
from training.tenancy import ORG_HEADER, STAFF_ROLES, OrganizationScopedApi


class CohortSerializer(serializers.ModelSerializer):
    trainees = serializers.SerializerMethodField()
    instructors = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")

    class Meta:
        model = Cohort
        fields = ["id", "name", "trainees", "instructors"]

    def get_trainees(self, obj) -> int:
        counted = getattr(obj, "trainee_count", None)  # annotated by the list: one query
        return obj.trainees.count() if counted is None else counted


class EstimateSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    undefined_reason = serializers.CharField(allow_null=True)
    n_units = serializers.IntegerField()
    n_raters = serializers.IntegerField()
    n_pairable = serializers.IntegerField(
        help_text="Pairable values; for agreement on a code, the ratings of that code.")


class GatedEstimateSerializer(EstimateSerializer):
    """Reliability among raters as the gate lets a person see it (docs/statistics.md, "How
    much data a value needs"): `value` is null with `undefined_reason` "not enough data ..."
    below 10 vignettes with two or more first ratings or 60 pairable values; `units`,
    `pairable` and `units_needed` say how far off it is. `decision_grade` is false below 25
    vignettes ("indicative"). `ci95` is clipped to [-1, 1] (`ci_clipped`), or null with
    `ci_note` when the formula's interval does not contain its estimate."""

    n_pairable = serializers.IntegerField()
    sufficient = serializers.SerializerMethodField()
    units = serializers.SerializerMethodField()
    pairable = serializers.SerializerMethodField()
    units_needed = serializers.SerializerMethodField()
    decision_grade = serializers.SerializerMethodField()
    ci_clipped = serializers.SerializerMethodField()
    ci_note = serializers.SerializerMethodField()

    def get_sufficient(self, obj) -> bool:
        return "units_needed" in obj.extra and obj.extra["units_needed"] == 0

    def get_units(self, obj) -> int | None:
        value = obj.extra.get("gate_units")
        return None if value is None else int(value)

    def get_pairable(self, obj) -> int | None:
        value = obj.extra.get("gate_pairable")
        return None if value is None else int(value)

    def get_units_needed(self, obj) -> int | None:
        value = obj.extra.get("units_needed")
        return None if value is None else int(value)

    def get_decision_grade(self, obj) -> bool:
        return obj.value is not None and bool(obj.extra.get("decision_grade"))

    def get_ci_clipped(self, obj) -> bool:
        return bool(obj.extra.get("ci_clipped"))

    def get_ci_note(self, obj) -> str | None:
        return ci_note(obj)


class SufficiencySerializer(serializers.Serializer):
    sufficient = serializers.BooleanField()
    units = serializers.IntegerField(help_text="vignettes with two or more first ratings")
    pairable = serializers.IntegerField(help_text="ratings in those vignettes")
    units_needed = serializers.IntegerField()
    decision_grade = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    ratings = serializers.IntegerField()
    empty = serializers.BooleanField(help_text="a calendar period without ratings (a gap)")
    first_unit = serializers.IntegerField(
        help_text="count windows: the window holds vignettes first_unit..last_unit, numbered "
                  "in the order they got their second first rating (0 for calendar windows)")
    last_unit = serializers.IntegerField()
    gate = SufficiencySerializer(help_text="how much data the totals of this window hold")
    krippendorff_alpha_totals = GatedEstimateSerializer(source="alpha_total")
    krippendorff_alpha_items = serializers.DictField(child=GatedEstimateSerializer(),
                                                     source="alpha_items")
    icc_2_1_crossed = GatedEstimateSerializer(source="icc_crossed")
    fleiss_kappa_crossed = GatedEstimateSerializer(source="fleiss_crossed")
    gwet_ac1_crossed = GatedEstimateSerializer(source="ac1_crossed")
    crossed_shape = serializers.ListField(child=serializers.IntegerField())


class SeveritySerializer(serializers.Serializer):
    """A trainee's severity from the crossed model on first ratings (docs/statistics.md)."""

    estimate = serializers.FloatField(
        allow_null=True, help_text="Expected deviation (trainee - reference) on a typical "
        "vignette of the cohort's set: mu + a_t, shrunk (BLUP).")
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True,
                                 help_text="95 % interval from the prediction error variance.")
    se = serializers.FloatField(allow_null=True)
    n_vignettes = serializers.IntegerField(help_text="Distinct vignettes among first ratings.")
    n_ratings = serializers.IntegerField(help_text="First ratings used.")
    p_value = serializers.FloatField(
        allow_null=True, help_text="Test of |severity| <= margin; null when not tested.")
    tendency = serializers.CharField(help_text='"severe", "lenient" or "".')
    reason = serializers.CharField(help_text="Why flagged, or why not.")


class SeverityModelSerializer(serializers.Serializer):
    method = serializers.CharField()
    margin = serializers.FloatField()
    fdr = serializers.FloatField()
    min_vignettes = serializers.IntegerField()
    mu = serializers.FloatField(allow_null=True)
    var_trainee = serializers.FloatField(allow_null=True)
    var_residual = serializers.FloatField(allow_null=True)
    n_ratings = serializers.IntegerField()
    n_trainees = serializers.IntegerField()
    n_vignettes = serializers.IntegerField()


class TraineeRowSerializer(serializers.Serializer):
    username = serializers.CharField()
    ratings = serializers.IntegerField()
    item_agreement = serializers.FloatField(allow_null=True)
    within_one = serializers.FloatField(allow_null=True)
    band_agreement = serializers.FloatField(allow_null=True)
    applicability_agreement = serializers.FloatField(allow_null=True)
    mean_signed_deviation = EstimateSerializer(source="deviation")
    severity = SeveritySerializer()
    tendency = serializers.CharField(
        help_text='"severe", "lenient" or "": severity.tendency (see severity.reason).')
    recent_agreement = serializers.FloatField(allow_null=True)
    previous_agreement = serializers.FloatField(allow_null=True)


class RoundSerializer(serializers.Serializer):
    """A calibration round: every trainee rated the same new vignettes in one period."""

    assignment = serializers.IntegerField(source="assignment_id")
    title = serializers.CharField()
    opens_at = serializers.DateTimeField()
    closes_at = serializers.DateTimeField(allow_null=True)
    vignettes = serializers.IntegerField(help_text="Vignettes in the round.")
    trainees = serializers.IntegerField(
        help_text="Trainees with at least one first rating in the round on this instrument.")
    reliability = WindowSerializer()


class ItemReliabilitySerializer(serializers.Serializer):
    item = serializers.CharField()
    krippendorff_alpha_ordinal = EstimateSerializer()
    percent_agreement = EstimateSerializer()
    specific_agreement = serializers.DictField(
        child=EstimateSerializer(),
        help_text="Per code: of the ratings of that code on vignettes rated twice or more, the "
                  "share matched by the other raters (on a 0/1 item: '1' PA, '0' NA).")


class ReliabilitySerializer(serializers.Serializer):
    cohort = serializers.IntegerField()
    instrument = serializers.CharField()
    window = serializers.CharField()
    size = serializers.IntegerField(help_text="vignettes per count window (window=units)")
    windows = WindowSerializer(many=True)
    rounds = RoundSerializer(
        many=True, help_text="Reliability among trainees per calibration round (the fully "
        "crossed design), oldest first; empty when the cohort has no round on this instrument.")
    trainees = TraineeRowSerializer(many=True)
    severity_model = SeverityModelSerializer()
    items = ItemReliabilitySerializer(
        many=True, help_text="All time, per item, on first ratings (what `irr` prints).")
    bands_applicable = serializers.BooleanField(
        help_text="False for an instrument without published bands: band_agreement is null.")
    band_consistency = BandConsistencySerializer()


def _items_payload(overall: dict) -> list[dict]:
    return [
        {"item": code,
         "krippendorff_alpha_ordinal": stats["krippendorff_alpha_ordinal"],
         "percent_agreement": stats["percent_agreement"],
         "specific_agreement": {name.removeprefix("specific_agreement_"): est
                                for name, est in stats.items()
                                if name.startswith("specific_agreement_")}}
        for code, stats in overall.items()
    ]


class StaffScopedApi(OrganizationScopedApi):
    def check_staff(self):
        if self.membership.role not in STAFF_ROLES:
            raise PermissionDenied("Only instructors and organisation admins see cohorts.")

    def cohort(self, cohort_id):
        self.check_staff()
        # A 404 here answers as NotFound() (config/api/exception_handlers.py).
        return teaching_data.cohort_get(membership=self.membership, cohort_id=cohort_id)


@extend_schema(parameters=[ORG_HEADER])
class CohortListApi(StaffScopedApi, generics.ListAPIView):
    """Your cohorts: those you teach (instructors) or all of the organisation (org admins)."""

    serializer_class = CohortSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Cohort.objects.none()
        self.check_staff()
        ids = [c.pk for c in teaching_data.instructor_cohorts(membership=self.membership)]
        return Cohort.objects.filter(pk__in=ids).prefetch_related("instructors").annotate(
            trainee_count=Count("trainees", distinct=True)).order_by("name")


@extend_schema(
    parameters=[ORG_HEADER, CohortReliabilityQuerySerializer],
    responses=ReliabilitySerializer,
)
class CohortReliabilityApi(StaffScopedApi):
    """The cohort's reliability among itself over time, and each trainee against the
    reference."""

    def get(self, request, cohort_id):
        cohort = self.cohort(cohort_id)
        query = CohortReliabilityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window, size = query.validated_data["window"], query.validated_data["size"]
        instrument = teaching_data.instruments_rated(cohort).filter(
            slug=query.validated_data["instrument"]).first()
        if instrument is None:
            raise serializers.ValidationError({"instrument": "Unknown instrument."})
        data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
        tendency = trainee_stats.cohort_tendency(data)
        payload = {
            "cohort": cohort.pk,
            "instrument": instrument.slug,
            "window": window,
            "size": size,
            "windows": cohort_reliability.reliability_over_time(
                data, window=window, size=size, tz=cohort.organization.time_zone),
            "trainees": trainee_stats.trainee_rows(data, now=timezone.now(),
                                                   tendency=tendency),
            "severity_model": tendency,
            "rounds": round_stats.round_reliability(
                data, round_stats.cohort_rounds(cohort=cohort, instrument=instrument)),
            "items": _items_payload(cohort_reliability.overall_item_reliability(data)),
            "bands_applicable": bool(data.bands),
            "band_consistency": band_stats.cohort_band_consistency(data),
        }
        return Response(ReliabilitySerializer(payload).data)


@extend_schema(
    parameters=[ORG_HEADER, OpenApiParameter("instrument", str)],
    responses={(200, "text/csv"): OpenApiTypes.STR},
)
class CohortExportApi(StaffScopedApi):
    """Long-format CSV, one row per item rating (manage.py irr and pingouin read it as is)."""

    def get(self, request, cohort_id):
        cohort = self.cohort(cohort_id)
        instrument = None
        if request.query_params.get("instrument"):
            instrument = teaching_data.instruments_rated(cohort).filter(
                slug=request.query_params["instrument"]).first()
            if instrument is None:
                raise serializers.ValidationError({"instrument": "Unknown instrument."})
        response = StreamingHttpResponse(
            csv_lines(cohort_export_rows(cohort=cohort, instrument=instrument)),
            content_type="text/csv; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="cohort-{cohort.pk}.csv"'
        response["Cache-Control"] = "no-store"
        return response
