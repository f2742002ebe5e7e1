"""Production settings pass Django's deployment checks; error pages carry no tracebacks;
responses that may hold ratings, exams or reference data are never cached."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_check_deploy_passes_with_production_settings():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        SECRET_KEY=secrets.token_urlsafe(50),
        CREDENTIAL_KEY_ENCRYPTION_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        ALLOWED_HOSTS="calibrate.example.org",
        DATABASE_URL="postgres://calibrate@db.example.org:5432/calibrate",
        DEBUG="false",
    )
    proc = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no issues" in proc.stdout


def test_production_refuses_a_missing_credential_key():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.production",
               SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="x.example.org",
               DATABASE_URL="postgres://u@h/d")
    env.pop("CREDENTIAL_KEY_ENCRYPTION_KEY", None)
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "CREDENTIAL_KEY_ENCRYPTION_KEY" in proc.stderr


def test_production_refuses_debug_and_missing_secret():
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="config.settings.production",
               ALLOWED_HOSTS="x.example.org", DATABASE_URL="postgres://u@h/d")
    env.pop("SECRET_KEY", None)
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "SECRET_KEY must be set" in proc.stderr


@pytest.mark.django_db
def test_error_pages_have_no_traceback(client, settings):
    settings.DEBUG = False
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Not found" in html and "Traceback" not in html and "urlpatterns" not in html


@pytest.mark.django_db
def test_signed_in_and_api_responses_are_not_stored(client, content):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="cache-user"))
    for url in ("/library/", "/api/v1/vignettes/", "/dashboard/"):
        response = client.get(url)
        assert "no-store" in response.headers.get("Cache-Control", ""), url
    client.logout()
    assert "no-store" not in client.get("/").headers.get("Cache-Control", "")
