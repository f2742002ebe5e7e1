"""The cohort snapshot: the cached arrays give the same dashboard as a fresh read, and every
change that matters shows at once."""

import datetime as dt

import numpy as np
import pytest
import time_machine
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import api_for
from training.attempts.services import attempt_start_practice, attempt_submit, rating_save_draft
from training.models import Cohort, Membership, Rating
from training.organisation import erasure
from training.reliability import mean_signed_deviation
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from training.teaching import snapshot
from training.teaching import trainees as trainee_stats
from vignettes.models import Instrument, Vignette

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 6, 10, 0, tzinfo=dt.UTC)


def simulate(org, name, trainees, seed=3):
    cohort = Cohort.objects.create(organization=org, name=name)
    simulate_cohort(
        organization=org, cohort=cohort, trainees=trainees, vignettes=4, months=2, seed=seed,
        start=NOW - dt.timedelta(days=61), instruments=["stable-2007"],
        username_prefix=f"{name.lower()}-",
    )
    return cohort


@pytest.fixture
def taught(org, instructor):
    with time_machine.travel(NOW, tick=False):
        cohort = simulate(org, "Alpha", trainees=5)
        cohort.instructors.add(instructor)
        yield cohort


@pytest.fixture
def stable():
    return Instrument.objects.get(slug="stable-2007")


def _same(a, b):
    if isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype.kind == np.asarray(b).dtype.kind
    else:
        assert a == b


def test_the_cached_snapshot_holds_exactly_what_a_fresh_read_gives(taught, stable):
    fresh = teaching_data.cohort_data(cohort=taught, instrument=stable)
    cached = teaching_data.unpack(teaching_data.pack(fresh), cohort=taught, instrument=stable)
    assert fresh.n >= 20
    for name in ("trainee_names", "item_codes", "item_names", "item_values", "rating_ids",
                 "trainee", "revision", "attempt", "submitted_us", "applicable",
                 "ref_applicable", "total", "ref_total", "band", "ref_band", "first", "codes",
                 "ref_codes", "revisions", "reference_ids", "rationale", "bands",
                 "total_tolerance"):
        _same(getattr(fresh, name), getattr(cached, name))
    assert cached.submitted_at == fresh.submitted_at
    assert all(t.tzinfo is not None for t in fresh.submitted_at)
    # Every statistic of the dashboard is the same from both.
    for data in (fresh, cached):
        data.rows = trainee_stats.trainee_rows(data, now=NOW)
        data.windows = cohort_reliability.reliability_over_time(data)
    assert repr(fresh.rows) == repr(cached.rows)
    assert repr(fresh.windows) == repr(cached.windows)


def test_the_api_answers_the_same_cold_and_warm(instructor, taught):
    api = api_for(instructor)
    url = f"/api/v1/cohorts/{taught.pk}/reliability/?instrument=stable-2007"
    with time_machine.travel(NOW, tick=False):
        caches["snapshots"].clear()
        cold = api.get(url).json()
        warm = api.get(url).json()
    assert cold == warm
    assert len(cold["trainees"]) == 5


def _rows_one_by_one(data, now):
    """The trainee rows as they were computed before, trainee by trainee (the reference the
    grouped computation must reproduce)."""
    matches, both = data.matches(), data.both
    times = np.array([t.timestamp() for t in data.submitted_at])
    recent_start = (now - dt.timedelta(weeks=8)).timestamp()
    previous_start = (now - dt.timedelta(weeks=16)).timestamp()
    band_hit = np.array([b == r for b, r in zip(data.band, data.ref_band, strict=True)])
    out = {}
    for user_id in data.trainee_names:
        mine = np.nonzero(data.trainee == user_id)[0]
        sel = mine[both[mine]]
        totals, refs = data.total[sel], data.ref_total[sel]
        ok = ~np.isnan(totals) & ~np.isnan(refs)

        def mean(v):
            return None if v.size == 0 or np.isnan(v).all() else float(np.nanmean(v))

        out[user_id] = {
            "ratings": int(mine.size),
            "item_agreement": mean(matches[sel]),
            "within_one": float(np.mean(np.abs(totals[ok] - refs[ok]) <= 1)) if ok.any()
            else None,
            "band_agreement": float(np.mean(band_hit[sel])) if sel.size and data.bands
            else None,
            "applicability_agreement": float(np.mean(
                data.applicable[mine] == data.ref_applicable[mine])) if mine.size else None,
            "deviation": mean_signed_deviation(totals[ok], refs[ok]),
            "recent_agreement": mean(matches[sel[times[sel] >= recent_start]]),
            "previous_agreement": mean(matches[sel[(times[sel] >= previous_start)
                                                   & (times[sel] < recent_start)]]),
        }
    return out


def test_grouped_trainee_rows_equal_the_trainee_by_trainee_computation(taught, stable, trainee):
    taught.trainees.add(trainee)  # a trainee without ratings has a row of nothing
    data = teaching_data.cohort_data(cohort=taught, instrument=stable)
    expected = _rows_one_by_one(data, NOW)
    rows = trainee_stats.trainee_rows(data, now=NOW)
    assert [r.username for r in rows] == sorted(data.trainee_names.values())
    for row in rows:
        want = expected[row.user_id]
        for name, value in want.items():
            got = getattr(row, name)
            if name == "deviation":
                assert got.value == pytest.approx(value.value, abs=1e-12, nan_ok=True)
                assert got.n_units == value.n_units
                assert got.undefined_reason == value.undefined_reason
                if value.ci95 is None:
                    assert got.ci95 is None
                else:
                    assert got.ci95 == pytest.approx(value.ci95, abs=1e-12)
            else:
                assert got == pytest.approx(value, abs=1e-12), (row.username, name)
    assert next(r for r in rows if r.user_id == trainee.pk).ratings == 0


def _rate(user, org, slug, when):
    attempt = attempt_start_practice(user=user, organization=org, vignette_slug=slug,
                                     instrument_slugs=["stable-2007"], now=when)
    rating_save_draft(attempt=attempt, vignette=slug, instrument="stable-2007", revision=0,
                      applicable=False, items=None, now=when)
    attempt_submit(attempt=attempt, now=when)


def test_a_new_submission_shows_at_once(org, taught, stable):
    with time_machine.travel(NOW, tick=False):
        before = snapshot.cohort_snapshot(cohort=taught, instrument=stable)
        # Served from the snapshot while nothing changes (the rows are not read again).
        with CaptureQueriesContext(connection) as ctx:
            again = snapshot.cohort_snapshot(cohort=taught, instrument=stable)
        assert not any("training_rating" in q["sql"] for q in ctx.captured_queries)
        assert again.n == before.n
        user = taught.trainees.order_by("username").first()
        slug = Vignette.objects.filter(pool="practice", owner__isnull=True).first().slug
        _rate(user, org, slug, NOW)
        after = snapshot.cohort_snapshot(cohort=taught, instrument=stable)
    assert after.n == before.n + 1
    assert int(after.rating_ids.max()) == Rating.objects.latest("pk").pk
    fresh = teaching_data.cohort_data(cohort=taught, instrument=stable)
    np.testing.assert_array_equal(after.rating_ids, fresh.rating_ids)


def test_membership_name_deletion_and_erasure_show_at_once(org, other_org, org_admin, taught,
                                                          stable):
    other = simulate(other_org, "Gamma", trainees=2, seed=5)
    with time_machine.travel(NOW, tick=False):
        snapshot.cohort_snapshot(cohort=taught, instrument=stable)
        elsewhere = snapshot.snapshot_key(other, stable)
        leaving = taught.trainees.order_by("username").first()
        taught.trainees.remove(leaving)
        data = snapshot.cohort_snapshot(cohort=taught, instrument=stable)
        assert leaving.pk not in data.trainee_names and leaving.pk not in data.trainee
        # Another organisation's snapshots stay where they were.
        assert snapshot.snapshot_key(other, stable) == elsewhere
        renamed = taught.trainees.order_by("username").first()
        renamed.username = "renamed-trainee"
        renamed.save()
        data = snapshot.cohort_snapshot(cohort=taught, instrument=stable)
        assert data.trainee_names[renamed.pk] == "renamed-trainee"
        one = Rating.objects.filter(pk=int(data.rating_ids[0]))
        one.get().delete()
        assert int(data.rating_ids[0]) not in snapshot.cohort_snapshot(
            cohort=taught, instrument=stable).rating_ids
        # Erasure moves the member's ratings to a pseudonym.
        erased = erasure.member_erase(
            actor=org_admin, organization=org, confirm="renamed-trainee",
            membership=Membership.objects.get(organization=org, user=renamed))
        data = snapshot.cohort_snapshot(cohort=taught, instrument=stable)
        assert "renamed-trainee" not in data.trainee_names.values()
        assert erased.pseudonym in data.trainee_names.values()
        fresh = teaching_data.cohort_data(cohort=taught, instrument=stable)
        assert data.trainee_names == fresh.trainee_names
        np.testing.assert_array_equal(data.trainee, fresh.trainee)


def test_warm_dashboard_queries_do_not_grow_with_trainees(org, settings, stable):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": "snapshot-query-count"},
        "snapshots": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                      "LOCATION": "snapshot-query-count-arrays"},
    }
    counts = []
    with time_machine.travel(NOW, tick=False):
        for name, size in (("Small", 2), ("Large", 8)):
            cohort = simulate(org, name, trainees=size, seed=7)
            for _ in range(2):  # cold, then warm
                with CaptureQueriesContext(connection) as ctx:
                    data = snapshot.cohort_snapshot(cohort=cohort, instrument=stable)
                    trainee_stats.trainee_rows(data, now=timezone.now())
                    cohort_reliability.reliability_over_time(data)
                counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[2] and counts[1] == counts[3]
    assert counts[1] < counts[0]
