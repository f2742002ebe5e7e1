"""config.settings.production for `collectstatic` only, without WhiteNoise's compression.

The hashed names and the manifest are Django's, exactly as production writes them, so
gunicorn with config.settings.production serves them; only the .gz/.br copies are left out
(compressing every file with Brotli takes minutes on a 2-core machine, and the load test does
not fetch static files).
"""

from config.settings.production import *  # noqa: F403
from config.settings.production import STORAGES

STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}
