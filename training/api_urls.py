from django.urls import path

from config.api.auth import RevokeAllTokens, RevokeCurrentToken, ThrottledObtainAuthToken
from training.accounts import api as accounts_api
from training.attempts import api as attempts_api
from training.certification import api as cert_api
from training.certification import appeals_api, exam_api, rules_api
from training.organisation import api as organisation_api
from training.teaching import api as teaching_api

urlpatterns = [
    path("auth/token/", ThrottledObtainAuthToken.as_view(), name="auth-token"),
    path("auth/token/revoke/", RevokeCurrentToken.as_view(), name="auth-token-revoke"),
    path("auth/token/revoke-all/", RevokeAllTokens.as_view(), name="auth-token-revoke-all"),
    path("me/", accounts_api.MeApi.as_view(), name="me"),
    path("assignments/", attempts_api.AssignmentListApi.as_view(), name="assignment-list"),
    path("attempts/", attempts_api.AttemptListCreateApi.as_view(), name="attempt-list"),
    path("attempts/<int:attempt_id>/", attempts_api.AttemptDetailApi.as_view(), name="attempt-detail"),
    path("attempts/<int:attempt_id>/ratings/", attempts_api.RatingSaveApi.as_view(), name="attempt-ratings"),
    path("attempts/<int:attempt_id>/submit/", attempts_api.AttemptSubmitApi.as_view(),
         name="attempt-submit"),
    path("attempts/<int:attempt_id>/feedback/", attempts_api.AttemptFeedbackApi.as_view(),
         name="attempt-feedback"),
    path("cohorts/", teaching_api.CohortListApi.as_view(), name="cohort-list"),
    path("cohorts/<int:cohort_id>/reliability/", teaching_api.CohortReliabilityApi.as_view(),
         name="cohort-reliability"),
    path("cohorts/<int:cohort_id>/export.csv", teaching_api.CohortExportApi.as_view(),
         name="cohort-export"),
    path("members/", organisation_api.MemberListApi.as_view(), name="member-list"),
    path("members/<int:membership_id>/export/", organisation_api.MemberExportApi.as_view(),
         name="member-export"),
    path("certificates/", cert_api.CertificateListApi.as_view(), name="certificate-list"),
    path("certificates/<int:certificate_id>/", cert_api.CertificateDetailApi.as_view(),
         name="certificate-detail"),
    path("certificates/<int:certificate_id>/display/", cert_api.CertificateDisplayApi.as_view(),
         name="certificate-display"),
    path("certificates/<int:certificate_id>/credential/",
         cert_api.CertificateCredentialApi.as_view(), name="certificate-credential"),
    path("certificates/verify/<str:code>/", cert_api.CertificateVerifyApi.as_view(),
         name="certificate-verify"),
    path("certification-rules/", rules_api.RuleListApi.as_view(), name="certification-rule-list"),
    path("certification-rules/<int:rule_id>/", rules_api.RuleDetailApi.as_view(),
         name="certification-rule-detail"),
    path("exam-exposure/", exam_api.ExamExposureApi.as_view(), name="exam-exposure"),
    path("assignments/<int:assignment_id>/accommodations/", exam_api.AccommodationApi.as_view(),
         name="exam-accommodations"),
    path("certification-decisions/", cert_api.DecisionListApi.as_view(),
         name="certification-decision-list"),
    path("certification-decisions/<int:decision_id>/", cert_api.DecisionDetailApi.as_view(),
         name="certification-decision-detail"),
    path("appeals/", appeals_api.AppealListApi.as_view(), name="appeal-list"),
    path("appeals/settings/", appeals_api.AppealSettingsApi.as_view(), name="appeal-settings"),
    path("appeals/<int:appeal_id>/", appeals_api.AppealDetailApi.as_view(), name="appeal-detail"),
    path("appeals/<int:appeal_id>/decide/", appeals_api.AppealDecideApi.as_view(),
         name="appeal-decide"),
    path("attempts/<int:attempt_id>/void/", appeals_api.AttemptVoidApi.as_view(),
         name="attempt-void"),
]
