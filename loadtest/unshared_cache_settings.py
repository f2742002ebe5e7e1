"""`config.settings.production` with a cache of each process's own (LocMemCache), the mistake
of a deployment whose servers do not share the cache. Only for
`python -m loadtest --servers 2 --cache-per-process`, which shows that the checks across the
servers catch it (the verification rate limit is then not reached at the same request)."""

from config.settings.production import *  # noqa: F403

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
