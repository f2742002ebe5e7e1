from django.urls import include, path

from training.accounts import pages as account_pages
from training.attempts import views as attempt_views
from training.home import views as home_views

urlpatterns = [
    path("dashboard/", home_views.dashboard, name="dashboard"),
    path("notice/", account_pages.content_notice, name="content-notice"),
    path("organisation/switch/", account_pages.organization_switch, name="organization-switch"),
    path("practice/<slug:slug>/", attempt_views.practice_start, name="practice-start"),
    path("assignments/<int:assignment_id>/briefing/", attempt_views.exam_briefing, name="exam-briefing"),
    path("assignments/<int:assignment_id>/start/", attempt_views.assignment_start, name="assignment-start"),
    path("attempts/", attempt_views.attempt_list, name="attempt-list"),
    path("attempts/<int:attempt_id>/", attempt_views.attempt_score, name="attempt-score"),
    path("attempts/<int:attempt_id>/submit/", attempt_views.attempt_submit, name="attempt-submit"),
    path("attempts/<int:attempt_id>/feedback/", attempt_views.attempt_feedback, name="attempt-feedback"),
    path("progress/", attempt_views.progress, name="progress"),
    path("manage/", include("training.organisation.urls")),
    path("teach/", include("training.teaching.urls")),
    path("certification/", include("training.certification.urls")),
    path("recalibration/", include("training.certification.recalibration_urls")),
]
