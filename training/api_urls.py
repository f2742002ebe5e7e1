from django.urls import path

from config.api.auth import RevokeAllTokens, RevokeCurrentToken, ThrottledObtainAuthToken
from training import api, cert_api, privacy_api, teach_api

urlpatterns = [
    path("auth/token/", ThrottledObtainAuthToken.as_view(), name="auth-token"),
    path("auth/token/revoke/", RevokeCurrentToken.as_view(), name="auth-token-revoke"),
    path("auth/token/revoke-all/", RevokeAllTokens.as_view(), name="auth-token-revoke-all"),
    path("me/", api.MeApi.as_view(), name="me"),
    path("assignments/", api.AssignmentListApi.as_view(), name="assignment-list"),
    path("attempts/", api.AttemptListCreateApi.as_view(), name="attempt-list"),
    path("attempts/<int:attempt_id>/", api.AttemptDetailApi.as_view(), name="attempt-detail"),
    path("attempts/<int:attempt_id>/ratings/", api.RatingSaveApi.as_view(), name="attempt-ratings"),
    path("attempts/<int:attempt_id>/submit/", api.AttemptSubmitApi.as_view(),
         name="attempt-submit"),
    path("attempts/<int:attempt_id>/feedback/", api.AttemptFeedbackApi.as_view(),
         name="attempt-feedback"),
    path("cohorts/", teach_api.CohortListApi.as_view(), name="cohort-list"),
    path("cohorts/<int:cohort_id>/reliability/", teach_api.CohortReliabilityApi.as_view(),
         name="cohort-reliability"),
    path("cohorts/<int:cohort_id>/export.csv", teach_api.CohortExportApi.as_view(),
         name="cohort-export"),
    path("members/", privacy_api.MemberListApi.as_view(), name="member-list"),
    path("members/<int:membership_id>/export/", privacy_api.MemberExportApi.as_view(),
         name="member-export"),
    path("certificates/", cert_api.CertificateListApi.as_view(), name="certificate-list"),
    path("certificates/<int:certificate_id>/", cert_api.CertificateDetailApi.as_view(),
         name="certificate-detail"),
    path("certificates/verify/<str:code>/", cert_api.CertificateVerifyApi.as_view(),
         name="certificate-verify"),
    path("certification-decisions/", cert_api.DecisionListApi.as_view(),
         name="certification-decision-list"),
    path("certification-decisions/<int:decision_id>/", cert_api.DecisionDetailApi.as_view(),
         name="certification-decision-detail"),
]
