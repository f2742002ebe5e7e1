from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.reliability import (
    calendar_windows,
    cusum,
    exact_agreement,
    mean_signed_deviation,
    rolling_windows,
)


def _msd(values):
    return mean_signed_deviation(values, [0.0] * len(values))


def test_month_windows_follow_the_organisation_time_zone():
    ts = [datetime(2025, 1, 31, 23, 30, tzinfo=UTC),  # 1 Feb 00:30 in Berlin
          datetime(2025, 1, 15, 12, 0, tzinfo=UTC),
          datetime(2025, 3, 2, 12, 0, tzinfo=UTC)]
    out = calendar_windows(ts, [1.0, 2.0, 3.0], _msd, tz="Europe/Berlin", name="msd")
    assert [(w.start.month, w.estimate.value) for w in out] == [(1, 2.0), (2, 1.0), (3, 3.0)]
    assert out[0].start.isoformat() == "2025-01-01T00:00:00+01:00"
    assert out[1].end.isoformat() == "2025-03-01T00:00:00+01:00"
    utc = calendar_windows(ts, [1.0, 2.0, 3.0], _msd, tz="UTC")
    assert [w.estimate.value for w in utc] == [1.5, None, 3.0]
    assert utc[1].estimate.undefined_reason == "no ratings in this window"


def test_week_windows_are_iso_weeks_and_handle_dst():
    # 30 March 2025: Europe/Berlin switches to summer time inside this week.
    ts = [datetime(2025, 3, 24, 8, tzinfo=UTC), datetime(2025, 3, 31, 8, tzinfo=UTC)]
    out = calendar_windows(ts, np.array([1.0, 2.0]), _msd, period="week", tz="Europe/Berlin")
    assert [w.start.weekday() for w in out] == [0, 0]
    assert out[0].end == out[1].start
    elapsed = out[0].end.astimezone(UTC) - out[0].start.astimezone(UTC)
    assert elapsed == timedelta(days=7) - timedelta(hours=1)


def test_empty_windows_can_be_left_out():
    ts = [datetime(2025, 1, 5, tzinfo=UTC), datetime(2025, 4, 5, tzinfo=UTC)]
    out = calendar_windows(ts, [1.0, 2.0], _msd, include_empty=False)
    assert len(out) == 2


def test_naive_timestamps_are_utc():
    out = calendar_windows([datetime(2025, 1, 31, 23, 30)], [1.0], _msd, tz="Europe/Berlin")
    assert out[0].start.month == 2


def test_rolling_windows_of_n_ratings_in_time_order():
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    ts = [t0 + timedelta(days=d) for d in (3, 1, 2, 0)]
    values = [0, 1, 1, 1]  # in time order: 1, 1, 1, 0
    out = rolling_windows(ts, values, lambda v: exact_agreement(v, [1] * len(v)), size=2)
    assert [w.estimate.value for w in out] == [1.0, 1.0, 0.5]
    assert out[0].start == t0 and out[-1].end == t0 + timedelta(days=3)
    assert len(rolling_windows(ts, values, lambda v: exact_agreement(v, [1] * len(v)),
                               size=2, step=2)) == 2


def test_cusum_detects_upward_and_downward_drift():
    series = [0.1, -0.2, 0.0, 0.1, 1.2, 1.0, 1.4, 0.0, -1.5, -1.2, -1.4]
    c = cusum(series, target=0.0, slack=0.5, threshold=1.5)
    assert c.upper_alarms == (6,)
    assert c.lower_alarms == (9,)
    assert c.alarms == (6, 9)
    assert c.upper[4] == pytest.approx(0.7)
    assert all(v >= 0 for v in c.upper + c.lower)


def test_cusum_without_reset_keeps_alarming_and_skips_missing():
    c = cusum([1, 1, None, 1, float("nan"), 1], target=0, slack=0, threshold=1.5, reset=False)
    assert c.upper == (1.0, 2.0, 2.0, 3.0, 3.0, 4.0)
    assert c.upper_alarms == (1, 3, 5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-5, 5), max_size=40), st.floats(0, 2), st.floats(0.1, 5))
def test_cusum_matches_the_recursion(series, slack, threshold):
    c = cusum(series, 0.0, slack, threshold, reset=False)
    hi = lo = 0.0
    for i, x in enumerate(series):
        hi = max(0.0, hi + x - slack)
        lo = max(0.0, lo - slack - x)
        assert c.upper[i] == pytest.approx(hi)
        assert c.lower[i] == pytest.approx(lo)
        assert (i in c.upper_alarms) == (hi > threshold)
