from django.urls import path

from training.certification.credentials import views

app_name = "credentials"

urlpatterns = [
    path("issuers/<slug:slug>", views.issuer, name="issuer"),
    path("issuers/<slug:slug>/jwks.json", views.jwks, name="jwks"),
    path("issuers/<slug:slug>/status/<str:purpose>", views.status_list_credential,
         name="status-list"),
    path("contexts/<path:name>", views.context, name="context"),
]
