"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Measurement:
    name: str
    ours_s: float
    reference_s: float | None = None
    reference_name: str | None = None
    goal: str = ""
    passed: bool | None = None
    shown: str | None = None  # printed instead of the times (e.g. a memory figure)

    @property
    def ratio(self) -> float | None:
        return None if self.reference_s is None else self.reference_s / self.ours_s


def median_time(
    fn: Callable[[], object], repeats: int = 7, warmup: int = 1, inner: int = 1
) -> float:
    """Median over ``repeats`` of the mean wall time of ``inner`` back-to-back calls.

    ``inner`` > 1 keeps sub-millisecond calls above the timer's and the scheduler's noise.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def format_ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.2f} ms"
