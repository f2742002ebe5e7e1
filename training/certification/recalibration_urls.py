from django.urls import path

from training.certification import recalibration_views as recal_views

app_name = "recal"

urlpatterns = [
    path("", recal_views.mine, name="mine"),
    path("alerts/", recal_views.alerts, name="alerts"),
    path("alerts/<int:alert_id>/", recal_views.alert_detail, name="alert"),
    path("alerts/<int:alert_id>/action/", recal_views.alert_action, name="alert-action"),
]
