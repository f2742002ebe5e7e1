"""Production: PostgreSQL behind gunicorn and a TLS-terminating reverse proxy.

Everything comes from the environment (see docs/deploy.md). `python manage.py check --deploy
--fail-level WARNING` passes with this module and the documented variables set.
"""

import os

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DEBUG", "false")

from .base import *  # noqa: E402, F403
from .base import DATABASES, LOGGING, env_bool, env_list  # noqa: E402

if DEBUG:  # noqa: F405
    raise ImproperlyConfigured("config.settings.production runs with DEBUG off.")
if not ALLOWED_HOSTS:  # noqa: F405
    raise ImproperlyConfigured("Set ALLOWED_HOSTS (comma-separated host names).")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" and not env_bool(
    "CALIBRATE_ALLOW_SQLITE", False
):
    raise ImproperlyConfigured(
        "Production uses PostgreSQL: set DATABASE_URL (or CALIBRATE_ALLOW_SQLITE=true for a "
        "single-machine trial)."
    )

# Verifiable credentials: the key that encrypts the organisations' signing keys, and the
# HTTPS origin signed into every credential (defaults to https:// + the first allowed host).
if not os.environ.get("CREDENTIAL_KEY_ENCRYPTION_KEY"):
    raise ImproperlyConfigured(
        "Set CREDENTIAL_KEY_ENCRYPTION_KEY (a Fernet key; see docs/deploy.md): it encrypts the "
        "organisations' credential signing keys."
    )
CALIBRATE_ISSUER_BASE_URL = os.environ.get(
    "CALIBRATE_ISSUER_BASE_URL", f"https://{ALLOWED_HOSTS[0]}").rstrip("/")  # noqa: F405
if not CALIBRATE_ISSUER_BASE_URL.startswith("https://"):
    raise ImproperlyConfigured("CALIBRATE_ISSUER_BASE_URL must start with https://.")

# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = False  # the scoring page's autosave reads the token from the form
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 60 * 60 * 24 * 365))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# The preload directive only matters if the operator submits the domain to the browsers' list;
# set SECURE_HSTS_PRELOAD=false to leave it out.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [f"https://{h}" for h in ALLOWED_HOSTS])  # noqa: F405

# Persistent connections with health checks (PostgreSQL).
DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Structured logging: one JSON object per line on stderr, for the service manager to collect.
LOGGING = {
    **LOGGING,
    "formatters": {
        "json": {
            "()": "config.logging.JsonFormatter",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
