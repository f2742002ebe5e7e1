"""The connection to PostgreSQL cut for 30 s while trainees autosave.

gunicorn (config.settings.production, 2 workers) reaches PostgreSQL only through a TCP proxy
this test controls (tests/faults/proxy.py); the shared PostgreSQL server is never stopped. The
test uses a database of its own, created and dropped here.

The cut: every open database connection is reset; for 15 s new connections are accepted and
never answered (the database host vanished: only the connect timeout, DATABASE_CONNECT_TIMEOUT
= 5 s, ends each wait), then for 15 s they are refused (the database is down). Then the proxy
forwards again.

Expected: during the cut every save and every signed-in page answers 503 with Retry-After
(JSON for the API, the HTML page for the browser), none 500, none hangs; after it, saves
succeed again within seconds on the same gunicorn master and workers (nothing restarted);
every draft in the database holds exactly its last confirmed save.
"""

import os
import threading
import time

import pytest

from loadtest.server import fresh_database
from tests.faults.harness import (
    Autosaver,
    Prober,
    check_no_loss,
    counts,
    gunicorn,
    manage,
    manage_json,
    report,
    server_env,
)
from tests.faults.proxy import HANG, RESET, TcpProxy

pytestmark = pytest.mark.fault

PG_HOST, PG_PORT = "127.0.0.1", 5432
SERVER_URL = f"postgres://postgres@{PG_HOST}:{PG_PORT}"
CLIENTS = 4
BEFORE_S, HANG_S, RESET_S = 5, 15, 15
CONNECT_TIMEOUT_S = 5  # the default DATABASE_CONNECT_TIMEOUT (config/settings/base.py)
RECOVERY_LIMIT_S = 10
CLIENT_TIMEOUT_S = 20


def _postgres_answers() -> bool:
    try:
        import psycopg

        psycopg.connect(f"{SERVER_URL}/postgres", connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _postgres_answers(),
                    reason=f"PostgreSQL does not answer at {PG_HOST}:{PG_PORT}")
def test_postgres_connection_cut_for_30_seconds(tmp_path):
    name = f"calibrate_fault_{os.getpid()}"
    static = tmp_path / "static"
    static.mkdir()
    with fresh_database(name, server_url=SERVER_URL) as direct_url, \
            TcpProxy((PG_HOST, PG_PORT)) as proxy:
        direct = server_env(direct_url, static_root=static)
        manage(direct, "migrate", "--noinput")
        manage(direct, "load_content")
        plan = manage_json(direct, f"from tests.faults.seed import seed; seed({CLIENTS + 1})")
        drafts, browser = plan[:CLIENTS], plan[CLIENTS]
        proxied = server_env(f"postgres://postgres@{PG_HOST}:{proxy.port}/{name}",
                                 static_root=static)
        stop = threading.Event()
        with gunicorn(proxied, log_path=tmp_path / "gunicorn.log", workers=2,
                      threads=4) as server:
            workers = server.worker_pids()
            clients = [Autosaver(server.base_url, d, stop, timeout=CLIENT_TIMEOUT_S)
                       for d in drafts]
            # A signed-in browser: its session and user are read by middleware before any
            # view. (A POST-only page: 405 when the database answers.)
            page = Prober(f"{server.base_url}/organisation/switch/", stop,
                          headers={"Cookie": f"sessionid={browser['session']}",
                                   "Accept": "text/html"}, timeout=CLIENT_TIMEOUT_S)
            health = Prober(f"{server.base_url}/healthz", stop, interval=0.25,
                            timeout=CLIENT_TIMEOUT_S)
            threads = [*clients, page, health]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(BEFORE_S)
            cut_at = time.monotonic()
            cut_connections = proxy.cut(HANG)
            time.sleep(HANG_S)
            proxy.cut(RESET)
            time.sleep(RESET_S)
            proxy.restore()
            restored_at = time.monotonic()
            deadline = restored_at + RECOVERY_LIMIT_S + CLIENT_TIMEOUT_S
            while time.monotonic() < deadline and not all(
                any(e.kind == "saved" and e.t - e.elapsed >= restored_at for e in c.events)
                for c in clients
            ):
                time.sleep(0.2)
            time.sleep(3)
            stop.set()
            for thread in threads:
                thread.join(CLIENT_TIMEOUT_S + 5)
            same_processes = server.alive() and server.worker_pids() == workers
            logged = server.logged_unavailable()
            log = server.log()
        stored = manage_json(direct, "from tests.faults.seed import drafts; drafts(%r)"
                             % [d["attempt"] for d in drafts])
        proxy_stats = dict(proxy.stats)

    events = [e for c in clients for e in c.events]
    check = check_no_loss(clients, stored)
    # Requests that started after the cut (plus a moment for one already past the database)
    # and ended before the restore.
    during = [e for e in events if e.t - e.elapsed > cut_at + 0.5 and e.t < restored_at]
    recovery = [min((e.t - restored_at for e in c.events
                     if e.kind == "saved" and e.t - e.elapsed >= restored_at), default=None)
                for c in clients]
    health_back = min((r["t"] + r["elapsed"] - restored_at for r in health.results
                       if r["t"] >= restored_at and r["status"] == 200), default=None)
    pages_during = [r for r in page.results
                    if r["t"] > cut_at + 0.5 and r["t"] + r["elapsed"] < restored_at]
    pages_other = [r for r in page.results if r not in pages_during]
    report("postgres-cut", {
        "cut_s": round(restored_at - cut_at, 1),
        "phases_s": {"before": BEFORE_S, "hang": HANG_S, "refused": RESET_S},
        "clients": len(clients),
        "open_db_connections_cut": cut_connections,
        "requests_before_cut": counts(events, end=cut_at),
        "requests_during_cut": counts(events, start=cut_at, end=restored_at),
        "requests_after_restore": counts(events, start=restored_at),
        "503_during_cut": sum(e.kind == "503" for e in during),
        "500s": sum(e.kind == "error" for e in events),
        "slowest_request_s": round(max(e.elapsed for e in events), 2),
        "signed_in_page_during_cut": sorted({(r["status"], r.get("type", "").split(";")[0])
                                             for r in pages_during}),
        "recovery_first_save_per_client_s": [None if r is None else round(r, 2)
                                             for r in recovery],
        "time_to_recovery_s": None if None in recovery else round(max(recovery), 2),
        "healthz_200_again_after_s": None if health_back is None else round(health_back, 2),
        "gunicorn_master_pid": server.master_pid,
        "same_gunicorn_master_and_workers": same_processes,
        "503s_logged_by_the_app": logged,
        "proxy": proxy_stats,
        **{k: v for k, v in check.items() if k not in ("lost", "unexpected", "stored_503s")},
        "no_loss_check": "PASS" if not check["lost"] and not check["unexpected"] else "FAIL",
        "duration_s": round(time.monotonic() - started, 1),
    })

    assert cut_connections > 0, "the app held no database connection when it was cut"
    assert not [e for e in events if e.kind == "error"], [e for e in events if e.kind == "error"]
    assert not [e for e in events if e.kind == "unknown"], "a request hung past the client timeout"
    assert max(e.elapsed for e in events) < CONNECT_TIMEOUT_S * 2 + 3
    assert during and all(e.kind == "503" for e in during), [(e.kind, e.status) for e in during]
    assert all(any(e.kind == "503" for e in during if e in c.events) for c in clients)
    assert not [c.bad_503 for c in clients if c.bad_503]
    assert logged >= len(during)
    assert "Traceback" not in log
    assert pages_during and all(
        r["status"] == 503 and r["type"].startswith("text/html")
        and "Temporarily unavailable" in r["body"] and r["retry_after"]
        for r in pages_during
    ), pages_during
    assert all(r["status"] in (405, 503) for r in pages_other), pages_other
    assert None not in recovery and max(recovery) < RECOVERY_LIMIT_S, recovery
    assert health_back is not None and health_back < RECOVERY_LIMIT_S
    assert same_processes, "gunicorn restarted a process: the app did not recover by itself"
    assert check["lost"] == [] and check["unexpected"] == [], check
    # A save that started after the cut and answered 503 was never stored. (One in flight at
    # the cut may have been: its COMMIT can reach the server while the answer is lost.)
    started_at = {(c.draft["client"], e.seq): e.t - e.elapsed
                  for c in clients for e in c.events if e.kind == "503"}
    assert all(started_at[key] < cut_at + 0.5 for key in check["stored_503s"]), check
