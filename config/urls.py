from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import views
from training import cert_views

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include("vignettes.api_urls")),
    path("", include("training.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("verify/<str:code>", cert_views.verify, name="verify"),
    path("favicon.ico", views.favicon),
    path("accounts/", include("django.contrib.auth.urls")),
    path("library/", include("vignettes.urls")),
    path("author/", include("vignettes.authoring_urls")),
    path("", include("training.urls")),
    path("invitations/", include("training.invitation_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
]
