from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import views
from training.accounts import twofactor_views
from training.accounts import views as account_views
from training.certification import views as cert_views

handler500 = "config.views.server_error"

api_v1 = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include("vignettes.api_urls")),
    path("", include("training.api_urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("verify/", cert_views.verify_lookup, name="verify-lookup"),
    path("verify/<str:code>", cert_views.verify, name="verify"),
    # Verifiable credentials' public side: issuer profiles, key sets, status lists, contexts.
    path("", include("training.certification.credentials.urls", namespace="credentials")),
    path("favicon.ico", views.favicon),
    # Sign-in in two steps for users with two-factor sign-in on (training/accounts/twofactor_views.py).
    path("accounts/login/", twofactor_views.SignInView.as_view(), name="login"),
    path("accounts/login/code/", twofactor_views.sign_in_code, name="login-code"),
    path("accounts/two-factor/", twofactor_views.two_factor, name="two-factor"),
    path("accounts/two-factor/start/", twofactor_views.two_factor_start, name="two-factor-start"),
    path("accounts/two-factor/setup/", twofactor_views.two_factor_setup, name="two-factor-setup"),
    path("accounts/two-factor/disable/", twofactor_views.two_factor_disable,
         name="two-factor-disable"),
    path("accounts/two-factor/backup-codes/", twofactor_views.two_factor_backup_codes,
         name="two-factor-backup-codes"),
    # Before Django's auth URLs, so the rate-limited reset form answers this name and path.
    path("accounts/password_reset/", views.password_reset, name="password_reset"),
    # The account page: API tokens and "Sign out everywhere" (training/accounts/views.py).
    path("accounts/", account_views.account, name="account"),
    path("accounts/tokens/revoke/", account_views.token_revoke, name="account-token-revoke"),
    path("accounts/sign-out-everywhere/", account_views.sign_out_everywhere,
         name="sign-out-everywhere"),
    path("accounts/logout/", account_views.SignOutView.as_view(), name="logout"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("library/", include("vignettes.urls")),
    path("author/", include("vignettes.authoring.urls")),
    path("", include("training.urls")),
    path("invitations/", include("training.organisation.invitation_urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include((api_v1, "api"))),
]
