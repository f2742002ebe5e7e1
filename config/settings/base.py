"""Settings for every environment, driven by environment variables.

DEBUG, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL are read from the environment.
`config.settings.test` and `config.settings.production` build on this module.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if not raw:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


DEBUG = env_bool("DEBUG", True)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    # Only for local development: a fixed key so sessions survive restarts of runserver.
    SECRET_KEY = "calibrate-insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin with its one extra rule: staff with a two-factor device must have verified it.
    "config.apps.CalibrateAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens: only a hash is stored, each expires (training.ApiToken, config/api/auth.py).
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "vignettes",
    "training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Input at the edge, before anything reads it: bodies over the limits answer 413; NUL,
    # lone surrogates and control characters in any field, and JSON nested too deep, 400.
    "config.middleware.BodySizeLimitMiddleware",
    "config.middleware.TextGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Two-factor sign-in: which device verified this session; a session that should have been
    # verified and was not is signed out before anything else sees it.
    "django_otp.middleware.OTPMiddleware",
    "training.middleware.TwoFactorSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.NoIndexMiddleware",
    "config.middleware.NoStoreMiddleware",
    "training.middleware.ContentNoticeMiddleware",
    "training.middleware.OrganizationTimeZoneMiddleware",
    # 503 + Retry-After when a view finds the database unavailable (handler500 covers the
    # middleware above; the API's exception handler covers DRF views).
    "config.middleware.DatabaseUnavailableMiddleware",
    # Last, as django-axes asks: it turns lockouts into responses.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The reverse proxies of our own in front of the application (docs/deploy.md): 0 = none, the
# socket address is the client; N = the client is the N-th X-Forwarded-For entry from the right
# (config/throttling.py: client_address). Every per-client limit keys on that one address.
# AXES_PROXY_COUNT is the older name of the same setting.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", env_int("AXES_PROXY_COUNT", 0))

# Sign-in throttling (HTML sign-in and the API token endpoint), two limits:
# - AXES_FAILURE_LIMIT failures for one username, from any addresses, lock that username;
# - CALIBRATE_SIGN_IN_ADDRESS_FAILURE_LIMIT failures from one address, across usernames, lock
#   that address (password spraying).
# Each lock lasts until AXES_COOLOFF_MINUTES have passed without a failure: never indefinitely,
# and a successful sign-in resets that username's count.
AXES_HANDLER = "config.throttling.SignInThrottleHandler"
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
CALIBRATE_SIGN_IN_ADDRESS_FAILURE_LIMIT = env_int(
    "CALIBRATE_SIGN_IN_ADDRESS_FAILURE_LIMIT", 20, minimum=1
)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.throttling.sign_in_locked_out"
AXES_CLIENT_IP_CALLABLE = "config.throttling.client_address"
# Unused while AXES_CLIENT_IP_CALLABLE is set; kept equal so the two can never disagree.
AXES_IPWARE_PROXY_COUNT = TRUSTED_PROXY_COUNT
# axes.W006 warns when no lockout parameter is the address: the address limit is
# SignInThrottleHandler's own.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

# Password reset: at most this many requests per hour for one e-mail address and from one
# client address; over either, the page answers as always and sends nothing.
CALIBRATE_PASSWORD_RESET_PER_EMAIL = env_int("CALIBRATE_PASSWORD_RESET_PER_EMAIL", 3, minimum=1)
CALIBRATE_PASSWORD_RESET_PER_ADDRESS = env_int(
    "CALIBRATE_PASSWORD_RESET_PER_ADDRESS", 10, minimum=1
)
CALIBRATE_PASSWORD_RESET_WINDOW_SECONDS = 60 * 60

# Optional two-factor sign-in (django-otp: an authenticator app, TOTP, plus one-time backup
# codes) for site staff, org admins and instructors. Wrong codes wait 1, 2, 4 ... seconds
# before the next try, never longer than CALIBRATE_OTP_MAX_WAIT_SECONDS.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Calibrate")
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
CALIBRATE_OTP_MAX_WAIT_SECONDS = int(os.environ.get("CALIBRATE_OTP_MAX_WAIT_SECONDS", 600))

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
            # `when`, `day`, `iso`, `count`, `percent`, `coef` on every page and e-mail: the one
            # way dates and numbers read (training/formatting.py).
            "builtins": ["training.templatetags.calibrate"],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# SQLite (WAL mode, so readers never block the writer) unless DATABASE_URL says otherwise.
DATABASE_URL = os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # Seconds a write waits for another writer's lock before the request answers 503.
        "timeout": float(os.environ.get("SQLITE_TIMEOUT", "20")),
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
        ),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("CONN_MAX_AGE", "60"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # A database that does not answer fails a request after this many seconds (503), instead
    # of holding a worker until gunicorn kills it. ?connect_timeout= in DATABASE_URL wins.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "5"))
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Django's database cache by default (shared by every worker, no extra service); Redis when
# REDIS_URL is set. The cache table is created after migrate (training/apps.py).
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            # Several deployments (or test runs) sharing one Redis keep apart by prefix.
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "calibrate"),
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "calibrate_cache",
        }
    }
# The cohort snapshots (training/teaching/snapshot.py): megabytes of arrays per cohort, kept
# in Redis when there is one, else in each process's memory (never in the database table).
# Their keys carry tokens from the default cache, so a snapshot is never served stale.
CACHES["snapshots"] = (
    {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
     "KEY_PREFIX": "calibrate-snapshot"}
    if REDIS_URL else
    # A 10,000-trainee cohort's snapshot is about 50 MB: a few per process.
    {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "snapshots",
     "OPTIONS": {"MAX_ENTRIES": 6}}
)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where collectstatic writes; STATIC_ROOT in the environment overrides it (the load test
# collects into its own folder so it never races another collectstatic).
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
# In development runserver serves static files itself; WhiteNoise serves them in production.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# E-mail: printed to the console by default; SMTP when EMAIL_BACKEND says so.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Calibrate <calibrate@localhost>")

# Request body limits (bytes): JSON for the API, forms and uploads for the HTML pages.
CALIBRATE_MAX_JSON_BODY = int(os.environ.get("CALIBRATE_MAX_JSON_BODY", 256 * 1024))
# Arrays and objects nested deeper than this in a JSON body answer 400 (nothing the API takes
# goes beyond four levels; deep nesting exhausts the parser's recursion).
CALIBRATE_MAX_JSON_DEPTH = int(os.environ.get("CALIBRATE_MAX_JSON_DEPTH", 64))
CALIBRATE_MAX_FORM_BODY = int(os.environ.get("CALIBRATE_MAX_FORM_BODY", 2 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = CALIBRATE_MAX_FORM_BODY

# Where the bundled content files live; load_content --path overrides it.
CALIBRATE_CONTENT_DIR = BASE_DIR / "vignettes" / "content"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "config.api.authentication.ExpiringTokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "config.api.parsers.StrictJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "config.api.pagination.DefaultPagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "config.api.exception_handlers.api_exception_handler",
}

# Verifiable credentials (training/certification/credentials/): each organisation's signing
# keys are stored encrypted with CREDENTIAL_KEY_ENCRYPTION_KEY, a Fernet key (32 url-safe
# base64 bytes: `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`).
# Several keys, comma-separated: the first encrypts, all decrypt (changing that key; see
# docs/deploy.md). Production settings require it; the default below is for development and
# the demo only and is public, so it protects nothing.
CREDENTIAL_KEY_ENCRYPTION_KEY_DEV_DEFAULT = "ZGV2ZWxvcG1lbnQtb25seS1ub3Qtc2VjcmV0LWtleSE="
CREDENTIAL_KEY_ENCRYPTION_KEY = (os.environ.get("CREDENTIAL_KEY_ENCRYPTION_KEY", "")
                                 or CREDENTIAL_KEY_ENCRYPTION_KEY_DEV_DEFAULT)
# The HTTPS origin the organisations' issuer URLs, key sets and status lists live under
# (https://calibrate.example.org → https://calibrate.example.org/issuers/<organisation>/).
# It is signed into every credential, so it must stay the same for the credentials' lifetime.
CALIBRATE_ISSUER_BASE_URL = os.environ.get("CALIBRATE_ISSUER_BASE_URL",
                                           "http://localhost:8000").rstrip("/")

# API tokens (django-rest-knox): the database keeps only a hash of each token and its expiry.
# Every request for a token issues a new one, valid for CALIBRATE_API_TOKEN_DAYS days; a
# password change, a two-factor change, deactivation and "Sign out everywhere" end them all.
CALIBRATE_API_TOKEN_DAYS = int(os.environ.get("CALIBRATE_API_TOKEN_DAYS", 30))
if not 1 <= CALIBRATE_API_TOKEN_DAYS <= 366:
    raise ImproperlyConfigured("CALIBRATE_API_TOKEN_DAYS must be a number of days from 1 to 366.")
KNOX_TOKEN_MODEL = "training.ApiToken"
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=CALIBRATE_API_TOKEN_DAYS),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Calibrate API",
    "DESCRIPTION": (
        "Train, calibrate and certify raters of structured risk-assessment instruments. "
        "Case material is fictional."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    # One name for the feedback policies wherever they appear (assignments, rules).
    "ENUM_NAME_OVERRIDES": {"FeedbackPolicyEnum": "training.models.FeedbackPolicy",
                            "AppealStatusEnum": "training.models.AppealStatus",
                            # The attempts' status keeps the name it had before appeals.
                            "StatusEnum": "training.models.AttemptStatus"},
}

# A strict Content-Security-Policy: no inline script or style, nothing from other origins.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every start and failure at INFO; failures are in its own table.
    "loggers": {"axes": {"level": "WARNING"}},
}
