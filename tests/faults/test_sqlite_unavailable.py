"""SQLite that cannot take a write: 503 with Retry-After, never a 500, never a silent loss.

* Locked: another process holds the write lock (BEGIN EXCLUSIVE) for longer than the app waits
  for it (SQLITE_TIMEOUT, 2 s here, 20 s by default). Saves answer 503 once the wait is over;
  reads go on (WAL mode); after the lock is released saves succeed again, and every draft
  holds its last confirmed save.
* Read-only: the database file and its folder are read-only to the server (a wrong owner, a
  read-only mount). Everything answers 503 (in WAL mode SQLite cannot even read without
  writing its index); nothing changes in the file. Root ignores file permissions, so as root
  the server runs without the two capabilities that let it (setpriv): then the file is
  read-only to it exactly as to a deployment's app user.
"""

import hashlib
import sqlite3
import stat
import threading
import time

import pytest

from tests.faults.conftest import sqlite_env
from tests.faults.harness import (
    Autosaver,
    Prober,
    check_no_loss,
    counts,
    gunicorn,
    manage_json,
    read_only_prefix,
    report,
    request,
)

pytestmark = pytest.mark.fault

SQLITE_TIMEOUT = 2.0
LOCK_SECONDS = 8.0


def drafts(env, plan):
    return manage_json(env, "from tests.faults.seed import drafts; drafts(%r)"
                       % [d["attempt"] for d in plan])


def test_locked_sqlite_answers_503_then_recovers(sqlite_site, tmp_path):
    db = sqlite_site.copy_to(tmp_path / "site.sqlite3")
    env = sqlite_env(db, SQLITE_TIMEOUT=str(SQLITE_TIMEOUT))
    writers, reader = sqlite_site.plan[:3], sqlite_site.plan[3]
    stop = threading.Event()
    with gunicorn(env, log_path=tmp_path / "gunicorn.log", workers=2, threads=4) as server:
        clients = [Autosaver(server.base_url, d, stop) for d in writers]
        reads = Prober(f"{server.base_url}/api/v1/attempts/{reader['attempt']}/", stop,
                       headers={"Authorization": f"Token {reader['token']}"})
        for thread in (*clients, reads):
            thread.start()
        time.sleep(3)
        locker = sqlite3.connect(db, timeout=10, isolation_level=None)
        locker.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        time.sleep(LOCK_SECONDS)
        locker.execute("ROLLBACK")
        locker.close()
        released_at = time.monotonic()
        time.sleep(4)
        stop.set()
        for thread in (*clients, reads):
            thread.join(30)
        logged = server.logged_unavailable()
    check = check_no_loss(clients, drafts(env, writers))
    events = [e for c in clients for e in c.events]
    # Saves that started once the lock was held and ended before it was released.
    during = [e for e in events if e.t - e.elapsed > locked_at + 0.1 and e.t < released_at]
    after = counts(events, start=released_at)
    recovered = [min((e.t - e.elapsed - released_at for e in c.events
                      if e.kind == "saved" and e.t - e.elapsed >= released_at), default=None)
                 for c in clients]
    reads_during = [r for r in reads.results if locked_at < r["t"] and r["t"] + r["elapsed"]
                    < released_at]
    report("sqlite-locked", {
        "sqlite_timeout_s": SQLITE_TIMEOUT,
        "lock_held_s": round(released_at - locked_at, 1),
        "requests_before": counts(events, end=locked_at),
        "saves_during_lock": dict(counts(during)),
        "503_wait_s_min_max": [round(min((e.elapsed for e in during), default=0), 2),
                               round(max((e.elapsed for e in during), default=0), 2)],
        "reads_during_lock": [r["status"] for r in reads_during],
        "requests_after": after,
        "first_save_after_release_s": [round(r, 2) if r is not None else None
                                       for r in recovered],
        "503s_logged_by_the_app": logged,
        **{k: v for k, v in check.items() if k not in ("lost", "unexpected", "stored_503s")},
        "no_loss_check": "PASS" if not check["lost"] and not check["unexpected"] else "FAIL",
    })

    assert not [e for e in events if e.kind in ("error", "unknown")], events
    assert during and all(e.kind == "503" for e in during), [(e.kind, e.status) for e in during]
    # The app waited for the lock as configured, then gave up (no hang, no instant failure).
    assert all(SQLITE_TIMEOUT - 0.2 < e.elapsed < SQLITE_TIMEOUT + 5 for e in during)
    assert not [c.bad_503 for c in clients if c.bad_503]
    assert logged >= len(during)
    assert reads_during and all(r["status"] == 200 for r in reads_during), reads_during
    assert all(r is not None and r < 5 for r in recovered), recovered
    assert check["lost"] == [] and check["unexpected"] == [], check
    assert check["stored_although_503"] == 0
    assert check["drafts_equal_to_last_confirmed_save"] == len(clients)


def test_read_only_sqlite_answers_503_and_changes_nothing(sqlite_site, tmp_path):
    prefix = read_only_prefix()
    if prefix is None:
        pytest.skip("running as root and setpriv cannot drop CAP_DAC_OVERRIDE here, so no "
                    "file can be made read-only to the server")
    plan = sqlite_site.plan[:2]
    folder = tmp_path / "read-only"
    folder.mkdir()
    try:
        db = sqlite_site.copy_to(folder / "site.sqlite3")
        env = sqlite_env(db)
        before = hashlib.sha256(db.read_bytes()).hexdigest()
        db.chmod(0o444)
        folder.chmod(0o555)
        stop = threading.Event()
        with gunicorn(env, log_path=tmp_path / "gunicorn-ro.log", workers=1, healthy=False,
                      prefix=prefix) as server:
            clients = [Autosaver(server.base_url, d, stop, pause_after_failure=0.1)
                       for d in plan]
            for client in clients:
                client.start()
            time.sleep(3)
            stop.set()
            for client in clients:
                client.join(30)
            health = request("GET", f"{server.base_url}/healthz")
            page = request("GET", f"{server.base_url}/organisation/switch/",
                           headers={"Cookie": f"sessionid={plan[0]['session']}",
                                    "Accept": "text/html"})
            logged = server.logged_unavailable()
        after = hashlib.sha256(db.read_bytes()).hexdigest()
        leftovers = sorted(p.name for p in folder.iterdir())
    finally:
        folder.chmod(stat.S_IRWXU)
        (folder / "site.sqlite3").chmod(0o644)
    events = [e for c in clients for e in c.events]

    # Writable again: the same drafts save normally, from the revision the database holds.
    stop = threading.Event()
    with gunicorn(env, log_path=tmp_path / "gunicorn-rw.log", workers=1) as server:
        clients_after = [Autosaver(server.base_url, d, stop) for d in plan]
        for client in clients_after:
            client.start()
        time.sleep(1.5)
        stop.set()
        for client in clients_after:
            client.join(30)
    check = check_no_loss(clients_after, drafts(env, plan))
    report("sqlite-read-only", {
        "server_runs_as": "root without CAP_DAC_OVERRIDE" if prefix else "the test user",
        "saves_while_read_only": counts(events),
        "healthz_while_read_only": health[0],
        "signed_in_page_while_read_only": [page[0], page[1].get("content-type")],
        "database_file_unchanged": before == after,
        "503s_logged_by_the_app": logged,
        "saves_once_writable": counts([e for c in clients_after for e in c.events]),
        **{k: v for k, v in check.items() if k not in ("lost", "unexpected", "stored_503s")},
        "no_loss_check": "PASS" if not check["lost"] and not check["unexpected"] else "FAIL",
    })

    assert events and all(e.kind == "503" for e in events), [(e.kind, e.status) for e in events]
    assert not [c.bad_503 for c in clients if c.bad_503]
    assert health[0] == 503
    assert page[0] == 503 and page[1]["content-type"].startswith("text/html")
    assert b"Temporarily unavailable" in page[2] and b"Traceback" not in page[2]
    assert page[1]["retry-after"].isdigit()
    assert logged >= len(events)
    assert before == after and leftovers == ["site.sqlite3", "static"]
    assert all(c.confirmed is not None for c in clients_after)
    assert check["lost"] == [] and check["unexpected"] == [], check
    assert check["drafts_equal_to_last_confirmed_save"] == len(plan)
