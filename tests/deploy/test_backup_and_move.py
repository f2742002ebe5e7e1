"""docs/deploy.md's procedures, run for real where PostgreSQL answers at 127.0.0.1:5432:

* moving an SQLite installation to PostgreSQL (dumpdata -> migrate -> loaddata) keeps every
  row and every certificate verification code;
* a pg_dump / pg_restore round trip of that database keeps them too.

Each step runs `manage.py` in its own process with its own DATABASE_URL, as an operator would.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Named per process, so two runs on one server (CI legs, several checkouts) never meet.
SOURCE_DB = f"calibrate_move_test_{os.getpid()}"
RESTORED_DB = f"calibrate_restore_test_{os.getpid()}"

SNAPSHOT = r"""
import json
from django.apps import apps
from training.models import Certificate
counts = {m._meta.label: m.objects.count() for m in apps.get_models()
          if m._meta.app_label in ("training", "vignettes", "auth", "knox")}
codes = sorted(Certificate.objects.values_list("verification_code", flat=True))
print(json.dumps({"counts": counts, "codes": codes}))
"""

CERTIFY = r"""
import secrets
from django.contrib.auth import get_user_model
from django.utils import timezone
from training.models import (Attempt, Certificate, CertificationDecision, CertificationRule,
                             Organization)
from vignettes.models import Instrument
org = Organization.objects.get(slug="demo-probation-service")
version = Instrument.objects.get(slug="cport").current_version
rule, _ = CertificationRule.objects.get_or_create(organization=org, instrument=version.instrument)
for username in ("demo-trainee", "demo-trainee2"):
    user = get_user_model().objects.get(username=username)
    decision = CertificationDecision.objects.create(
        organization=org, user=user, rule=rule, attempt=Attempt.objects.filter(user=user).first(), instrument_version=version, passed=True,
        criteria=[], rule_snapshot={}, decided_at=timezone.now())
    Certificate.objects.create(
        organization=org, holder=user, instrument_version=version, decision=decision,
        issued_at=timezone.now(), expires_at=timezone.now(),
        verification_code=secrets.token_urlsafe(24))
"""


def _postgres():
    try:
        import psycopg

        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
        return True
    except Exception:
        return False


pytestmark = pytest.mark.skipif(not _postgres(), reason="PostgreSQL does not answer at "
                                "127.0.0.1:5432 (the PostgreSQL CI leg runs this)")


def _admin(sql):
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def manage(db_url, *args, stdin=None):
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(DATABASE_URL=db_url, DJANGO_SETTINGS_MODULE="config.settings.base", DEBUG="1")
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"manage.py {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def snapshot(db_url):
    return json.loads(manage(db_url, "shell", "-c", SNAPSHOT).strip().splitlines()[-1])


@pytest.fixture
def scratch_databases():
    for name in (SOURCE_DB, RESTORED_DB):
        _admin(f"DROP DATABASE IF EXISTS {name}")
        _admin(f"CREATE DATABASE {name}")
    yield
    for name in (SOURCE_DB, RESTORED_DB):
        _admin(f"DROP DATABASE IF EXISTS {name}")


def test_sqlite_to_postgresql_and_backup_round_trip(tmp_path, scratch_databases):
    sqlite_url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    pg_url = f"postgres://postgres@127.0.0.1:5432/{SOURCE_DB}"
    restored_url = f"postgres://postgres@127.0.0.1:5432/{RESTORED_DB}"

    # An SQLite installation with demo history and three certificates (the demo's own, and
    # two more).
    manage(sqlite_url, "migrate", "--noinput")
    manage(sqlite_url, "seed_demo")
    manage(sqlite_url, "shell", "-c", CERTIFY)
    before = snapshot(sqlite_url)
    assert before["counts"]["training.Rating"] > 300 and len(before["codes"]) == 3

    # The move, exactly as docs/deploy.md writes it.
    dump = tmp_path / "calibrate.json"
    manage(sqlite_url, "dumpdata", "--natural-foreign", "--natural-primary",
           "--exclude", "contenttypes", "--exclude", "auth.permission",
           "--exclude", "admin.logentry", "--exclude", "sessions", "--indent", "0",
           "--output", str(dump))
    manage(pg_url, "migrate", "--noinput")
    manage(pg_url, "loaddata", str(dump))
    moved = snapshot(pg_url)
    assert moved == before

    # Backup and restore.
    if not shutil.which("pg_dump"):
        pytest.fail("pg_dump is not installed (apt-get install postgresql-client)")
    backup = tmp_path / "calibrate.dump"
    subprocess.run(["pg_dump", "--format=custom", "--no-owner", f"--file={backup}",
                    pg_url.replace("postgres://", "postgresql://")], check=True)
    subprocess.run(["pg_restore", "--no-owner", f"--dbname={restored_url.replace('postgres://', 'postgresql://')}",
                    str(backup)], check=True)
    assert snapshot(restored_url) == before
