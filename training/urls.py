from django.urls import include, path

from training import views

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("notice/", views.content_notice, name="content-notice"),
    path("organisation/switch/", views.organization_switch, name="organization-switch"),
    path("practice/<slug:slug>/", views.practice_start, name="practice-start"),
    path("assignments/<int:assignment_id>/start/", views.assignment_start, name="assignment-start"),
    path("attempts/", views.attempt_list, name="attempt-list"),
    path("attempts/<int:attempt_id>/", views.attempt_score, name="attempt-score"),
    path("attempts/<int:attempt_id>/submit/", views.attempt_submit, name="attempt-submit"),
    path("attempts/<int:attempt_id>/feedback/", views.attempt_feedback, name="attempt-feedback"),
    path("progress/", views.progress, name="progress"),
    path("manage/", include("training.manage_urls")),
    path("teach/", include("training.teach_urls")),
    path("certification/", include("training.cert_urls")),
    path("recalibration/", include("training.recal_urls")),
]
