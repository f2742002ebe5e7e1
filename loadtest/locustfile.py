"""Locust users for `python -m loadtest` (which writes the plan this file reads).

- Trainee (one per seeded trainee): think time 1-5 s; browses the library (HTML page or API),
  opens a vignette, starts an attempt (free practice or the practice assignment), saves the
  draft in several autosaves with the revision check, submits (most of the time) and reads the
  feedback; now and then their dashboard or attempt list.
- Instructor: refreshes the cohort dashboard page and the reliability API every 2-5 s.
- ExamTaker (one per seeded exam attempt): resumes the exam during the steady phase and saves
  its last rating; inside the burst window (10 s) all of them submit.

The API is used with token authentication; HTML pages with the seeded session cookie, sent
only on those requests. Every confirmed write goes to the ledger (loadtest/ledger.py); every
request's method, name, status and time to requests-<pid>.jsonl.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import gevent
from locust import FastHttpUser, between, constant, events, task

from loadtest.ledger import Ledger

PLAN = json.loads(Path(os.environ["LOADTEST_PLAN"]).read_text(encoding="utf-8"))
OUT = Path(os.environ["LOADTEST_OUT"])
LEDGER = Ledger(OUT, source="locust")
_REQUESTS = open(OUT / f"requests-{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115

# What the reverse proxy of docs/deploy.md sends: TLS terminated in front (X-Forwarded-Proto),
# and nginx's default to the upstream, one connection per request (HTTP/1.0, no keep-alive),
# so each request goes to whichever gunicorn worker accepts it first.
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "Connection": "close"}

_trainees = iter(PLAN["trainees"])
_exam_takers = iter(PLAN["exam_takers"])


@events.request.add_listener
def _record(request_type, name, response_time, response, exception, start_time, **_kw):
    status = getattr(response, "status_code", 0) or 0
    _REQUESTS.write(json.dumps({
        "m": request_type, "n": name, "ms": round(response_time, 2), "s": status,
        "t": round(start_time, 3), "e": None if exception is None else type(exception).__name__,
    }) + "\n")


@events.quitting.add_listener
def _close(**_kw):
    _REQUESTS.flush()
    _REQUESTS.close()
    LEDGER.close()


def _sleep_until(epoch: float) -> None:
    delay = epoch - time.time()
    if delay > 0:
        gevent.sleep(delay)


class CalibrateUser(FastHttpUser):
    abstract = True
    network_timeout = 30.0
    connection_timeout = 10.0

    def _request(self, method, path, name, *, ok, headers, body=None, allow_redirects=True):
        headers = {**PROXY_HEADERS, **headers}
        with self.client.request(method, path, name=name, json=body, headers=headers,
                                 catch_response=True, allow_redirects=allow_redirects) as r:
            if r.status_code in ok:
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}")
            return r

    def api(self, method, path, name, *, body=None, ok=(200,)):
        headers = {"Authorization": f"Token {self.account['token']}",
                   "Accept": "application/json"}
        return self._request(method, path, f"{method} {name}", ok=ok, headers=headers, body=body)

    def page(self, path, name):
        """An HTML page as the signed-in user. No redirects followed: a redirect to the sign-in
        page would otherwise pass for a page."""
        headers = {"Cookie": f"sessionid={self.account['session']}", "Accept": "text/html"}
        return self._request("GET", path, f"GET {name} [html]", ok=(200,), headers=headers,
                             allow_redirects=False)

    def _unconfirmed(self, op, r, **entry):
        entry.setdefault("user", self.account["username"])
        detail = self._json(r)
        code = detail.get("code") if isinstance(detail, dict) else None
        if 400 <= r.status_code < 500:
            LEDGER.rejected(op=op, status=r.status_code, code=code, **entry)
        else:
            LEDGER.unknown(op=op, status=r.status_code, **entry)

    def _json(self, response):
        try:
            return response.json()
        except Exception:
            return None


class Trainee(CalibrateUser):
    fixed_count = len(PLAN["trainees"])
    wait_time = between(1, 5)

    def on_start(self):
        self.account = next(_trainees)
        self.rng = random.Random(self.account["id"])

    @task(8)
    def practise(self):
        rng = self.rng
        # Browse the library.
        if rng.random() < 0.5:
            self.page("/library/", "/library/")
            slug = rng.choice(PLAN["library"])
        else:
            r = self.api("GET", "/api/v1/vignettes/?attempted=false", "/api/v1/vignettes/")
            results = (self._json(r) or {}).get("results") or []
            slug = rng.choice([v["slug"] for v in results] or PLAN["library"])
        self.wait()
        # Open a vignette.
        if rng.random() < 0.5:
            self.page(f"/library/{slug}/", "/library/{slug}/")
        else:
            self.api("GET", f"/api/v1/vignettes/{slug}/", "/api/v1/vignettes/{slug}/")
        self.wait()
        # Start an attempt.
        if slug in PLAN["practice_set"] and rng.random() < 0.5:
            body = {"assignment": PLAN["practice_assignment"], "vignette": slug}
        else:
            instrument = PLAN["practice_instrument"] if rng.random() < 0.7 else PLAN[
                "exam_instrument"]
            body = {"vignette": slug, "instruments": [instrument]}
        r = self.api("POST", "/api/v1/attempts/", "/api/v1/attempts/", body=body, ok=(201,))
        if r.status_code != 201:
            self._unconfirmed("create", r, body=body)
            return
        attempt = r.json()
        attempt_id = attempt["id"]
        LEDGER.create(attempt=attempt_id, user=self.account["username"], status=201,
                      mode=attempt["mode"])
        vignette = attempt["vignettes"][0]["slug"]
        instrument = attempt["instruments"][0]["slug"]
        if rng.random() < 0.5:
            self.page(f"/attempts/{attempt_id}/", "/attempts/{id}/")
        self.wait()
        if not self._autosaves(attempt_id, vignette, instrument):
            return
        if rng.random() < 0.15:
            return  # left as a draft, to be finished another day
        self.wait()
        r = self.api("POST", f"/api/v1/attempts/{attempt_id}/submit/",
                     "/api/v1/attempts/{id}/submit/")
        if r.status_code == 200:
            data = r.json()
            LEDGER.submit(attempt=attempt_id, user=self.account["username"], status=200,
                          attempt_status=data["status"], submitted_at=data["submitted_at"])
        else:
            self._unconfirmed("submit", r, attempt=attempt_id)
            return
        self.wait()
        if rng.random() < 0.5:
            self.page(f"/attempts/{attempt_id}/feedback/", "/attempts/{id}/feedback/")
        else:
            self.api("GET", f"/api/v1/attempts/{attempt_id}/feedback/",
                     "/api/v1/attempts/{id}/feedback/")

    def _autosaves(self, attempt_id, vignette, instrument) -> bool:
        """Score every item over 3-5 autosaves, each sending the revision last confirmed."""
        rng = self.rng
        values = PLAN["instruments"][instrument]
        codes = list(values)
        rng.shuffle(codes)
        parts = rng.randint(3, 5)
        chunks = [codes[i::parts] for i in range(parts)]
        expected: dict[str, int] = {}
        revision = 0
        for n, chunk in enumerate(chunks):
            if n:
                self.wait()
            items = {code: rng.choice(values[code]) for code in chunk}
            if expected and rng.random() < 0.3:  # change one's mind about an earlier item
                code = rng.choice(sorted(expected))
                items[code] = rng.choice(values[code])
            body = {"vignette": vignette, "instrument": instrument, "revision": revision,
                    "items": items}
            if n == 0:
                body["applicable"] = True
            if rng.random() < 0.3:
                body["rationale"] = f"Draft rationale, save {n + 1}."
            r = self.api("PUT", f"/api/v1/attempts/{attempt_id}/ratings/",
                         "/api/v1/attempts/{id}/ratings/", body=body)
            common = {"attempt": attempt_id, "user": self.account["username"],
                      "vignette": vignette, "instrument": instrument}
            if r.status_code == 200:
                data = r.json()
                expected.update(items)
                revision = data["revision"]
                LEDGER.save(**common, sent=items, expected=dict(expected),
                            returned=data["items"], applicable=True, revision=revision,
                            status=200)
                continue
            self._unconfirmed("save", r, **common, sent=items, revision_sent=revision)
            # Reload the attempt, as the scoring page does, to carry on from what is stored.
            r = self.api("GET", f"/api/v1/attempts/{attempt_id}/", "/api/v1/attempts/{id}/")
            if r.status_code != 200:
                return False
            stored = next((x for x in r.json()["ratings"] if x["vignette"] == vignette
                           and x["instrument"] == instrument), None)
            if stored is None:
                expected, revision = {}, 0
            else:
                expected, revision = dict(stored["items"]), stored["revision"]
            LEDGER.observed(**common, items=expected, revision=revision)
        return True

    @task(1)
    def dashboard(self):
        self.page("/dashboard/", "/dashboard/")

    @task(1)
    def attempt_list(self):
        self.api("GET", "/api/v1/attempts/", "/api/v1/attempts/")


class Instructor(CalibrateUser):
    fixed_count = 1
    wait_time = between(2, 5)

    def on_start(self):
        self.account = PLAN["instructor"]

    @task
    def refresh(self):
        cohort = PLAN["cohort"]
        self.page(f"/teach/cohorts/{cohort}/?instrument={PLAN['practice_instrument']}",
                  "/teach/cohorts/{id}/")
        self.api("GET",
                 f"/api/v1/cohorts/{cohort}/reliability/?instrument={PLAN['practice_instrument']}",
                 "/api/v1/cohorts/{id}/reliability/")


class ExamTaker(CalibrateUser):
    """Resumes the exam during the steady phase and saves its last rating (think time 1-5 s),
    then submits at its moment inside the burst window."""

    fixed_count = len(PLAN["exam_takers"])
    wait_time = constant(3600)

    def on_start(self):
        self.account = next(_exam_takers)
        self.rng = random.Random(-self.account["id"])

    @task
    def sit(self):
        account, rng, timing = self.account, self.rng, PLAN["timing"]
        attempt_id = account["attempt"]
        _sleep_until(rng.uniform(timing["resume_from"], timing["resume_until"]))
        r = self.api("GET", f"/api/v1/attempts/{attempt_id}/", "/api/v1/attempts/{id}/ (exam)")
        revision = 0
        if r.status_code == 200:
            stored = next((x for x in r.json()["ratings"]
                           if x["vignette"] == account["final_vignette"]), None)
            revision = stored["revision"] if stored else 0
        gevent.sleep(rng.uniform(1, 5))
        items = account["final_items"]
        body = {"vignette": account["final_vignette"], "instrument": PLAN["exam_instrument"],
                "revision": revision, "applicable": True, "items": items}
        common = {"attempt": attempt_id, "user": account["username"],
                  "vignette": account["final_vignette"], "instrument": PLAN["exam_instrument"]}
        r = self.api("PUT", f"/api/v1/attempts/{attempt_id}/ratings/",
                     "/api/v1/attempts/{id}/ratings/ (exam)", body=body)
        if r.status_code == 200:
            data = r.json()
            LEDGER.save(**common, sent=items, expected=dict(items), returned=data["items"],
                        applicable=True, revision=data["revision"], status=200)
        else:
            self._unconfirmed("save", r, **common, sent=items, revision_sent=revision)
        # The deadline burst: every exam taker submits at a moment of its own in the window.
        _sleep_until(timing["burst_start"] + rng.uniform(0, timing["burst_window"]))
        sent_at = time.time()
        r = self.api("POST", f"/api/v1/attempts/{attempt_id}/submit/",
                     "/api/v1/attempts/{id}/submit/ (exam burst)")
        if r.status_code == 200:
            data = r.json()
            LEDGER.submit(attempt=attempt_id, user=account["username"], status=200,
                          attempt_status=data["status"], submitted_at=data["submitted_at"],
                          sent_at=sent_at, burst=True)
        else:
            self._unconfirmed("submit", r, attempt=attempt_id, sent_at=sent_at, burst=True)
