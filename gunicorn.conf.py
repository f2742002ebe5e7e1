"""gunicorn for Calibrate: `gunicorn -c gunicorn.conf.py config.wsgi` (see docs/deploy.md)."""

import multiprocessing
import os

# One BLAS thread per worker thread: the statistics work on small matrices, where OpenBLAS's
# own thread pool only contends with the other workers (the rule page's D-study bootstrap took
# 8.8 s with 2 BLAS threads on 2 cores and 1.7 s with 1). Set before the workers import NumPy.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = 30
keepalive = 5
max_requests = 2000  # recycle workers now and then
max_requests_jitter = 200
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
raw_env = ["DJANGO_SETTINGS_MODULE=config.settings.production"]


def post_worker_init(worker):
    """Import every view before the worker takes a request. Django loads the URLconf lazily,
    so otherwise the first requests a new worker takes (at start, after max_requests recycling,
    after a crash) wait seconds for the imports."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018
    worker.log.info("Worker ready (pid: %s)", worker.pid)
