"""The signed-in user's own record through the API: memberships and the active organisation."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from training.accounts import selectors as account_selectors
from training.accounts.profile import profile_switch_organization
from training.attempts.serializers import MembershipSerializer
from training.tenancy import active_membership


class OrganizationSwitchSerializer(serializers.Serializer):
    organization = serializers.CharField(max_length=100)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    memberships = MembershipSerializer(many=True)


class MeApi(APIView):
    """Who you are, your memberships and the organisation you act in."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        active = active_membership(request.user)
        rows = [
            {"organization": m.organization, "role": m.role,
             "active": active is not None and m.pk == active.pk}
            for m in account_selectors.memberships_for(request.user)
        ]
        return Response(
            {
                "username": request.user.get_username(),
                "memberships": MembershipSerializer(rows, many=True).data,
            }
        )

    @extend_schema(request=OrganizationSwitchSerializer, responses=MeSerializer)
    def post(self, request):
        data = OrganizationSwitchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile_switch_organization(
            user=request.user, organization_slug=data.validated_data["organization"]
        )
        return self.get(request)
