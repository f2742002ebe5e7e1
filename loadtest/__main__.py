"""`python -m loadtest`: the load test in one command (see docs/performance.md, "Load test").

Creates a fresh PostgreSQL database, migrates it, loads the content and seeds it, serves it
with gunicorn (the repository's gunicorn.conf.py and config.settings.production), runs locust
headless (trainees, an instructor, a deadline burst of exam submissions), stops gunicorn,
checks that nothing confirmed was lost, prints the figures and exits 1 if a target is missed.

With `--servers 2`: two gunicorn servers on the same database and one Redis (REDIS_URL, a key
prefix of the run's own), the clients spread over both by a round-robin proxy
(loadtest/proxy.py), and the checks of loadtest/twoservers.py (sessions, sign-in throttling,
the verification rate limit, the exam clock) run against A and B directly.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from loadtest import server
from loadtest.cpu import CpuMonitor, children
from loadtest.ledger import Ledger
from loadtest.report import TARGETS_MS, cpu_table, figures, read_requests, table

ROOT = server.ROOT


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__.split("\n\n")[0])
    p.add_argument("--database", default=os.environ.get("LOADTEST_DATABASE", "calibrate_load"),
                   help="scratch database, dropped and created (default calibrate_load; "
                        f"must start with {' or '.join(server.OWNED_PREFIXES)})")
    p.add_argument("--server-url", default=os.environ.get("LOADTEST_PG", server.DEFAULT_SERVER_URL),
                   help="PostgreSQL server (default %(default)s)")
    p.add_argument("--keep-database", action="store_true", help="do not drop it afterwards")
    p.add_argument("--trainees", type=int, default=50)
    p.add_argument("--exam-takers", type=int, default=100)
    p.add_argument("--history", type=int, default=10,
                   help="past submitted ratings per trainee in the cohort (default 10)")
    p.add_argument("--duration", type=int, default=150, help="seconds of load (default 150)")
    p.add_argument("--burst-at", type=int, default=90,
                   help="seconds after the start when the exam burst begins (default 90)")
    p.add_argument("--burst-window", type=float, default=10.0,
                   help="the exam submissions are sent within this many seconds (default 10)")
    p.add_argument("--workers", type=int, default=None,
                   help="gunicorn workers (default: gunicorn.conf.py's)")
    p.add_argument("--threads", type=int, default=None,
                   help="gunicorn threads per worker (default: gunicorn.conf.py's)")
    p.add_argument("--port", type=int, default=0, help="default: a free port (one server only)")
    p.add_argument("--servers", type=int, choices=(1, 2), default=1,
                   help="application servers (gunicorn processes) sharing the database; with 2 "
                        "they also share Redis and the clients go through a round-robin proxy")
    p.add_argument("--redis-url", default=os.environ.get("LOADTEST_REDIS",
                                                         "redis://127.0.0.1:6379/11"),
                   help="Redis for --servers 2 (default %(default)s); the run's keys have a "
                        "prefix of their own and are deleted afterwards")
    p.add_argument("--cache-per-process", action="store_true",
                   help="with --servers 2: give each server process a cache of its own "
                        "(a broken deployment), to see the checks across the servers fail")
    p.add_argument("--out", type=Path, default=None,
                   help="where logs, ledgers and figures go (default artifacts/loadtest/<time>)")
    args = p.parse_args(argv)
    if args.burst_at + args.burst_window + 15 > args.duration:
        p.error("--duration must leave at least 15 s after the burst window")
    if args.cache_per_process and args.servers < 2:
        p.error("--cache-per-process is for --servers 2")
    if args.servers > 1 and args.port:
        p.error("--port is for one server; with --servers 2 the ports are free ones")
    if args.burst_at < 30:
        p.error("--burst-at must be at least 30 s (the exam takers resume their exams first)")
    return args


def _warm_up_requests(plan: dict) -> list[tuple[str, dict[str, str]]]:
    trainee, instructor = plan["trainees"][0], plan["instructor"]

    def api(account):
        return {"Authorization": f"Token {account['token']}", "Accept": "application/json"}

    def page(account):
        return {"Cookie": f"sessionid={account['session']}"}

    cohort, slug = plan["cohort"], plan["library"][0]
    return [
        ("/library/", page(trainee)),
        (f"/library/{slug}/", page(trainee)),
        ("/dashboard/", page(trainee)),
        ("/api/v1/vignettes/", api(trainee)),
        (f"/api/v1/vignettes/{slug}/", api(trainee)),
        ("/api/v1/attempts/", api(trainee)),
        (f"/teach/cohorts/{cohort}/?instrument={plan['practice_instrument']}", page(instructor)),
        (f"/api/v1/cohorts/{cohort}/reliability/?instrument={plan['practice_instrument']}",
         api(instructor)),
    ]


def _delete_redis_keys(redis_url: str, prefix: str) -> None:
    """The run's own cache keys (Django writes "<prefix>:<version>:<key>")."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def _say(message: str) -> None:
    print(message, flush=True)


def main(argv=None) -> int:
    args = _args(argv)
    began = time.monotonic()
    out = args.out or ROOT / "artifacts" / "loadtest" / dt.datetime.now().strftime(
        "%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    harness_log = open(out / "harness.log", "a", encoding="utf-8")  # noqa: SIM115
    _say(f"Load test: output in {out}")
    with server.fresh_database(args.database, server_url=args.server_url,
                               keep=args.keep_database) as database_url:
        static = tempfile.TemporaryDirectory(prefix="calibrate-loadtest-static-")
        overrides = {}
        if args.servers > 1:
            overrides = {"REDIS_URL": args.redis_url,
                         "CACHE_KEY_PREFIX": f"calibrate-load-{secrets.token_hex(4)}"}
            _say(f"Redis {args.redis_url}, key prefix {overrides['CACHE_KEY_PREFIX']}")
        env = server.production_env(database_url, static_root=Path(static.name), **overrides)
        t = time.monotonic()
        _say(f"Database {args.database}: migrate, load_content, collectstatic ...")
        server.prepare(env, log=harness_log)
        _say(f"  done in {time.monotonic() - t:.0f} s")

        os.environ.update(env)
        import django

        django.setup()
        from django.db import connections

        from loadtest.check import check
        from loadtest.seed import seed, set_exam_deadline

        t = time.monotonic()
        seeded_since = dt.datetime.now(dt.UTC)
        _say("Seeding through the services ...")
        plan = seed(trainees=args.trainees, exam_takers=args.exam_takers,
                    history_ratings=args.history, ledger_path=out, log=_say)
        _say(f"  done in {time.monotonic() - t:.0f} s")
        connections.close_all()

        accounts = None
        if args.servers > 1:
            from loadtest import twoservers

            accounts = twoservers.check_accounts(plan)
            connections.close_all()

        users = len(plan["trainees"]) + len(plan["exam_takers"]) + 1
        cross_checks: list = []
        server_args: tuple[str, ...] = ("--no-control-socket",)
        if args.cache_per_process:
            # On the command line: gunicorn.conf.py's raw_env names the settings module.
            server_args += ("--env", "DJANGO_SETTINGS_MODULE=loadtest.unshared_cache_settings")
            _say("Each server process has a cache of its own (--cache-per-process): the checks "
                 "across the servers should fail")
        with contextlib.ExitStack() as stack:
            servers = [
                stack.enter_context(server.running_gunicorn(
                    env, port=args.port or None, workers=args.workers, threads=args.threads,
                    extra_args=server_args,
                    log_path=out / ("gunicorn.log" if args.servers == 1
                                    else f"gunicorn-{'AB'[i]}.log")))
                for i in range(args.servers)
            ]
            for running in servers:
                took = server.warm_up(running.url, _warm_up_requests(plan))
                _say(f"  {running.url} warmed up in {took:.0f} s (not measured)")
            proxy = None
            if args.servers == 1:
                base_url = servers[0].url
            else:
                from loadtest.proxy import RoundRobinProxy

                proxy = stack.enter_context(RoundRobinProxy(
                    [("127.0.0.1", int(r.url.rsplit(":", 1)[1])) for r in servers]))
                base_url = proxy.url
                a, b = servers[0].url, servers[1].url
                _say(f"Two servers: A {a}, B {b}, round-robin proxy {base_url}")
                _say("Checks across the servers, before the load ...")
                from django.conf import settings

                from training.certification.certificates import (
                    VERIFY_RATE_LIMIT,
                    VERIFY_RATE_WINDOW,
                )

                cross_checks.append(twoservers.check_sessions(a, b, accounts))
                cross_checks.append(twoservers.check_sign_in_throttle(
                    a, b, accounts, failure_limit=settings.AXES_FAILURE_LIMIT))
                cross_checks.append(twoservers.check_verify_rate_limit(
                    a, b, limit=VERIFY_RATE_LIMIT, window=VERIFY_RATE_WINDOW))
                for v in cross_checks:
                    _say(f"  {'PASS' if v.passed else 'FAIL'}  {v.name}")
            launch = time.time()
            burst_start = launch + args.burst_at
            plan["timing"] = {
                "launch": launch,
                "resume_from": launch + 8,
                "resume_until": burst_start - 15,
                "burst_start": burst_start,
                "burst_window": args.burst_window,
                "deadline": burst_start + args.burst_window + 5,
            }
            set_exam_deadline(plan["exam_assignment"],
                              dt.datetime.fromtimestamp(plan["timing"]["deadline"], dt.UTC))
            connections.close_all()
            if proxy is not None:
                check_ledger = Ledger(out, source="twoservers")
                clock = twoservers.exam_clock_start(a, b, accounts, plan, check_ledger)
            plan_path = out / "plan.json"
            plan_path.write_text(json.dumps(plan), encoding="utf-8")
            workers = args.workers or os.environ.get("GUNICORN_WORKERS") or "conf default"
            _say(f"{len(servers)} × gunicorn (workers each: {workers}), clients sent to "
                 f"{base_url}; locust: {users} users for {args.duration} s, exam burst at "
                 f"{args.burst_at} s ...")
            locust_pids: list[int] = []
            monitor = CpuMonitor({
                "gunicorn": lambda: [pid for r in servers for pid in (r.pid, *children(r.pid))],
                "postgres": lambda: server.backend_pids(args.database,
                                                        server_url=args.server_url),
                "locust": lambda: list(locust_pids),
            })
            monitor.start()
            with open(out / "locust.log", "w", encoding="utf-8") as locust_log:
                locust = subprocess.Popen(
                    [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"),
                     "--headless", "--users", str(users), "--spawn-rate", "10",
                     "--run-time", f"{args.duration}s", "--stop-timeout", "30",
                     "--host", base_url, "--only-summary", "--loglevel", "WARNING"],
                    cwd=ROOT, stdout=locust_log, stderr=subprocess.STDOUT,
                    env=dict(os.environ, LOADTEST_PLAN=str(plan_path), LOADTEST_OUT=str(out),
                             PYTHONPATH=str(ROOT)),
                )
                locust_pids.append(locust.pid)
                code = locust.wait()
            monitor.stop()
            _say(f"  locust finished (exit {code}; its log: {out / 'locust.log'})")
            if proxy is not None:
                _say("Exam clock after the deadline, on A and B ...")
                cross_checks.append(twoservers.exam_clock_after_deadline(
                    a, b, accounts, clock, check_ledger))
                check_ledger.close()
                spread = proxy.connections
                _say(f"  the proxy sent {spread[0]} connections to A and {spread[1]} to B "
                     f"({sum(proxy.failed)} could not reach their server)")
        _say("gunicorn stopped. Checking the database against the ledger ...")
        result = check(out, since=seeded_since, exam_assignment=plan["exam_assignment"])
        connections.close_all()
        static.cleanup()
        if args.servers > 1:
            _delete_redis_keys(args.redis_url, env["CACHE_KEY_PREFIX"])

    fig = figures(read_requests(out), timing=plan["timing"])
    timing = plan["timing"]
    run_end = max(s["t"] for s in monitor.samples)
    fig["cpu"] = {
        "whole run": monitor.between(timing["launch"], run_end),
        "steady, before the burst": monitor.between(timing["launch"] + 10,
                                                    timing["burst_start"]),
        "burst window": monitor.between(timing["burst_start"], timing["deadline"]),
    }
    _say("")
    _say(table(fig))
    _say("")
    _say(cpu_table(fig, rows=read_requests(out)))
    _say("")
    _say(f"No-loss check: {result.drafts_checked} drafts ({result.sealed_checked} sealed), "
         f"{result.submissions_checked} confirmed submissions, {result.attempts_checked} "
         f"attempts; exam: {result.exam_submitted} submitted, {result.exam_finalised} "
         f"finalised at the deadline, {result.exam_in_progress} in progress")
    _say(f"  refused writes (not confirmed): {dict(result.rejected) or 'none'}; "
         f"writes with unknown outcome: {result.unknown_outcomes}")
    for line in result.applied_unconfirmed[:20]:
        _say(f"  applied without confirmation: {line}")
    _say(f"  discrepancies: {len(result.discrepancies)}")
    for line in result.discrepancies[:50]:
        _say(f"    {line}")

    burst = fig["burst"]
    expected_burst = len(plan["exam_takers"])
    verdicts = [
        (f"reads p95 < {TARGETS_MS['read']:.0f} ms",
         fig["classes"]["read"]["p95"] is not None
         and fig["classes"]["read"]["p95"] < TARGETS_MS["read"],
         f"{fig['classes']['read']['p95']:.0f} ms"),
        (f"writes p95 < {TARGETS_MS['write']:.0f} ms",
         fig["classes"]["write"]["p95"] is not None
         and fig["classes"]["write"]["p95"] < TARGETS_MS["write"],
         f"{fig['classes']['write']['p95']:.0f} ms"),
        ("no 5xx", fig["server_errors"] == 0, str(fig["server_errors"])),
        ("no request without an answer", fig["no_response"] == 0, str(fig["no_response"])),
        (f"{expected_burst} exam submissions sent within {args.burst_window:.0f} s and "
         "confirmed",
         burst["submissions"] == expected_burst and burst["confirmed"] == expected_burst
         and burst.get("send_span_s", 1e9) <= args.burst_window,
         f"{burst['confirmed']}/{burst['submissions']} confirmed"
         + (f", sent within {burst['send_span_s']:.1f} s" if burst["submissions"] else "")),
        ("nothing lost (no-loss check)", result.ok, f"{len(result.discrepancies)} discrepancies"),
    ]
    if args.servers > 1:
        verdicts.append(("the proxy spread the requests over both servers",
                         min(spread) > 0 and sum(proxy.failed) == 0
                         and abs(spread[0] - spread[1]) <= 1,
                         f"A {spread[0]}, B {spread[1]} connections"))
        _say("")
        _say("Across the two servers:")
        for v in cross_checks:
            _say(f"  {'PASS' if v.passed else 'FAIL'}  {v.name}: {v.value}")
            for line in v.details:
                _say(f"        {line}")
        verdicts.extend((v.name, v.passed, v.value) for v in cross_checks)
    _say("")
    for name, passed, value in verdicts:
        _say(f"  {'PASS' if passed else 'FAIL'}  {name}: {value}")
    summary = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "figures": fig,
        "check": {
            "drafts": result.drafts_checked, "sealed": result.sealed_checked,
            "submissions": result.submissions_checked, "attempts": result.attempts_checked,
            "exam": {"submitted": result.exam_submitted, "finalised": result.exam_finalised,
                     "in_progress": result.exam_in_progress},
            "rejected": dict(result.rejected), "unknown_outcomes": result.unknown_outcomes,
            "applied_unconfirmed": result.applied_unconfirmed,
            "discrepancies": result.discrepancies,
        },
        "verdicts": [{"target": n, "passed": p, "value": v} for n, p, v in verdicts],
        "history_ratings": plan["history_ratings"],
        "total_seconds": time.monotonic() - began,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str),
                                      encoding="utf-8")
    _say(f"\nWhole command: {time.monotonic() - began:.0f} s; figures in {out / 'summary.json'}")
    harness_log.close()
    return 0 if all(passed for _n, passed, _v in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
