"""Instructor API: cohorts, their reliability over time, the long-format export."""

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from training.models import Cohort
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from training.teaching import trainees as trainee_stats
from training.teaching.exports import cohort_export_rows, csv_lines
from training.teaching.serializers import CohortReliabilityQuerySerializer
from training.tenancy import ORG_HEADER, STAFF_ROLES, OrganizationScopedApi


class CohortSerializer(serializers.ModelSerializer):
    trainees = serializers.SerializerMethodField()
    instructors = serializers.SlugRelatedField(many=True, read_only=True, slug_field="username")

    class Meta:
        model = Cohort
        fields = ["id", "name", "trainees", "instructors"]

    def get_trainees(self, obj) -> int:
        return obj.trainees.count()


class EstimateSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    undefined_reason = serializers.CharField(allow_null=True)
    n_units = serializers.IntegerField()
    n_raters = serializers.IntegerField()


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    ratings = serializers.IntegerField()
    krippendorff_alpha_totals = EstimateSerializer(source="alpha_total")
    krippendorff_alpha_items = serializers.DictField(child=EstimateSerializer(),
                                                     source="alpha_items")
    icc_2_1_crossed = EstimateSerializer(source="icc_crossed")
    fleiss_kappa_crossed = EstimateSerializer(source="fleiss_crossed")
    gwet_ac1_crossed = EstimateSerializer(source="ac1_crossed")
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


class ReliabilitySerializer(serializers.Serializer):
    cohort = serializers.IntegerField()
    instrument = serializers.CharField()
    window = serializers.CharField()
    windows = WindowSerializer(many=True)
    trainees = TraineeRowSerializer(many=True)
    severity_model = SeverityModelSerializer()


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
        return Cohort.objects.filter(pk__in=ids).prefetch_related("instructors").order_by("name")


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
        data = teaching_data.cohort_data(cohort=cohort, instrument=instrument)
        tendency = trainee_stats.cohort_tendency(data)
        payload = {
            "cohort": cohort.pk,
            "instrument": instrument.slug,
            "window": window,
            "windows": cohort_reliability.reliability_over_time(
                data, window=window, size=size, tz=cohort.organization.time_zone),
            "trainees": trainee_stats.trainee_rows(data, now=timezone.now(),
                                                   tendency=tendency),
            "severity_model": tendency,
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
