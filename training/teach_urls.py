from django.urls import path

from training import teach_views as views

app_name = "teach"
urlpatterns = [
    path("", views.cohorts, name="cohorts"),
    path("cohorts/<int:cohort_id>/", views.dashboard, name="dashboard"),
    path("cohorts/<int:cohort_id>/items/", views.items, name="items"),
    path("cohorts/<int:cohort_id>/vignettes/", views.vignettes, name="vignettes"),
    path("cohorts/<int:cohort_id>/trainees/<int:user_id>/", views.trainee, name="trainee"),
    path("cohorts/<int:cohort_id>/session/", views.session, name="session"),
    path("cohorts/<int:cohort_id>/export.csv", views.export_csv, name="export"),
    path("cohorts/<int:cohort_id>/statistics.csv", views.statistics_csv, name="statistics"),
    path("ratings/<int:rating_id>/comment/", views.comment, name="comment"),
]
