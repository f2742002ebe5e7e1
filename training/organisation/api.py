"""Org admin API for data protection: list members, export one member's data."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.exceptions import NotFound, PermissionDenied

from training.models import Membership, Profile, Role
from training.organisation import export as export_services
from training.organisation.views.privacy import privacy_json_response
from training.tenancy import ORG_HEADER, OrganizationScopedApi, not_found_in


class AdminScopedApi(OrganizationScopedApi):
    def check_admin(self):
        if self.membership.role != Role.ORG_ADMIN:
            raise PermissionDenied("Only organisation admins manage members.")

    def member(self, membership_id) -> Membership:
        self.check_admin()
        membership = Membership.objects.select_related("user").filter(
            pk=membership_id, organization=self.organization).first()
        if membership is None:
            raise not_found_in(Membership, organization=self.organization, pk=membership_id,
                               missing=NotFound("No such member in this organisation."))
        return membership


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    erased = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at", "erased"]

    def get_erased(self, obj) -> bool:
        return obj.user_id in self.context.get("erased", ())


@extend_schema(parameters=[ORG_HEADER])
class MemberListApi(AdminScopedApi, generics.ListAPIView):
    """The organisation's members (org admins only); `id` is the membership id used by the
    export."""

    serializer_class = MemberSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Membership.objects.none()
        self.check_admin()
        return Membership.objects.filter(organization=self.organization).select_related(
            "user").order_by("user__username")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["erased"] = set(Profile.objects.filter(
                user__memberships__organization=self.organization, erased_at__isnull=False
            ).values_list("user_id", flat=True))
        return context


@extend_schema(
    parameters=[ORG_HEADER],
    responses={
        (200, "application/json"): OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Everything this organisation holds about the member (format "
                        "`calibrate-member-export`, version 1): account, memberships, profile, "
                        "cohorts, assignments, attempts with ratings, item codes, notes and "
                        "comments, comments written, certification decisions, certificates "
                        "(with verification codes), recalibrations, drift alerts, reminders, "
                        "invitations, reference panels and audit events. Nothing from other "
                        "organisations. Sent as an attachment, never cached; the export is "
                        "recorded in the audit trail."),
        403: inline_serializer("MemberExportForbidden", {"detail": serializers.CharField()}),
        404: inline_serializer("MemberExportNotFound", {"detail": serializers.CharField()}),
    },
)
class MemberExportApi(AdminScopedApi):
    """Export one member's data (org admins only)."""

    def get(self, request, membership_id):
        membership = self.member(membership_id)
        data = export_services.member_export(actor=request.user, organization=self.organization,
                                     user=membership.user)
        return privacy_json_response(data, organization=self.organization,
                                     membership=membership)
