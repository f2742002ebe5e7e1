"""Where the CPU went during a run (Linux /proc): the server's processes, the database's
backends, the load generator, and everything else on the machine.

On a machine shared with other work the latencies alone cannot be compared from one run to the
next; CPU-seconds per request can, and the share taken by other processes says how much of the
machine the run really had.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float | None:
    """User + system CPU seconds of one process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores."""
    parts = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / TICK, sum(values) / TICK


class CpuMonitor(threading.Thread):
    """Samples every `interval` seconds. `groups` maps a name to a function returning the pids
    that belong to it now (processes may come and go: each counts from when it was first
    seen, so start the monitor before the work to measure)."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]], interval: float = 1.0):
        super().__init__(daemon=True)
        self.groups = groups
        self.interval = interval
        self._stop_event = threading.Event()
        self._first: dict[tuple[str, int], float] = {}
        self._last: dict[tuple[str, int], float] = {}
        self.samples: list[dict] = []  # {"t": epoch, name: cpu seconds so far, "machine": ...}

    def _sample(self) -> None:
        row = {"t": time.time()}
        for name, pids in self.groups.items():
            try:
                current = pids()
            except Exception:  # a group that cannot be listed this time (e.g. database busy)
                current = []
            for pid in current:
                cpu = process_cpu(pid)
                if cpu is None:
                    continue
                self._first.setdefault((name, pid), cpu)
                self._last[(name, pid)] = cpu
            row[name] = sum(self._last[k] - self._first[k] for k in self._last if k[0] == name)
        busy, total = machine_cpu()
        row["machine_busy"], row["machine_total"] = busy, total
        self.samples.append(row)

    def run(self) -> None:
        while not self._stop_event.is_set():
            self._sample()
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()
        self._sample()

    def between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds per group, the machine's busy and available seconds, and the other
        processes' share, between two epochs (the nearest samples)."""
        if len(self.samples) < 2:
            return {}
        first = min(self.samples, key=lambda s: abs(s["t"] - start))
        last = min(self.samples, key=lambda s: abs(s["t"] - end))
        out = {name: last[name] - first[name] for name in self.groups}
        out["machine_busy"] = last["machine_busy"] - first["machine_busy"]
        out["machine_available"] = last["machine_total"] - first["machine_total"]
        out["others"] = out["machine_busy"] - sum(out[name] for name in self.groups)
        out["seconds"] = last["t"] - first["t"]
        out["start"], out["end"] = first["t"], last["t"]
        return out
