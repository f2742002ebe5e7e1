"""Statistics over time: calendar and rolling windows, and CUSUM drift detection."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np

from .result import Estimate, undefined


class WindowEstimate(NamedTuple):
    start: datetime
    end: datetime  # exclusive for calendar windows; the last rating's time for rolling ones
    estimate: Estimate


def _aware(ts: datetime) -> datetime:
    # Times are stored in UTC; a naive timestamp is taken to be UTC.
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def _subset(values: Any, index: np.ndarray) -> Any:
    if isinstance(values, np.ndarray):
        return values[index]
    return [values[i] for i in index]


def _period_start(day: date, period: str) -> date:
    if period == "month":
        return day.replace(day=1)
    if period == "week":
        return day - timedelta(days=day.weekday())
    raise ValueError("period must be 'month' or 'week'")


def _next_start(start: date, period: str) -> date:
    if period == "month":
        return date(start.year + (start.month == 12), start.month % 12 + 1, 1)
    return start + timedelta(days=7)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone)


def calendar_windows(
    timestamps: Sequence[datetime],
    values: Any,
    statistic: Callable[[Any], Estimate],
    *,
    period: str = "month",
    tz: str = "UTC",
    include_empty: bool = True,
    name: str | None = None,
) -> list[WindowEstimate]:
    """``statistic`` computed on the values falling in each calendar month or ISO week.

    ``timestamps`` are datetimes, or a NumPy array of seconds since the epoch (faster).

    Windows are local calendar periods in the IANA time zone ``tz`` (an organisation's zone):
    a rating at 23:30 UTC on 31 January is in February in Europe/Berlin. ``values`` is aligned
    with ``timestamps`` (a list, or an array whose first axis is the rating); ``statistic``
    receives the subset for a window. Empty windows between the first and last rating are
    reported as undefined (``include_empty=True``) without calling the statistic.

    Example::

        >>> from datetime import datetime, timezone
        >>> ts = [datetime(2025, 1, 31, 23, 30, tzinfo=timezone.utc),
        ...       datetime(2025, 2, 2, tzinfo=timezone.utc)]
        >>> from training.reliability.reference import mean_signed_deviation
        >>> out = calendar_windows(ts, [1.0, 3.0],
        ...     lambda v: mean_signed_deviation(v, [0.0] * len(v)), tz="Europe/Berlin")
        >>> [(w.start.month, w.estimate.value) for w in out]
        [(2, 2.0)]
    """
    zone = ZoneInfo(tz)
    if len(timestamps) == 0:
        return []
    keys = _period_keys(timestamps, zone, period)
    label = name or getattr(statistic, "__name__", "statistic")
    out: list[WindowEstimate] = []
    start = date.fromordinal(int(keys.min()))
    last = date.fromordinal(int(keys.max()))
    while start <= last:
        nxt = _next_start(start, period)
        index = np.nonzero(keys == start.toordinal())[0]
        window = (_local_midnight(start, zone), _local_midnight(nxt, zone))
        if index.size:
            out.append(WindowEstimate(*window, statistic(_subset(values, index))))
        elif include_empty:
            out.append(WindowEstimate(*window, undefined(label, "no ratings in this window")))
        start = nxt
    return out


# Every UTC offset in use is a whole number of quarter hours, and so is every instant at which
# a zone changes offset: all instants of one UTC quarter hour fall on the same local day.
_QUARTER_HOUR = 900


def _period_keys(timestamps, zone: ZoneInfo, period: str) -> np.ndarray:
    """The ordinal of the local period start of each timestamp (datetimes, or an array of
    seconds since the epoch), converting each UTC quarter hour once, not each timestamp."""
    if isinstance(timestamps, np.ndarray):
        seconds = timestamps.astype(float)
    else:
        seconds = np.array([_aware(ts).timestamp() for ts in timestamps], dtype=float)
    quarters = np.floor(seconds / _QUARTER_HOUR).astype(np.int64)
    unique, inverse = np.unique(quarters, return_inverse=True)
    starts = np.array([
        _period_start(datetime.fromtimestamp(int(q) * _QUARTER_HOUR, UTC).astimezone(zone).date(),
                      period).toordinal()
        for q in unique.tolist()], dtype=np.int64)
    return starts[inverse.reshape(-1)]


def rolling_windows(
    timestamps: Sequence[datetime],
    values: Any,
    statistic: Callable[[Any], Estimate],
    *,
    size: int,
    step: int = 1,
) -> list[WindowEstimate]:
    """``statistic`` over each run of ``size`` consecutive ratings (in time order).

    Window i covers ratings ``i*step`` ... ``i*step + size - 1``; start and end are the times of
    its first and last rating.

    Example::

        >>> from datetime import datetime, timedelta, timezone
        >>> t0 = datetime(2025, 1, 1, tzinfo=timezone.utc)
        >>> ts = [t0 + timedelta(days=i) for i in range(4)]
        >>> from training.reliability.reference import exact_agreement
        >>> out = rolling_windows(ts, [1, 1, 0, 0], lambda v: exact_agreement(v, [1] * len(v)),
        ...                       size=2)
        >>> [w.estimate.value for w in out]
        [1.0, 0.5, 0.0]
    """
    if size < 1 or step < 1:
        raise ValueError("size and step must be positive")
    stamps = [_aware(ts) for ts in timestamps]
    order = np.array(sorted(range(len(stamps)), key=lambda i: stamps[i]), dtype=int)
    out = []
    for first in range(0, len(order) - size + 1, step):
        index = order[first:first + size]
        out.append(WindowEstimate(stamps[index[0]], stamps[index[-1]],
                                  statistic(_subset(values, index))))
    return out


@dataclass(frozen=True)
class Cusum:
    """Two-sided tabular CUSUM paths and the points where either crossed the threshold.

    ``upper[t] = max(0, upper[t-1] + x_t - (target + slack))`` accumulates upward drift
    (e.g. growing severity); ``lower[t] = max(0, lower[t-1] + (target - slack) - x_t)``
    accumulates downward drift (growing leniency). Both are non-negative.
    """

    upper: tuple[float, ...]
    lower: tuple[float, ...]
    upper_alarms: tuple[int, ...]
    lower_alarms: tuple[int, ...]

    @property
    def alarms(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.upper_alarms) | set(self.lower_alarms)))


def cusum(
    series: Sequence[float], target: float, slack: float, threshold: float, *,
    reset: bool = True,
) -> Cusum:
    """Two-sided CUSUM (Page 1954) on a series, e.g. a certified rater's signed deviations.

    ``slack`` (k) is the drift tolerated without accumulating, ``threshold`` (h) the alarm
    level; a path exceeding h raises an alarm at that index and, with ``reset=True``, restarts
    from 0. Missing values (NaN/None) leave the paths unchanged.

    Example (a rater drifting to +1 after three on-target ratings)::

        >>> c = cusum([0, 0, 0, 1, 1, 1, 1], target=0, slack=0.5, threshold=1.2)
        >>> c.upper_alarms, c.upper
        ((5,), (0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 0.5))
    """
    if slack < 0 or threshold <= 0:
        raise ValueError("slack must be >= 0 and threshold > 0")
    hi = lo = 0.0
    upper: list[float] = []
    lower: list[float] = []
    up_alarms: list[int] = []
    low_alarms: list[int] = []
    for i, raw in enumerate(series):
        if raw is not None and not np.isnan(float(raw)):
            x = float(raw)
            hi = max(0.0, hi + x - target - slack)
            lo = max(0.0, lo + target - slack - x)
            if hi > threshold:
                up_alarms.append(i)
            if lo > threshold:
                low_alarms.append(i)
        upper.append(hi)
        lower.append(lo)
        if reset and hi > threshold:
            hi = 0.0
        if reset and lo > threshold:
            lo = 0.0
    return Cusum(tuple(upper), tuple(lower), tuple(up_alarms), tuple(low_alarms))
