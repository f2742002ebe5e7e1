"""`python -m loadtest.profile`: CPU and queries of each request the load test sends, in one
process (docs/performance.md, "What was fixed").

Creates a fresh PostgreSQL database (`calibrate_load_profile`), migrates it, loads the content,
seeds a small load-test organisation (loadtest/seed.py) and sends each kind of request through
Django's full middleware stack with `config.settings.production`, as gunicorn would. For each it
prints the median CPU time of the process (`--repeat` calls after one warm-up call) and the
number of queries. `--cprofile NAME` prints where the time of that request goes.

The exam submission and the practice submission change state, so each call uses an attempt of
its own (the seed's exam attempts; practice attempts started and scored for the purpose).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from loadtest import server


def _args(argv):
    p = argparse.ArgumentParser(prog="python -m loadtest.profile",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--database", default="calibrate_load_profile")
    p.add_argument("--server-url", default=server.DEFAULT_SERVER_URL)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--only", default="", help="comma-separated request names (substrings)")
    p.add_argument("--cprofile", default="",
                   help="print the cProfile of the request whose name contains this")
    p.add_argument("--redis", default="",
                   help="REDIS_URL for the cache (default: the database cache, as in the load "
                        "test)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = _args(argv)
    with server.fresh_database(args.database, server_url=args.server_url) as database_url, \
            tempfile.TemporaryDirectory(prefix="calibrate-profile-") as tmp:
        overrides = {"REDIS_URL": args.redis} if args.redis else {}
        env = server.production_env(database_url, static_root=Path(tmp) / "static", **overrides)
        print("migrate, load_content, collectstatic ...", flush=True)
        server.prepare(env)
        os.environ.update(env)
        import django

        django.setup()
        return _profile(args, Path(tmp))


def _profile(args, tmp: Path) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from loadtest.seed import seed

    print("seeding ...", flush=True)
    plan = seed(trainees=args.repeat + 2, exam_takers=2 * (args.repeat + 1), history_ratings=10,
                ledger_path=tmp, log=lambda _m: None)
    trainee, instructor = plan["trainees"][0], plan["instructor"]
    cohort, slug = plan["cohort"], plan["library"][0]
    practice, exam = plan["practice_instrument"], plan["exam_instrument"]
    proxy = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_HOST": "localhost"}

    clients = {}

    def api_client(account):
        # One client per account: a new Client builds a new handler (the middleware, and
        # WhiteNoise's index of the static files) on its first request, which gunicorn does
        # once per worker.
        if account["username"] not in clients:
            clients[account["username"]] = Client(
                HTTP_AUTHORIZATION=f"Token {account['token']}", HTTP_ACCEPT="application/json",
                **proxy)
        return clients[account["username"]]

    def page_client(account):
        c = Client(**proxy)
        c.cookies["sessionid"] = account["session"]
        return c

    api, page = api_client(trainee), page_client(trainee)

    def new_practice_attempt(account=trainee, items=True):
        c = api_client(account)
        r = c.post("/api/v1/attempts/", {"vignette": slug, "instruments": [practice]},
                   content_type="application/json")
        assert r.status_code == 201, r.content
        attempt = r.json()["id"]
        if items:
            values = plan["instruments"][practice]
            r = c.put(f"/api/v1/attempts/{attempt}/ratings/",
                      {"vignette": slug, "instrument": practice, "revision": 0,
                       "applicable": True, "items": {k: v[0] for k, v in values.items()}},
                      content_type="application/json")
            assert r.status_code == 200, r.content
        return attempt

    exam_takers = iter(plan["exam_takers"])

    shared = Client(HTTP_ACCEPT="application/json", **proxy)  # its handler is built once

    def exam_ready():
        account = next(exam_takers)
        auth = {"Authorization": f"Token {account['token']}"}
        r = shared.put(f"/api/v1/attempts/{account['attempt']}/ratings/",
                  {"vignette": account["final_vignette"], "instrument": exam, "revision": 0,
                   "applicable": True, "items": account["final_items"]},
                  content_type="application/json", headers=auth)
        assert r.status_code == 200, r.content
        return auth, account["attempt"]

    exam_attempt = plan["exam_takers"][-1]["attempt"]
    exam_client = api_client(plan["exam_takers"][-1])
    feedback_attempt = new_practice_attempt()
    api.post(f"/api/v1/attempts/{feedback_attempt}/submit/")
    scoring_attempt = new_practice_attempt(items=False)

    def submit_practice():
        attempt = new_practice_attempt(account=plan["trainees"][1])
        c = api_client(plan["trainees"][1])
        return lambda: c.post(
            f"/api/v1/attempts/{attempt}/submit/")

    def submit_exam():
        auth, attempt = exam_ready()
        return lambda: shared.post(f"/api/v1/attempts/{attempt}/submit/", headers=auth)

    save_state = {"revision": 0, "n": 0}
    autosave_attempt = new_practice_attempt(items=False)
    values = plan["instruments"][practice]

    def autosave():
        save_state["n"] += 1
        code = sorted(values)[save_state["n"] % len(values)]
        r = api.put(f"/api/v1/attempts/{autosave_attempt}/ratings/",
                    {"vignette": slug, "instrument": practice,
                     "revision": save_state["revision"], "applicable": True,
                     "items": {code: values[code][save_state["n"] % len(values[code])]}},
                    content_type="application/json")
        save_state["revision"] = r.json()["revision"]
        return r

    teach = page_client(instructor)
    teach_api = api_client(instructor)
    requests = [
        # (name, setup returning a call, or a call that can be repeated)
        ("GET /library/ [html]", lambda: page.get("/library/")),
        ("GET /library/{slug}/ [html]", lambda: page.get(f"/library/{slug}/")),
        ("GET /dashboard/ [html]", lambda: page.get("/dashboard/")),
        ("GET /api/v1/vignettes/", lambda: api.get("/api/v1/vignettes/?attempted=false")),
        ("GET /api/v1/vignettes/{slug}/", lambda: api.get(f"/api/v1/vignettes/{slug}/")),
        ("GET /api/v1/attempts/", lambda: api.get("/api/v1/attempts/")),
        ("GET /attempts/{id}/ [html]", lambda: page.get(f"/attempts/{scoring_attempt}/")),
        ("GET /attempts/{id}/feedback/ [html]",
         lambda: page.get(f"/attempts/{feedback_attempt}/feedback/")),
        ("GET /api/v1/attempts/{id}/feedback/",
         lambda: api.get(f"/api/v1/attempts/{feedback_attempt}/feedback/")),
        ("GET /api/v1/attempts/{id}/ (exam)",
         lambda: exam_client.get(f"/api/v1/attempts/{exam_attempt}/")),
        ("GET /teach/cohorts/{id}/ [html]",
         lambda: teach.get(f"/teach/cohorts/{cohort}/?instrument={practice}")),
        ("GET /api/v1/cohorts/{id}/reliability/",
         lambda: teach_api.get(f"/api/v1/cohorts/{cohort}/reliability/?instrument={practice}")),
        ("POST /api/v1/attempts/", None),
        ("PUT /api/v1/attempts/{id}/ratings/", autosave),
        ("POST /api/v1/attempts/{id}/submit/ (practice)", ("setup", submit_practice)),
        ("POST /api/v1/attempts/{id}/submit/ (exam)", ("setup", submit_exam)),
    ]
    only = [s for s in args.only.split(",") if s]
    print(f"{'request':<48} {'CPU ms':>7} {'queries':>7}  status")
    for name, call in requests:
        if only and not any(s in name for s in only):
            continue
        if call is None:  # start an attempt
            def call():
                return api.post("/api/v1/attempts/", {"vignette": slug,
                                                      "instruments": [practice]},
                                content_type="application/json")
        calls = ([call[1]() for _ in range(args.repeat + 1)] if isinstance(call, tuple)
                 else [call] * (args.repeat + 1))
        first = calls[0]()
        times = []
        for c in calls[1:-1]:
            began = time.process_time()
            response = c()
            times.append((time.process_time() - began) * 1000)
        with CaptureQueriesContext(connection) as queries:
            last = calls[-1]
            if args.cprofile and args.cprofile in name:
                profiler = cProfile.Profile()
                response = profiler.runcall(last)
            else:
                response = last()
        print(f"{name:<48} {statistics.median(times):7.1f} {len(queries):7d}  "
              f"{first.status_code}/{response.status_code}", flush=True)
        if args.cprofile and args.cprofile in name:
            pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "cumulative")).print_stats(45)
    return 0


if __name__ == "__main__":
    sys.exit(main())
