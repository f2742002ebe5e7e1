"""Exam administration API (org admins): the exposure of each exam case, and extra time
granted to a candidate before an exam."""

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from training.attempts import exams
from training.certification import exposure
from training.models import Assignment, Mode, Role
from training.tenancy import ORG_HEADER, OrganizationScopedApi, not_found_in


class _OrgAdminApi(OrganizationScopedApi):
    def check_admin(self):
        if self.membership.role != Role.ORG_ADMIN:
            raise PermissionDenied("Only organisation admins see exam administration.")


class CaseExposureSerializer(serializers.Serializer):
    vignette = serializers.CharField(source="vignette.slug")
    title = serializers.CharField(source="vignette.current_revision.title",
                                  help_text="The case's title, as people know it.")
    pools = serializers.ListField(child=serializers.CharField())
    candidates = serializers.IntegerField(
        help_text="n: distinct candidates who sat an exam of this organisation on its pool.")
    drawn = serializers.IntegerField(help_text="Distinct candidates drawn this case.")
    released = serializers.IntegerField(
        help_text="Distinct candidates whose feedback shows its reference now.")
    exposure_rate = serializers.FloatField(source="rate", allow_null=True,
                                           help_text="drawn / candidates; null when n = 0.")
    expected_rate = serializers.FloatField(allow_null=True,
                                           help_text="draw size / pool size: by design.")
    retire_suggested = serializers.BooleanField(source="retire")
    reason = serializers.CharField()


@extend_schema(parameters=[ORG_HEADER])
class ExamExposureApi(_OrgAdminApi):
    @extend_schema(responses=CaseExposureSerializer(many=True))
    def get(self, request):
        self.check_admin()
        rows = exposure.exam_case_exposure(organization=self.organization)
        return Response({
            "thresholds": {"exposure_rate_above": exposure.EXPOSURE_RATE_LIMIT,
                           "min_candidates": exposure.MIN_CANDIDATES,
                           "released_at_least": exposure.RELEASE_LIMIT},
            "cases": CaseExposureSerializer(rows, many=True).data,
        })


class AccommodationInputSerializer(serializers.Serializer):
    user = serializers.CharField(help_text="The candidate's username.")
    extra_minutes = serializers.IntegerField()
    reason = serializers.CharField(allow_blank=True)


@extend_schema(parameters=[ORG_HEADER])
class AccommodationApi(_OrgAdminApi):
    """Grant a candidate extra time on an exam before they start it (400 once started)."""

    @extend_schema(request=AccommodationInputSerializer, responses={201: None})
    def post(self, request, assignment_id):
        self.check_admin()
        assignment = Assignment.objects.filter(pk=assignment_id, organization=self.organization,
                                               mode=Mode.EXAM).first()
        if assignment is None:
            raise not_found_in(Assignment, organization=self.organization, pk=assignment_id)
        data = AccommodationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        user = get_user_model().objects.filter(
            username=values["user"], memberships__organization=self.organization).first()
        if user is None:
            raise serializers.ValidationError({"user": "No such member of this organisation."})
        granted = exams.accommodation_grant(
            actor=request.user, organization=self.organization, assignment=assignment,
            user=user, extra_minutes=values["extra_minutes"], reason=values["reason"])
        return Response({"assignment": assignment.pk, "user": user.get_username(),
                         "extra_minutes": granted.extra_minutes, "reason": granted.reason,
                         "granted_at": granted.granted_at.isoformat()},
                        status=status.HTTP_201_CREATED)
