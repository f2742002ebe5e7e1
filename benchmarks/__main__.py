"""Run benchmarks by name: ``python -m benchmarks`` (all) or ``python -m benchmarks reliability``."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
from datetime import UTC, datetime

import benchmarks

from ._timing import format_ms


def available() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if not m.name.startswith("_"))


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; available: {', '.join(available())}",
              file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS_")}
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC  python {platform.python_version()}  "
          f"{platform.machine()}  {os.cpu_count()} cores  "
          + (" ".join(f"{k}={v}" for k, v in sorted(env.items())) or "no OPENBLAS_* set"))
    failed = False
    for name in names:
        print(f"\n== {name} ==")
        results = importlib.import_module(f"benchmarks.{name}").run()
        width = max(len(r.name) for r in results)
        for r in results:
            ratio = "" if r.ratio is None else f"ratio {r.ratio:8.1f}x"
            ref = "" if r.reference_s is None else f"{r.reference_name} {format_ms(r.reference_s)}"
            verdict = "" if r.passed is None else ("ok" if r.passed else "MISSED")
            if r.shown is not None:
                print(f"{r.name.ljust(width)}  {r.shown}  {r.goal} {verdict}".rstrip())
                failed = failed or r.passed is False
                continue
            print(f"{r.name.ljust(width)}  ours {format_ms(r.ours_s):>11}  {ref:<38} "
                  f"{ratio:<16} {r.goal} {verdict}".rstrip())
            failed = failed or r.passed is False
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
