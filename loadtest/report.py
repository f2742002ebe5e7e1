"""Figures from the clients' request log (requests-*.jsonl), exact percentiles."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
TARGETS_MS = {"read": 300.0, "write": 500.0}


def read_requests(folder: Path) -> list[dict]:
    rows = []
    for path in sorted(Path(folder).glob("requests-*.jsonl")):
        with open(path, encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def _stats(times: list[float]) -> dict:
    if not times:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    a = np.asarray(times, dtype=float)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": int(a.size), "p50": float(p50), "p95": float(p95), "p99": float(p99),
            "max": float(a.max())}


def request_class(method: str) -> str:
    return "write" if method.upper() in WRITE_METHODS else "read"


def figures(rows: list[dict], *, timing: dict) -> dict:
    by_class, by_name, statuses = defaultdict(list), defaultdict(list), Counter()
    name_class, name_status = {}, defaultdict(Counter)
    burst_window = (timing["burst_start"], timing["deadline"])
    in_burst = defaultdict(list)
    for r in rows:
        cls = request_class(r["m"])
        by_class[cls].append(r["ms"])
        by_name[r["n"]].append(r["ms"])
        name_class[r["n"]] = cls
        statuses[r["s"]] += 1
        name_status[r["n"]][r["s"]] += 1
        if burst_window[0] <= r["t"] <= burst_window[1]:
            in_burst[cls].append(r["ms"])
    start = min((r["t"] for r in rows), default=0.0)
    end = max((r["t"] + r["ms"] / 1000 for r in rows), default=0.0)
    submits = [r for r in rows if r["n"].startswith("POST") and "(exam burst)" in r["n"]]
    burst = {
        "submissions": len(submits),
        "confirmed": sum(200 <= r["s"] < 300 for r in submits),
        "statuses": dict(Counter(r["s"] for r in submits)),
        "submit": _stats([r["ms"] for r in submits]),
        "first_sent": min((r["t"] for r in submits), default=None),
        "last_sent": max((r["t"] for r in submits), default=None),
        "last_answered": max((r["t"] + r["ms"] / 1000 for r in submits), default=None),
        "burst_start": timing["burst_start"],
        "deadline": timing["deadline"],
        "reads_during": _stats(in_burst["read"]),
        "writes_during": _stats(in_burst["write"]),
    }
    if submits:
        burst["send_span_s"] = burst["last_sent"] - burst["first_sent"]
        burst["all_answered_after_s"] = burst["last_answered"] - timing["burst_start"]
    # Outside the burst: from the start until the burst begins, and after its last answer.
    burst_end = max(burst["last_answered"] or 0.0, timing["deadline"])
    outside = defaultdict(list)
    for r in rows:
        if not timing["burst_start"] <= r["t"] <= burst_end:
            outside[request_class(r["m"])].append(r["ms"])
    return {
        "requests": len(rows),
        "duration_s": end - start,
        "throughput_rps": len(rows) / (end - start) if end > start else 0.0,
        "classes": {cls: _stats(by_class[cls]) for cls in ("read", "write")},
        "outside_burst": {cls: _stats(outside[cls]) for cls in ("read", "write")},
        "endpoints": {
            name: {"class": name_class[name], **_stats(times),
                   "statuses": dict(sorted(name_status[name].items()))}
            for name, times in sorted(by_name.items())
        },
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s >= 500),
        "no_response": statuses.get(0, 0),
        "burst": burst,
    }


def _ms(value) -> str:
    return "—" if value is None else f"{value:.0f}"


def table(fig: dict) -> str:
    lines = []
    lines.append(f"{fig['requests']} requests in {fig['duration_s']:.0f} s "
                 f"({fig['throughput_rps']:.1f} req/s); statuses {fig['statuses']}")
    lines.append("")
    lines.append(f"{'class / endpoint':58} {'n':>6} {'p50':>6} {'p95':>6} {'p99':>6} "
                 f"{'max':>6}  ms")
    for cls in ("read", "write"):
        s = fig["classes"][cls]
        lines.append(f"{cls.upper() + 'S (all)':58} {s['n']:>6} {_ms(s['p50']):>6} "
                     f"{_ms(s['p95']):>6} {_ms(s['p99']):>6} {_ms(s['max']):>6}")
        for name, e in fig["endpoints"].items():
            if e["class"] == cls:
                odd = {k: v for k, v in e["statuses"].items() if not 200 <= int(k) < 300}
                extra = f"  {odd}" if odd else ""
                lines.append(f"  {name:56} {e['n']:>6} {_ms(e['p50']):>6} {_ms(e['p95']):>6} "
                             f"{_ms(e['p99']):>6} {_ms(e['max']):>6}{extra}")
    o = fig["outside_burst"]
    lines.append(
        f"Outside the burst (before it, and after its last answer): reads p95 "
        f"{_ms(o['read']['p95'])} ms (n={o['read']['n']}), writes p95 {_ms(o['write']['p95'])} ms "
        f"(n={o['write']['n']})")
    b = fig["burst"]
    lines.append("")
    if b["submissions"]:
        lines.append(
            f"Deadline burst: {b['submissions']} exam submissions sent within "
            f"{b['send_span_s']:.1f} s, {b['confirmed']} confirmed {b['statuses']}; "
            f"submit p50 {_ms(b['submit']['p50'])} / p95 {_ms(b['submit']['p95'])} / max "
            f"{_ms(b['submit']['max'])} ms; last answer "
            f"{b['all_answered_after_s']:.1f} s after the burst began "
            f"(deadline at {b['deadline'] - b['burst_start']:.0f} s)")
        lines.append(
            f"During the burst window: reads p95 {_ms(b['reads_during']['p95'])} ms "
            f"(n={b['reads_during']['n']}), writes p95 {_ms(b['writes_during']['p95'])} ms "
            f"(n={b['writes_during']['n']})")
    else:
        lines.append("Deadline burst: no submission was sent")
    return "\n".join(lines)


def cpu_table(fig: dict, *, rows: list[dict]) -> str:
    """CPU seconds per phase: server, database, load generator, everything else."""
    lines = [f"{'CPU (seconds)':26} {'wall':>6} {'gunicorn':>9} {'postgres':>9} {'locust':>7} "
             f"{'others':>7} {'idle':>6} {'requests':>9} {'server ms/req':>14}"]
    for phase, c in fig.get("cpu", {}).items():
        if not c:
            continue
        n = sum(1 for r in rows if c["start"] <= r["t"] < c["end"])
        idle = c["machine_available"] - c["machine_busy"]
        per = 1000 * (c["gunicorn"] + c["postgres"]) / n if n else float("nan")
        lines.append(f"{phase:26} {c['seconds']:>6.0f} {c['gunicorn']:>9.1f} "
                     f"{c['postgres']:>9.1f} {c['locust']:>7.1f} {c['others']:>7.1f} "
                     f"{idle:>6.1f} {n:>9} {per:>14.0f}")
    lines.append("(server ms/req = gunicorn + PostgreSQL CPU per request; 'others' = the rest of "
                 "the machine: other people's jobs)")
    return "\n".join(lines)
