"""Appeals API: the organisation's appeals (org admins) or your own, filing one, deciding one,
and voiding an exam attempt. The same services as the pages."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response

from training.certification import appeals
from training.models import Appeal, AppealKind, AppealStatus, Role
from training.tenancy import ORG_HEADER, OrganizationScopedApi, require_role


class AppealSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    user = serializers.CharField(source="user.username", help_text="The candidate's username.")
    kind = serializers.ChoiceField(choices=AppealKind.choices)
    decision = serializers.IntegerField(source="decision_id", allow_null=True)
    certificate = serializers.IntegerField(source="certificate_id", allow_null=True)
    attempt_void = serializers.IntegerField(source="attempt_void_id", allow_null=True)
    grounds = serializers.CharField()
    filed_at = serializers.DateTimeField()
    status = serializers.ChoiceField(choices=AppealStatus.choices)
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.CharField(source="decided_by.username", allow_null=True,
                                       default=None, help_text="Who decided (username).")
    decided_by_staff = serializers.BooleanField(
        help_text="true: decided by site staff because no organisation admin was eligible.")
    outcome_reasons = serializers.CharField(allow_blank=True)
    new_decision = serializers.IntegerField(source="new_decision_id", allow_null=True,
                                            help_text="The decision an overturn made.")


class AppealListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AppealStatus.choices, required=False,
                                     help_text="open, upheld or overturned.")


class AppealFileSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=AppealKind.choices)
    object_id = serializers.IntegerField(
        help_text="The decision's id (kind decision), the certificate's (suspension, "
                  "revocation) or the void's (void).")
    grounds = serializers.CharField(max_length=appeals.MAX_TEXT)


class AppealDecideSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=[AppealStatus.UPHELD, AppealStatus.OVERTURNED])
    reasons = serializers.CharField(max_length=appeals.MAX_TEXT)


class VoidSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=appeals.MAX_TEXT)


class AttemptVoidOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    attempt = serializers.IntegerField(source="attempt_id")
    reason = serializers.CharField()
    voided_by = serializers.CharField(source="voided_by.username", allow_null=True)
    voided_at = serializers.DateTimeField()
    revoked_certificates = serializers.ListField(child=serializers.IntegerField())


_DETAIL = inline_serializer("AppealError", {"detail": serializers.CharField()})


def _bad_request(name: str, *fields: str):
    """A 400: the fields named, each with its messages (or `detail`)."""
    return inline_serializer(name, {"detail": serializers.CharField(required=False)} | {
        f: serializers.ListField(child=serializers.CharField(), required=False)
        for f in fields})


class AppealListApi(OrganizationScopedApi, generics.GenericAPIView):
    """Appeals: every one of the organisation for an org admin, your own for anyone else;
    `status` filters. POST files an appeal of your own."""

    serializer_class = AppealSerializer
    queryset = Appeal.objects.none()  # for the schema; get() scopes the rows

    @extend_schema(operation_id="appeals_list",
                   parameters=[ORG_HEADER, AppealListQuerySerializer],
                   responses={200: AppealSerializer(many=True),
                              400: _bad_request("AppealListBadRequest", "status")})
    def get(self, request):
        query = AppealListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = appeals.appeals_for(membership=self.membership,
                                   status=query.validated_data.get("status", ""))
        page = self.paginate_queryset(list(rows))
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(operation_id="appeals_file", parameters=[ORG_HEADER],
                   request=AppealFileSerializer,
                   responses={201: AppealSerializer,
                              400: _bad_request("AppealFileBadRequest", "kind", "object_id",
                                                "grounds"),
                              409: _DETAIL})
    def post(self, request):
        data = AppealFileSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = appeals.appeal_file(user=request.user, organization=self.organization,
                                     **data.validated_data)
        return Response(AppealSerializer(appeal).data, status=201)


class AppealDetailApi(OrganizationScopedApi):
    """One appeal: your own, or any of the organisation's for an org admin (else 404)."""

    @extend_schema(operation_id="appeals_retrieve", parameters=[ORG_HEADER],
                   responses={200: AppealSerializer, 404: _DETAIL})
    def get(self, request, appeal_id):
        appeal = appeals.appeal_get(membership=self.membership, appeal_id=appeal_id)
        return Response(AppealSerializer(appeal).data)


class AppealDecideApi(OrganizationScopedApi):
    """Record an appeal's outcome (org admins with no training relationship with the
    candidate; 403 with the reason otherwise)."""

    @extend_schema(operation_id="appeals_decide", parameters=[ORG_HEADER],
                   request=AppealDecideSerializer,
                   responses={200: AppealSerializer,
                              400: _bad_request("AppealDecideBadRequest", "outcome", "reasons"),
                              403: _DETAIL,
                              404: _DETAIL, 409: _DETAIL})
    def post(self, request, appeal_id):
        require_role(self.membership, Role.ORG_ADMIN)
        data = AppealDecideSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = appeals.appeal_decide(actor=request.user, organization=self.organization,
                                       appeal_id=appeal_id, **data.validated_data)
        return Response(AppealSerializer(appeal).data)


class AttemptVoidApi(OrganizationScopedApi):
    """Void a sealed exam attempt for misconduct, with a reason (org admins who do not teach
    the candidate while the impartiality setting is on; 403 with the reason otherwise)."""

    @extend_schema(operation_id="exam_attempts_void", parameters=[ORG_HEADER],
                   request=VoidSerializer,
                   responses={201: AttemptVoidOutSerializer,
                              400: _bad_request("AttemptVoidBadRequest", "reason"),
                              403: _DETAIL,
                              404: _DETAIL, 409: _DETAIL})
    def post(self, request, attempt_id):
        require_role(self.membership, Role.ORG_ADMIN)
        data = VoidSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        void = appeals.attempt_void(actor=request.user, organization=self.organization,
                                    attempt_id=attempt_id, **data.validated_data)
        return Response(AttemptVoidOutSerializer(void).data, status=201)


class AppealSettingsSerializer(serializers.Serializer):
    appeal_days = serializers.IntegerField(
        min_value=1, max_value=3650,
        help_text="Days a candidate has to appeal, from the decision, suspension, revocation "
                  "or void.")
    impartial_appeals = serializers.BooleanField(
        help_text="true: a candidate's instructors (an org admin who teaches one of their "
                  "cohorts included) may not decide their appeals or void their attempts.")


class AppealSettingsApi(OrganizationScopedApi):
    """The organisation's appeal period and impartiality setting (org admins)."""

    @extend_schema(operation_id="appeal_settings_retrieve", parameters=[ORG_HEADER],
                   responses={200: AppealSettingsSerializer, 403: _DETAIL})
    def get(self, request):
        require_role(self.membership, Role.ORG_ADMIN)
        return Response(AppealSettingsSerializer(self.organization).data)

    @extend_schema(operation_id="appeal_settings_update", parameters=[ORG_HEADER],
                   request=AppealSettingsSerializer,
                   responses={200: AppealSettingsSerializer,
                              400: _bad_request("AppealSettingsBadRequest", "appeal_days",
                                                "impartial_appeals"),
                              403: _DETAIL})
    def put(self, request):
        require_role(self.membership, Role.ORG_ADMIN)
        data = AppealSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        organization = appeals.appeal_settings_save(
            actor=request.user, organization=self.organization, **data.validated_data)
        return Response(AppealSettingsSerializer(organization).data)
