"""What the fault tests share: gunicorn as in production, autosaving clients that keep a ledger
of what the server confirmed, the no-loss check against the database, and the figures.

The server is `config.settings.production` under the repository's gunicorn.conf.py, started
with loadtest.server's environment (plain HTTP on 127.0.0.1, SECURE_SSL_REDIRECT=false being the
only departure from a deployment). Nothing here imports locust.

A client's outcome for each save:
- `saved`    2xx: a confirmed save. The ledger keeps the last one per draft.
- `503`      the server said "unavailable": the save must not be stored.
- `unknown`  no answer (connection reset, timeout): may or may not be stored, never confirmed.
- `conflict` 409: an earlier save the client was not told about *was* stored; the client reads
             the draft back and carries on from it (as the scoring page would, after a reload).
- `error`    any other status (a 500 fails every fault test).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from loadtest.server import free_port, production_env, stop_gunicorn

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"
NOTE = re.compile(r"^client(\d+)-save(\d+)$")

# One key for every process of a run: the sessions the seed signs must load in the server.
SECRET_KEY = secrets.token_urlsafe(50)


def server_env(database_url: str, *, static_root: Path, **overrides: str) -> dict[str, str]:
    """loadtest.server's production environment, with this run's SECRET_KEY."""
    return production_env(database_url, static_root=static_root,
                          **{"SECRET_KEY": SECRET_KEY, **overrides})


# --- processes -------------------------------------------------------------------------------

def manage_json(env: dict[str, str], code: str):
    """Run Python in `manage.py shell` with `env`; return the JSON its last line prints."""
    proc = subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py shell failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def manage(env: dict[str, str], *args: str) -> None:
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")


@dataclass
class Server:
    process: subprocess.Popen
    base_url: str
    log_path: Path

    @property
    def master_pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def worker_pids(self) -> set[int]:
        """The master's children (Linux /proc)."""
        pid = self.master_pid
        try:
            return {int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
        except OSError:
            return set()

    def ready_pids(self) -> set[int]:
        """Workers that have imported the app and take requests (gunicorn.conf.py logs it)."""
        return {int(pid) for pid in re.findall(r"Worker ready \(pid: (\d+)\)", self.log())}

    def wait_workers_ready(self, count: int, timeout: float = 60) -> float:
        """Wait until `count` live workers are ready; return how long it took."""
        started = time.monotonic()
        while len(self.worker_pids() & self.ready_pids()) < count:
            if time.monotonic() - started > timeout or not self.alive():
                raise RuntimeError(f"workers not ready:\n{self.log()[-3000:]}")
            time.sleep(0.1)
        return time.monotonic() - started

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def logged_unavailable(self) -> int:
        """503s the app logged (structured JSON lines from the calibrate.database logger)."""
        return sum(1 for line in self.log().splitlines()
                   if '"logger": "calibrate.database"' in line and '"status": 503' in line)


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, log_path: Path, workers: int = 2, threads: int = 2,
             extra_args: tuple[str, ...] = (), healthy: bool = True, prefix: list[str] = ()):
    """gunicorn -c gunicorn.conf.py config.wsgi on a free port. Workers are never recycled
    (--max-requests 0), so a worker PID that changes was restarted by a fault, not by routine.
    Waits for /healthz to answer 200 (or, if not `healthy`, to answer at all). `prefix` goes
    before the command (see read_only_prefix)."""
    port = free_port()
    run_env = dict(env, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS=str(workers),
                   GUNICORN_THREADS=str(threads))
    gunicorn_bin = Path(sys.executable).with_name("gunicorn")
    with open(log_path, "ab") as out:
        process = subprocess.Popen(
            [*prefix, str(gunicorn_bin), "-c", str(ROOT / "gunicorn.conf.py"),
             "--max-requests", "0",
             "--no-control-socket",
             *extra_args, "config.wsgi"],
            cwd=ROOT, env=run_env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if not server.alive():
                raise RuntimeError(f"gunicorn exited while starting:\n{server.log()[-3000:]}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _, _ = request("GET", f"{server.base_url}/healthz", timeout=5)
                if status == 200 or not healthy:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not become ready:\n{server.log()[-3000:]}")
            time.sleep(0.3)
        server.wait_workers_ready(workers)
        yield server
    finally:
        stop_gunicorn(process)


# --- clients ---------------------------------------------------------------------------------

def request(method: str, url: str, *, body=None, headers: dict | None = None,
            timeout: float = 20.0) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection (no keep-alive, so a connection error always belongs
    to this request)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, parts.path, body=data, headers={
            "Connection": "close", "Accept": "application/json",
            **({"Content-Type": "application/json"} if data is not None else {}),
            **(headers or {}),
        })
        response = conn.getresponse()
        content = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, content
    finally:
        conn.close()


@dataclass
class Event:
    t: float
    kind: str
    status: int | None
    elapsed: float
    seq: int = 0
    detail: str = ""


@dataclass(eq=False)  # threads must stay hashable
class Autosaver(threading.Thread):
    """One trainee's scoring page: saves its draft again and again (a new note each time),
    sending the revision it last saw, and records what the server confirmed."""

    base_url: str
    draft: dict
    stop: threading.Event
    timeout: float = 20.0
    pause: float = 0.05
    pause_after_failure: float = 0.25
    events: list[Event] = field(default_factory=list)
    revision: int = 0
    seq: int = 0
    confirmed: tuple[int, int] | None = None  # (seq, revision) of the last confirmed save
    unknown_since_confirmed: set[int] = field(default_factory=set)
    refused_503: set[int] = field(default_factory=set)
    stored_despite_503: list[int] = field(default_factory=list)
    bad_503: list[str] = field(default_factory=list)
    needs_resync: bool = False

    def __post_init__(self):
        threading.Thread.__init__(self, daemon=True, name=f"autosaver-{self.draft['client']}")

    @property
    def headers(self):
        return {"Authorization": f"Token {self.draft['token']}"}

    @property
    def url(self):
        return f"{self.base_url}/api/v1/attempts/{self.draft['attempt']}/"

    def note(self, seq: int) -> str:
        return f"client{self.draft['client']}-save{seq}"

    def run(self) -> None:
        while not self.stop.is_set():
            ok = self.resync() if self.needs_resync else self.save()
            self.stop.wait(self.pause if ok else self.pause_after_failure)

    def _record(self, kind, status, started, seq=0, detail=""):
        self.events.append(Event(time.monotonic(), kind, status, time.monotonic() - started,
                                 seq, detail))

    def save(self) -> bool:
        self.seq += 1
        seq, item = self.seq, self.draft["item"]
        body = {"vignette": self.draft["vignette"], "instrument": self.draft["instrument"],
                "revision": self.revision, "notes": {item: self.note(seq)}}
        started = time.monotonic()
        try:
            status, headers, content = request("PUT", self.url + "ratings/", body=body,
                                               headers=self.headers, timeout=self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            self.unknown_since_confirmed.add(seq)
            self._record("unknown", None, started, seq, type(exc).__name__)
            return False
        if 200 <= status < 300:
            data = json.loads(content)
            if data.get("notes", {}).get(item) != self.note(seq) or (
                data.get("revision") != self.revision + 1
            ):
                self._record("error", status, started, seq, f"unexpected body {data}")
                return False
            self.revision = data["revision"]
            self.confirmed = (seq, self.revision)
            self.unknown_since_confirmed.clear()
            self._record("saved", status, started, seq)
            return True
        if status == 503:
            self.refused_503.add(seq)
            try:
                detail = json.loads(content).get("detail", "")
            except ValueError:
                detail = ""
            if not headers.get("retry-after", "").isdigit() or "unavailable" not in detail:
                self.bad_503.append(f"{headers} {content[:200]!r}")
            self._record("503", status, started, seq)
            return False
        if status == 409:
            self._record("conflict", status, started, seq, content[:200].decode(errors="replace"))
            self.needs_resync = True
            return False
        self._record("error", status, started, seq, content[:300].decode(errors="replace"))
        return False

    def resync(self) -> bool:
        """After a 409: read the draft back; an earlier save was stored after all."""
        started = time.monotonic()
        try:
            status, _, content = request("GET", self.url, headers=self.headers,
                                         timeout=self.timeout)
        except (OSError, http.client.HTTPException) as exc:
            self._record("resync_failed", None, started, 0, type(exc).__name__)
            return False
        if status != 200:
            self._record("resync_failed", status, started)
            return False
        rating = next(r for r in json.loads(content)["ratings"]
                      if r["instrument"] == self.draft["instrument"])
        seq = _seq(rating["notes"].get(self.draft["item"]))
        if seq in self.refused_503:
            self.stored_despite_503.append(seq)
        self.revision = rating["revision"]
        self.confirmed = (seq, self.revision)  # the client has now seen it stored
        self.unknown_since_confirmed = {s for s in self.unknown_since_confirmed if s > seq}
        self.needs_resync = False
        self._record("resynced", status, started, seq)
        return True


def _seq(note: str | None) -> int | None:
    match = NOTE.match(note or "")
    return int(match.group(2)) if match else None


@dataclass(eq=False)
class Prober(threading.Thread):
    """GETs one URL every `interval` seconds and records status, type and Retry-After."""

    url: str
    stop: threading.Event
    headers: dict = field(default_factory=dict)
    interval: float = 0.5
    timeout: float = 20.0
    results: list[dict] = field(default_factory=list)

    def __post_init__(self):
        threading.Thread.__init__(self, daemon=True, name=f"prober-{self.url}")

    def run(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                status, headers, content = request("GET", self.url, headers=self.headers,
                                                   timeout=self.timeout)
                self.results.append({
                    "t": started, "status": status, "elapsed": time.monotonic() - started,
                    "type": headers.get("content-type", ""),
                    "retry_after": headers.get("retry-after"),
                    "body": content[:2000].decode(errors="replace"),
                })
            except (OSError, http.client.HTTPException) as exc:
                self.results.append({"t": started, "status": None, "error": type(exc).__name__,
                                     "elapsed": time.monotonic() - started})
            self.stop.wait(self.interval)


# --- the no-loss check and the figures ---------------------------------------------------------

def check_no_loss(clients: list[Autosaver], stored: dict) -> dict:
    """Compare each draft in the database with its client's ledger.

    A draft is right when it holds exactly the last confirmed save (note and revision), or a
    later save whose answer never arrived (`unknown`: the connection died after the commit).
    Anything else is a loss (an older state: a confirmed save is missing) or a save stored
    although the server answered 503."""
    exact = unknown_stored = 0
    lost, stored_after_503, unexpected = [], [], []
    for client in clients:
        row = stored.get(str(client.draft["attempt"]))
        seq = _seq(row["notes"].get(client.draft["item"])) if row else None
        if client.confirmed is None:
            expected_seq, expected_rev = None, 0
        else:
            expected_seq, expected_rev = client.confirmed
        if seq == expected_seq and (row["revision"] if row else 0) == expected_rev:
            exact += 1
        elif seq in client.unknown_since_confirmed and row["revision"] == expected_rev + 1:
            unknown_stored += 1
        elif seq in client.refused_503:
            stored_after_503.append((client.draft["client"], seq))
        elif expected_seq is not None and (seq is None or seq < expected_seq):
            lost.append((client.draft["client"], expected_seq, seq))
        else:
            unexpected.append((client.draft["client"], expected_seq, seq, row))
    confirmed = sum(1 for c in clients for e in c.events if e.kind == "saved")
    return {
        "drafts": len(clients),
        "confirmed_saves": confirmed,
        "drafts_equal_to_last_confirmed_save": exact,
        "drafts_holding_a_later_unanswered_save": unknown_stored,
        "lost_confirmed_saves": len(lost),
        "lost": lost,
        "stored_although_503": len(stored_after_503)
        + sum(len(c.stored_despite_503) for c in clients),
        "stored_503s": stored_after_503
        + [(c.draft["client"], seq) for c in clients for seq in c.stored_despite_503],
        "unexpected": unexpected,
    }


def counts(events: list[Event], start: float = float("-inf"), end: float = float("inf")) -> dict:
    """Outcomes of requests that *started* in [start, end)."""
    picked = [e for e in events if start <= e.t - e.elapsed < end]
    out = Counter(e.kind for e in picked)
    out["requests"] = len(picked)
    return dict(out)


def report(name: str, figures: dict) -> None:
    """Print the figures (run with -s to see them) and keep them in artifacts/faults-<name>.json."""
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"faults-{name}.json").write_text(json.dumps(figures, indent=2, default=str))
    lines = ["", f"=== fault test: {name} ==="]
    for key, value in figures.items():
        lines.append(f"  {key}: {json.dumps(value, default=str)}")
    print("\n".join(lines), flush=True)
    sys.stdout.flush()


def read_only_prefix() -> list[str] | None:
    """A command prefix under which file permissions apply to the server.

    Not root: none needed. Root ignores file permissions through two capabilities; `setpriv`
    removes them from the bounding set, so the server runs as root *without* them and a
    read-only file is read-only to it, as to a deployment's app user. None when that is not
    possible here."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    try:
        ok = subprocess.run([*prefix, "true"], capture_output=True, check=False).returncode == 0
    except OSError:
        ok = False
    return prefix if ok else None
