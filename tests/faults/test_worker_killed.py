"""A gunicorn worker killed (SIGKILL) while trainees autosave: gunicorn starts a new one, and
every save the server confirmed is in the database. A request cut by the kill gets no answer
(a connection error): the client never counts it as saved."""

import os
import signal
import threading
import time

import pytest

from tests.faults.conftest import sqlite_env
from tests.faults.harness import Autosaver, check_no_loss, counts, gunicorn, manage_json, report

pytestmark = pytest.mark.fault

WORKERS = 3
MAX_KILLS = 6


def test_killed_worker_loses_no_confirmed_save(sqlite_site, tmp_path):
    env = sqlite_env(sqlite_site.copy_to(tmp_path / "site.sqlite3"))
    stop = threading.Event()
    kills = []
    with gunicorn(env, log_path=tmp_path / "gunicorn.log", workers=WORKERS) as server:
        master, workers_at_start = server.master_pid, server.worker_pids()
        clients = [Autosaver(server.base_url, draft, stop, pause=0.02)
                   for draft in sqlite_site.plan]
        started = time.monotonic()
        for client in clients:
            client.start()
        time.sleep(3)
        # Kill a serving worker every 1.5 s (always leaving one) until a kill has cut requests
        # in flight, and at least twice: the case that matters is a save the worker was in
        # the middle of.
        deadline = time.monotonic() + 40
        while len(kills) < MAX_KILLS and time.monotonic() < deadline:
            serving = sorted(server.worker_pids() & server.ready_pids())
            if len(serving) >= 2:
                os.kill(serving[0], signal.SIGKILL)
                kills.append((time.monotonic(), serving[0]))
            time.sleep(1.5)
            in_flight = sum(counts(c.events).get("unknown", 0) for c in clients)
            if len(kills) >= 2 and in_flight:
                break
        killed = {pid for _, pid in kills}
        last_kill = kills[-1][0]
        time.sleep(3)  # saving goes on while gunicorn replaces the killed workers
        respawned = server.worker_pids()
        respawned_ready = len((respawned - workers_at_start) & server.ready_pids())
        stop.set()
        for client in clients:
            client.join(30)
        ended = time.monotonic()
        master_alive = server.alive()
    stored = manage_json(env, "from tests.faults.seed import drafts; drafts(%r)"
                         % [d["attempt"] for d in sqlite_site.plan])
    check = check_no_loss(clients, stored)
    events = [e for c in clients for e in c.events]
    overall = counts(events)
    after = counts(events, start=last_kill + 0.5)
    report("worker-killed", {
        "duration_s": round(ended - started, 1),
        "workers": WORKERS,
        "clients": len(clients),
        "workers_killed": len(kills),
        "requests": overall["requests"],
        "confirmed_saves": overall.get("saved", 0),
        "requests_cut_in_flight_(no_answer)": overall.get("unknown", 0),
        "conflicts_then_resynced": overall.get("conflict", 0),
        "errors_5xx": overall.get("error", 0) + overall.get("503", 0),
        "saves_after_last_kill": after.get("saved", 0),
        "master_pid_unchanged": master_alive and server.master_pid == master,
        "workers_respawned": len(respawned) == WORKERS and not respawned & killed,
        "replacement_workers_started": len(respawned - workers_at_start),
        "replacement_workers_already_serving": respawned_ready,
        **{k: v for k, v in check.items() if k not in ("lost", "unexpected", "stored_503s")},
        "no_loss_check": "PASS" if not check["lost"] and not check["unexpected"] else "FAIL",
    })

    assert master_alive, "the gunicorn master died"
    assert workers_at_start and len(respawned) == WORKERS, respawned
    assert not respawned & killed, "a killed worker is still listed"
    errors = [e for e in events if e.kind == "error"]
    assert not errors, errors[:5]
    assert overall.get("unknown", 0) >= 1, "no kill hit a request in flight"
    resumed = [any(e.kind == "saved" and e.t - e.elapsed > last_kill for e in c.events)
               for c in clients]
    assert all(resumed), f"clients that never saved again after the last kill: {resumed}"
    assert check["lost"] == [] and check["unexpected"] == [], check
    assert check["stored_although_503"] == 0, check
    assert check["drafts"] == len(clients)
