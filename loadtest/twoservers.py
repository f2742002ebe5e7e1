"""What must behave as on one server when two application servers share PostgreSQL and Redis
(`python -m loadtest --servers 2`): each check talks to server A and server B directly, by
their own ports, never through the round-robin proxy, so it knows which server answered.

- sessions: signed in on A (the real sign-in form, CSRF and all), the session is valid on B;
  signed out on B, it is gone on A;
- sign-in throttling: wrong passwords for one username, sent to A only and then (another
  username) alternately to A and B, lock the account at the same failure; once locked, the
  right password is refused on both;
- the certificate-verification rate limit: requests from one address, to A only and then
  (another address) alternately to A and B, are refused from the same request on;
- the exam clock: an exam started on A shows the same deadline on B (API and scoring page); a
  draft saved on B before the deadline is kept, one saved after it is refused on A and on B.

Distinct client addresses (127.0.0.2, .3, ...: all loopback on Linux) keep the one-server and
the two-server halves of a check in separate per-address counters. Every write these checks
make is written to the ledger (source "twoservers"), so the no-loss check covers it.

The accounts are created with `check_accounts` (Django set up, the load-test seed done).
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

from loadtest.ledger import Ledger

PROXY_HEADERS = {"X-Forwarded-Proto": "https", "Connection": "close"}
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_DEADLINE = re.compile(r'<time datetime="([^"]+)" id="deadline">')


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def cookies(self) -> dict[str, str]:
        jar = SimpleCookie()
        for name, value in self.headers:
            if name.lower() == "set-cookie":
                jar.load(value)
        return {k: m.value for k, m in jar.items()}

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(base_url: str, method: str, path: str, *, headers: dict | None = None,
            body: bytes | None = None, source: str = "127.0.0.1") -> Answer:
    """One request on a connection of its own, from the loopback address `source`."""
    parsed = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60,
                                      source_address=(source, 0))
    try:
        conn.request(method, path, body=body, headers={**PROXY_HEADERS, **(headers or {})})
        response = conn.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        conn.close()


@dataclass
class Verdict:
    name: str
    passed: bool
    value: str
    details: list[str] = field(default_factory=list)


def check_accounts(plan: dict) -> dict:
    """Users for the checks, with a known password (Django must be set up): one to sign in
    with, two to be locked out, and an exam taker of the load test's exam (API token and
    session) who starts the exam during the checks."""
    from django.contrib.auth import get_user_model

    from loadtest.seed import _credentials
    from training.models import Cohort, Organization, Role
    from training.organisation.members import membership_set_role

    User = get_user_model()
    org = Organization.objects.get(slug=plan["organization"])
    admin = User.objects.get(username="load-admin001")
    password = secrets.token_urlsafe(16)
    accounts = {"password": password}
    for key in ("session", "throttle1", "throttle2", "exam"):
        user, _ = User.objects.get_or_create(username=f"load-check-{key}",
                                             defaults={"email": f"load-check-{key}@example.org"})
        user.set_password(password)
        user.save()
        membership_set_role(actor=admin, organization=org, user=user, role=Role.TRAINEE)
        accounts[key] = _credentials(user, org)  # also: active organisation, notice seen
    Cohort.objects.get(pk=plan["exam_cohort"]).trainees.add(
        User.objects.get(username="load-check-exam"))
    return accounts


def _host(base_url: str) -> str:
    return urllib.parse.urlsplit(base_url).netloc


def _origin(base_url: str) -> dict[str, str]:
    """What a browser sends with a form post to this server behind TLS."""
    return {"Origin": f"https://{_host(base_url)}",
            "Referer": f"https://{_host(base_url)}/accounts/login/"}


def _sign_in(base_url: str, username: str, password: str, *, source: str) -> Answer:
    page = request(base_url, "GET", "/accounts/login/", source=source)
    csrf_cookie = page.cookies().get("csrftoken", "")
    match = _CSRF_INPUT.search(page.text)
    form = urllib.parse.urlencode({
        "username": username, "password": password,
        "csrfmiddlewaretoken": match.group(1) if match else "",
    }).encode()
    return request(base_url, "POST", "/accounts/login/", body=form, source=source, headers={
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": f"csrftoken={csrf_cookie}", **_origin(base_url)})


def _signed_in_page(base_url: str, session: str | None, username: str) -> bool:
    cookie = {"Cookie": f"sessionid={session}"} if session else {}
    page = request(base_url, "GET", "/dashboard/", headers=cookie)
    # The account menu names the signed-in user beside a sign-out form.
    return (page.status == 200 and 'action="/accounts/logout/"' in page.text
            and f'<span class="account-name">{username}</span>' in page.text)


def check_sessions(a: str, b: str, accounts: dict) -> Verdict:
    username, password = accounts["session"]["username"], accounts["password"]
    signed_in = _sign_in(a, username, password, source="127.0.0.1")
    cookies = signed_in.cookies()
    session = cookies.get("sessionid")
    steps = [f"sign-in form posted to A: HTTP {signed_in.status}, session cookie "
             f"{'set' if session else 'missing'}"]
    on_a = _signed_in_page(a, session, username)
    on_b = _signed_in_page(b, session, username)
    anonymous_b = _signed_in_page(b, None, username)
    steps.append(f"/dashboard/ with that session: on A {'signed in' if on_a else 'NOT signed in'}"
                 f", on B {'signed in' if on_b else 'NOT signed in'}; without it on B: "
                 f"{'signed in (!)' if anonymous_b else 'not signed in'}")
    csrf = cookies.get("csrftoken", "")
    out = request(b, "POST", "/accounts/logout/", source="127.0.0.1", headers={
        "Cookie": f"sessionid={session}; csrftoken={csrf}", "X-CSRFToken": csrf,
        **_origin(b)})
    after_a = _signed_in_page(a, session, username)
    steps.append(f"signed out on B (HTTP {out.status}); the session on A afterwards: "
                 f"{'still signed in (!)' if after_a else 'signed out'}")
    passed = bool(session) and signed_in.status == 302 and on_a and on_b and not anonymous_b \
        and out.status == 302 and not after_a
    return Verdict("a session made on A is valid on B, and signing out on B ends it on A",
                   passed, "signed in on B" if on_b else "not signed in on B", steps)


def _failures_until_locked(servers: list[str], username: str, *, source: str,
                           most: int) -> tuple[int | None, list[str]]:
    """Wrong passwords for `username`, the n-th to servers[n % len(servers)], until one is
    answered 429 (locked). Returns its number (None if none was) and where each went."""
    trail = []
    for n in range(most):
        server = servers[n % len(servers)]
        answer = _sign_in(server, username, "wrong-" + secrets.token_hex(4), source=source)
        trail.append(f"{'AB'[n % len(servers)] if len(servers) > 1 else 'A'}:{answer.status}")
        if answer.status == 429:
            return n + 1, trail
    return None, trail


def check_sign_in_throttle(a: str, b: str, accounts: dict, *, failure_limit: int) -> Verdict:
    most = failure_limit + 3
    one, trail_one = _failures_until_locked([a], accounts["throttle1"]["username"],
                                            source="127.0.0.2", most=most)
    two, trail_two = _failures_until_locked([a, b], accounts["throttle2"]["username"],
                                            source="127.0.0.3", most=most)
    username, password = accounts["throttle2"]["username"], accounts["password"]
    right_a = _sign_in(a, username, password, source="127.0.0.3").status
    right_b = _sign_in(b, username, password, source="127.0.0.3").status
    steps = [f"one server (A): refused from wrong password no. {one or 'none'} "
             f"({' '.join(trail_one)})",
             f"two servers (A, B alternately): refused from no. {two or 'none'} "
             f"({' '.join(trail_two)})",
             f"then the right password: A answers {right_a}, B answers {right_b} (429 = locked)"]
    passed = one is not None and one == two and right_a == 429 and right_b == 429
    return Verdict(f"sign-in throttling counts across both servers (AXES_FAILURE_LIMIT "
                   f"{failure_limit})", passed, f"locked at failure {one} on one server, "
                   f"{two} on two", steps)


def _wait_for_window(window: int, need: float) -> None:
    """Sleep into the next fixed rate-limit window unless `need` seconds are left in this
    one, so that a sequence of requests is counted in one window."""
    left = window - time.time() % window
    if left < need:
        time.sleep(left + 0.2)


def _requests_until_refused(servers: list[str], *, source: str, most: int
                            ) -> tuple[int | None, list[int]]:
    code = secrets.token_urlsafe(24)[:32]
    statuses = []
    for n in range(most):
        answer = request(servers[n % len(servers)], "GET", f"/verify/{code}", source=source)
        statuses.append(answer.status)
        if answer.status == 429:
            return n + 1, statuses
    return None, statuses


def check_verify_rate_limit(a: str, b: str, *, limit: int, window: int) -> Verdict:
    most = limit + 3
    _wait_for_window(window, need=30)
    one, statuses_one = _requests_until_refused([a], source="127.0.0.4", most=most)
    _wait_for_window(window, need=30)
    two, statuses_two = _requests_until_refused([a, b], source="127.0.0.5", most=most)
    count = {s: statuses_two.count(s) for s in sorted(set(statuses_two))}

    def when(n):
        return f"request no. {n}" if n else f"none of {most} requests"

    steps = [f"one server (A): refused (429) from {when(one)}",
             f"two servers (A, B alternately): refused from {when(two)}; statuses {count}"]
    passed = one == limit + 1 and two == one
    return Verdict(f"the verification rate limit ({limit} per {window} s and address) is "
                   "shared", passed, f"429 from {when(one)} on one server, {when(two)} on two",
                   steps)


@dataclass
class ExamClock:
    attempt: int | None = None
    deadline: str | None = None
    vignette: str | None = None
    instrument: str | None = None
    revision: int = 0
    items: dict = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)
    ok: bool = True


def _api(account: dict) -> dict[str, str]:
    return {"Authorization": f"Token {account['token']}", "Accept": "application/json",
            "Content-Type": "application/json"}


def _parse(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def exam_clock_start(a: str, b: str, accounts: dict, plan: dict, ledger: Ledger) -> ExamClock:
    """Before the deadline: start the exam on A, read it on B, save a draft on B."""
    clock = ExamClock()
    account = accounts["exam"]
    started = request(a, "POST", "/api/v1/attempts/", headers=_api(account),
                      body=json.dumps({"assignment": plan["exam_assignment"],
                                       "accept_undertaking": True}).encode())
    if started.status != 201:
        clock.ok = False
        clock.steps.append(f"exam not started on A: HTTP {started.status} {started.text[:200]}")
        return clock
    data = started.json()
    clock.attempt, clock.deadline = data["id"], data["deadline"]
    ledger.create(attempt=clock.attempt, user=account["username"], status=201, mode=data["mode"])
    on_b = request(b, "GET", f"/api/v1/attempts/{clock.attempt}/", headers=_api(account))
    b_deadline = on_b.json().get("deadline") if on_b.status == 200 else None
    page = request(b, "GET", f"/attempts/{clock.attempt}/",
                   headers={"Cookie": f"sessionid={account['session']}"})
    match = _DEADLINE.search(page.text) if page.status == 200 else None
    page_deadline = match.group(1) if match else None
    same = _parse(b_deadline) == _parse(clock.deadline) == _parse(page_deadline) is not None
    clock.ok &= same
    clock.steps.append(f"exam started on A, deadline {clock.deadline}; on B the API says "
                       f"{b_deadline}, the scoring page {page_deadline}: "
                       f"{'the same' if same else 'DIFFERENT'}")
    clock.vignette = data["vignettes"][0]["slug"]
    clock.instrument = data["instruments"][0]["slug"]
    values = plan["instruments"][clock.instrument]
    clock.items = {code: vals[0] for code, vals in values.items()}
    saved = _save(b, account, clock, ledger)
    clock.ok &= saved.status == 200
    clock.steps.append(f"draft saved on B before the deadline: HTTP {saved.status}")
    return clock


def _save(server: str, account: dict, clock: ExamClock, ledger: Ledger) -> Answer:
    body = {"vignette": clock.vignette, "instrument": clock.instrument,
            "revision": clock.revision, "applicable": True, "items": clock.items}
    answer = request(server, "PUT", f"/api/v1/attempts/{clock.attempt}/ratings/",
                     headers=_api(account), body=json.dumps(body).encode())
    common = {"attempt": clock.attempt, "user": account["username"],
              "vignette": clock.vignette, "instrument": clock.instrument}
    if answer.status == 200:
        data = answer.json()
        clock.revision = data["revision"]
        ledger.save(**common, sent=clock.items, expected=dict(clock.items),
                    returned=data["items"], applicable=True, revision=data["revision"],
                    status=200)
    elif 400 <= answer.status < 500:
        code = answer.json().get("code") if answer.body.startswith(b"{") else None
        ledger.rejected(op="save", status=answer.status, code=code, **common,
                        sent=clock.items, revision_sent=clock.revision)
    else:
        ledger.unknown(op="save", status=answer.status, **common)
    return answer


def exam_clock_after_deadline(a: str, b: str, accounts: dict, clock: ExamClock,
                              ledger: Ledger) -> Verdict:
    """After the deadline: a save on A and one on B are both refused; B shows it finalised."""
    if clock.attempt is None:
        return Verdict("the exam clock is the same on both servers", False, "not started",
                       clock.steps)
    deadline = _parse(clock.deadline)
    wait = (deadline - dt.datetime.now(dt.UTC)).total_seconds() if deadline else 0
    if wait > 0:
        time.sleep(wait + 1)
    account = accounts["exam"]
    refused = []
    for name, server in (("A", a), ("B", b)):
        answer = _save(server, account, clock, ledger)
        code = answer.json().get("code") if answer.body.startswith(b"{") else None
        refused.append((answer.status, code))
        clock.steps.append(f"draft saved on {name} after the deadline: HTTP {answer.status} "
                           f"{code or ''}".rstrip())
    status = request(b, "GET", f"/api/v1/attempts/{clock.attempt}/", headers=_api(account))
    final = status.json().get("status") if status.status == 200 else f"HTTP {status.status}"
    clock.steps.append(f"the attempt on B afterwards: {final}")
    passed = clock.ok and all(s == 409 for s, _c in refused) and refused[0] == refused[1]
    return Verdict("the exam clock is the same on both servers (deadline; late save refused "
                   "on A and B)", passed,
                   f"late saves: A {refused[0][0]}, B {refused[1][0]}", clock.steps)
