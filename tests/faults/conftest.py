"""Fault tests: a real gunicorn serving config.settings.production, real clients,
real faults. `make faults` runs them alone with their figures shown."""

import shutil
from types import SimpleNamespace

import pytest

from tests.faults.harness import manage, manage_json, server_env

CLIENTS = 6


def sqlite_env(path, **overrides):
    (path.parent / "static").mkdir(exist_ok=True)
    return server_env(f"sqlite:///{path}", static_root=path.parent / "static",
                          CALIBRATE_ALLOW_SQLITE="true", **overrides)


@pytest.fixture(scope="session")
def sqlite_site(tmp_path_factory):
    """A migrated SQLite database with the bundled content and CLIENTS trainees, each with a
    practice draft to autosave; each test serves its own copy (`copy_to`)."""
    template = tmp_path_factory.mktemp("fault-sqlite") / "template.sqlite3"
    env = sqlite_env(template)
    manage(env, "migrate", "--noinput")
    manage(env, "load_content")
    plan = manage_json(env, f"from tests.faults.seed import seed; seed({CLIENTS})")

    def copy_to(path):
        shutil.copyfile(template, path)
        return path

    return SimpleNamespace(plan=plan, copy_to=copy_to)
