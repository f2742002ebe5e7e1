"""Run Calibrate as in production against a scratch PostgreSQL database.

Reusable by the load test (`python -m loadtest`) and by fault tests:

    with fresh_database("calibrate_load") as database_url:
        env = production_env(database_url, static_root=tmp / "static")
        prepare(env)                                   # migrate, load_content, collectstatic
        with running_gunicorn(env, port=free_port(), workers=3) as running:  # .url, .pid
            ...

Nothing here touches a database whose name does not start with one of OWNED_PREFIXES, and
nothing stops a process this module did not start.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"
# Databases these helpers may create and drop. Anything else is refused.
OWNED_PREFIXES = ("calibrate_load", "calibrate_fault")
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class HarnessError(RuntimeError):
    pass


def _check_owned(name: str) -> None:
    if not _NAME.match(name) or not name.startswith(OWNED_PREFIXES):
        raise HarnessError(
            f"Refusing to create or drop database {name!r}: the harness only manages databases "
            f"named {' / '.join(p + '*' for p in OWNED_PREFIXES)} (lower case, digits, _)."
        )


def backend_pids(name: str, *, server_url: str = DEFAULT_SERVER_URL) -> list[int]:
    """The PostgreSQL server processes serving database `name` now."""
    with _admin_connect(server_url) as conn:
        return [pid for (pid,) in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))]


def _admin_connect(server_url: str):
    import psycopg

    return psycopg.connect(f"{server_url.rstrip('/')}/postgres", autocommit=True,
                           connect_timeout=10)


def drop_database(name: str, *, server_url: str = DEFAULT_SERVER_URL) -> None:
    _check_owned(name)
    with _admin_connect(server_url) as conn:
        # WITH (FORCE) ends sessions left over from an earlier run that was killed.
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def fresh_database(
    name: str = "calibrate_load", *, server_url: str = DEFAULT_SERVER_URL, keep: bool = False
) -> Iterator[str]:
    """Drop `name` if it exists, create it empty, yield its DATABASE_URL; drop it afterwards
    unless `keep`."""
    _check_owned(name)
    drop_database(name, server_url=server_url)
    with _admin_connect(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url.rstrip('/')}/{name}"
    finally:
        if not keep:
            drop_database(name, server_url=server_url)


def production_env(database_url: str, *, static_root: Path, **overrides: str) -> dict[str, str]:
    """The environment for `config.settings.production` serving plain HTTP on 127.0.0.1.

    SECURE_SSL_REDIRECT=false is the only departure from a real deployment (there is no TLS
    proxy in front); the secure-cookie and HSTS settings stay as they are, which is harmless
    for clients that send their credentials explicitly.
    """
    env = {
        k: v for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "DEBUG", "REDIS_URL", "DATABASE_URL"}
    }
    env.update({
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "CREDENTIAL_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_ROOT": str(static_root),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    })
    env.update(overrides)
    return env


def manage(env: dict[str, str], *args: str, log=None) -> None:
    """Run `manage.py <args>` with `env`; raise with its output if it fails."""
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False,
    )
    if log is not None:
        log.write(f"$ manage.py {' '.join(args)}  ({time.monotonic() - began:.1f} s)\n"
                  f"{result.stdout}\n")
        log.flush()
    if result.returncode != 0:
        raise HarnessError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-4000:]}")


def prepare(env: dict[str, str], *, log=None, compress_static: bool = False) -> None:
    """A deployable database and static files: migrate, load the bundled content,
    collectstatic (hashed names and manifest, as WhiteNoise serves them with DEBUG off).

    Without `compress_static` the .gz/.br copies are not written (loadtest/collect_settings.py):
    with Brotli installed (locust brings it) compressing takes minutes on 2 cores."""
    manage(env, "migrate", "--noinput", log=log)
    manage(env, "load_content", log=log)
    collect_env = env if compress_static else dict(
        env, DJANGO_SETTINGS_MODULE="loadtest.collect_settings")
    manage(collect_env, "collectstatic", "--noinput", "--clear", log=log)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(base_url: str, *, timeout: float = 60.0, process=None) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise HarnessError(f"gunicorn exited with code {process.returncode} while starting")
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=5) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    raise HarnessError(f"{base_url}/healthz did not answer 200 within {timeout:.0f} s ({last})")


@dataclass
class RunningServer:
    url: str
    pid: int  # the gunicorn master (its workers are its children)


@contextlib.contextmanager
def running_gunicorn(
    env: dict[str, str],
    *,
    port: int | None = None,
    workers: int | None = None,
    threads: int | None = None,
    log_path: Path | None = None,
    extra_args: tuple[str, ...] = ("--no-control-socket",),
) -> Iterator[RunningServer]:
    """Start gunicorn with the repository's gunicorn.conf.py, wait for /healthz, yield its
    base URL and pid; stop it (SIGTERM to the master it started, then SIGKILL after 30 s).

    `--no-control-socket` by default: gunicorn's control socket has one path per user, which
    two servers started side by side (a load test beside a fault test) would fight over."""
    port = port or free_port()
    run_env = dict(env, GUNICORN_BIND=f"127.0.0.1:{port}")
    if workers:
        run_env["GUNICORN_WORKERS"] = str(workers)
    if threads:
        run_env["GUNICORN_THREADS"] = str(threads)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(
        [str(gunicorn), "-c", str(ROOT / "gunicorn.conf.py"), *extra_args, "config.wsgi"],
        cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, process=process)
        yield RunningServer(url=base_url, pid=process.pid)
    finally:
        stop_gunicorn(process)
        if log_path:
            out.close()


def stop_gunicorn(process: subprocess.Popen, *, grace: float = 30.0) -> None:
    """SIGTERM (gunicorn finishes the requests in flight), SIGKILL after `grace` seconds."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def warm_up(base_url: str, requests: list[tuple[str, dict[str, str]]], *,
            concurrency: int = 10, rounds: int = 3) -> float:
    """GET each (path, headers) `rounds` times with `concurrency` at once, so that every
    worker has imported its views, compiled its templates and opened its database connection
    before anything is measured. Returns the seconds it took; raises if a page fails."""
    from concurrent.futures import ThreadPoolExecutor

    def get(job):
        path, headers = job
        request = urllib.request.Request(f"{base_url}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                return path, response.status
        except urllib.error.HTTPError as exc:
            return path, exc.code

    began = time.monotonic()
    jobs = [job for job in requests for _ in range(concurrency)] * rounds
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        failed = [(p, s) for p, s in pool.map(get, jobs) if s != 200]
    if failed:
        raise HarnessError(f"warm-up requests failed: {sorted(set(failed))[:10]}")
    return time.monotonic() - began
