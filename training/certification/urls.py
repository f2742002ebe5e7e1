from django.urls import path

from training.certification import appeals_views
from training.certification import views as cert_views
from training.certification.credentials import views as credential_views

app_name = "cert"

urlpatterns = [
    path("", cert_views.overview, name="overview"),
    path("certificates/<int:certificate_id>/", cert_views.certificate_detail, name="certificate"),
    path("certificates/<int:certificate_id>/display/", cert_views.certificate_display,
         name="certificate-display"),
    path("exams/<int:attempt_id>/result/", cert_views.exam_result, name="exam-result"),
    path("certificates/<int:certificate_id>/credential.jwt",
         credential_views.credential_download, name="certificate-credential"),
    path("decisions/<int:decision_id>/", cert_views.decision_detail, name="decision"),
    path("manage/", cert_views.manage, name="manage"),
    path("manage/rules/new/", cert_views.rule_create, name="rule-create"),
    path("manage/rules/<int:rule_id>/", cert_views.rule_edit, name="rule-edit"),
    path("manage/exposure/", cert_views.exam_exposure, name="exam-exposure"),
    path("manage/exams/<int:assignment_id>/accommodations/", cert_views.exam_accommodations,
         name="exam-accommodations"),
    path("manage/certificates/", cert_views.certificates, name="certificates"),
    path("manage/certificates/<int:certificate_id>/status/", cert_views.certificate_status,
         name="certificate-status"),
    path("appeals/", appeals_views.my_appeals, name="appeals"),
    path("appeals/<int:appeal_id>/", appeals_views.appeal_detail, name="appeal"),
    path("appeals/<int:appeal_id>/decide/", appeals_views.appeal_decide, name="appeal-decide"),
    path("manage/appeals/", appeals_views.manage_appeals, name="manage-appeals"),
    path("manage/exams/<int:attempt_id>/void/", appeals_views.attempt_void,
         name="attempt-void"),
    path("staff/appeals/<int:appeal_id>/", appeals_views.staff_appeal, name="staff-appeal"),
]
