from django.urls import path

from training.teaching import views as teaching_views

app_name = "teach"
urlpatterns = [
    path("", teaching_views.cohorts, name="cohorts"),
    path("cohorts/<int:cohort_id>/", teaching_views.dashboard, name="dashboard"),
    path("cohorts/<int:cohort_id>/items/", teaching_views.items, name="items"),
    path("cohorts/<int:cohort_id>/vignettes/", teaching_views.vignettes, name="vignettes"),
    path("cohorts/<int:cohort_id>/trainees/<int:user_id>/", teaching_views.trainee, name="trainee"),
    path("cohorts/<int:cohort_id>/session/", teaching_views.session, name="session"),
    path("cohorts/<int:cohort_id>/export.csv", teaching_views.export_csv, name="export"),
    path("cohorts/<int:cohort_id>/statistics.csv", teaching_views.statistics_csv, name="statistics"),
    path("ratings/<int:rating_id>/comment/", teaching_views.comment, name="comment"),
]
