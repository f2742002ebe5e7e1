"""Consistency with oneself: a recalibration now and then retests a recalibration-pool case the
holder rated at least six months before, without saying so, and the organisation sees the
test–retest agreement beside the holder's drift status (page and API, admins only)."""

import datetime as dt

import pytest

from tests.conftest import api_for, browser_for, make_member
from tests.training.helpers import certify
from training.certification import recalibration, retest
from training.models import (
    Attempt,
    AttemptStatus,
    AuditEvent,
    Mode,
    Rating,
    Recalibration,
    RetestDraw,
    Role,
)
from vignettes.models import Instrument, Pool, ReferenceScoring, Vignette

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("certificates_clock")]

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
SEVEN_MONTHS = dt.timedelta(days=213)


@pytest.fixture
def pool(org):
    """Twenty of the bundled cases with a CPORT reference, made North's recalibration pool."""
    version = Instrument.objects.bundled().get(slug="cport").current_version
    revisions = ReferenceScoring.objects.filter(instrument_version=version).values(
        "vignette_revision_id")
    ids = list(Vignette.objects.filter(owner__isnull=True, current_revision_id__in=revisions)
               .order_by("slug").values_list("pk", flat=True)[:20])
    Vignette.objects.filter(pk__in=ids).update(owner=org, pool=Pool.RECALIBRATION)
    return Vignette.objects.filter(pk__in=ids)


@pytest.fixture
def params(rule):
    rule.recalibration_interval_days = 30
    rule.recalibration_size = 4
    rule.save()
    return recalibration.params_for(rule)


def rate(attempt, at, codes=lambda order: {"C1": 1, "C2": 0, "C3": order % 2}, applicable=True):
    """Rate every case of the attempt (codes by case order) and submit it."""
    version = attempt.instrument_versions.get()
    for av in attempt.attempt_vignettes.order_by("order"):
        values = codes(av.order)
        Rating.objects.create(attempt=attempt, vignette_revision=av.vignette_revision,
                              instrument_version=version, applicable=applicable,
                              codes=values if applicable else None,
                              total=sum(v for v in values.values() if v) if applicable else None,
                              updated_at=at, submitted_at=at)
    Attempt.objects.filter(pk=attempt.pk).update(status=AttemptStatus.SUBMITTED, submitted_at=at)
    Recalibration.objects.filter(attempt=attempt).update(completed_at=at)


def revisions(recal):
    return set(recal.attempt.attempt_vignettes.values_list("vignette_revision_id", flat=True))


def test_a_case_rated_seven_months_ago_is_drawn_again_unflagged_and_not_before_six_months(
        org, rule, trainee, org_admin, pool, params):
    cert = certify(org, trainee, at=T0, rule=rule)
    first = recalibration.recalibration_assign(cert=cert, params=params,
                                               now=T0 + dt.timedelta(days=30))
    assert first.from_organization_pool and not RetestDraw.objects.exists()
    rated_at = T0 + dt.timedelta(days=31)
    rate(first.attempt, rated_at)
    # Five months on, nothing is old enough; the last day before six months neither.
    second = recalibration.recalibration_assign(cert=cert, params=params,
                                                now=rated_at + dt.timedelta(days=150))
    assert not RetestDraw.objects.exists() and not revisions(second) & revisions(first)
    rate(second.attempt, rated_at + dt.timedelta(days=151))
    assert retest.retest_candidates(cert=cert, now=rated_at + dt.timedelta(days=182)) == []
    assert len(retest.retest_candidates(cert=cert, now=rated_at + retest.RETEST_MIN_AGE)) == 4
    # Seven months on: one of the first recalibration's cases, in place of a new one.
    now = rated_at + SEVEN_MONTHS
    third = recalibration.recalibration_assign(cert=cert, params=params, now=now)
    draw = RetestDraw.objects.get()
    assert draw.recalibration == third and draw.drawn_at == now
    assert draw.first_rating.attempt_id == first.attempt_id
    drawn = revisions(third)
    assert len(drawn) == params.size
    assert drawn & (revisions(first) | revisions(second)) == {draw.first_rating.vignette_revision_id}
    assert AuditEvent.objects.filter(action="recalibration.retest_drawn", subject__isnull=True,
                                     object_id=str(draw.pk)).exists()
    # Deterministic: the same certificate and period draw the same case in the same place.
    again = retest.retest_pick(cert=cert, size=params.size, period=third.period, now=now)
    assert again is None  # the case is now retested; it is never drawn a third time
    # The holder's attempt and its API read like any other recalibration's.
    attempt = api_for(trainee).get(f"/api/v1/attempts/{third.attempt_id}/")
    assert attempt.status_code == 200 and b"retest" not in attempt.content.lower()
    page = browser_for(trainee).get(f"/attempts/{third.attempt_id}/")
    assert page.status_code == 200 and b"retest" not in page.content.lower()
    mine = browser_for(trainee).get("/recalibration/")
    assert b"retest" not in mine.content.lower()  # told in general (page text), never which
    # The organisation's audit trail names the draw.
    audit = browser_for(org_admin).get("/manage/audit/")
    assert audit.status_code == 200 and b"recalibration.retest_drawn" in audit.content


def test_pools_stay_separate_practice_and_exam_cases_are_never_retested(
        org, rule, trainee, pool, params):
    cert = certify(org, trainee, at=T0, rule=rule)
    version = cert.instrument_version
    practice = Vignette.objects.bundled().filter(pool=Pool.PRACTICE).exclude(
        current_revision__isnull=True).first()
    exam_case = pool.first()  # a recalibration-pool case, but rated in an exam
    for mode, vignette in ((Mode.PRACTICE, practice), (Mode.EXAM, exam_case)):
        attempt = Attempt.objects.create(user=trainee, organization=org, mode=mode,
                                         started_at=T0, submitted_at=T0,
                                         status=AttemptStatus.SUBMITTED)
        Rating.objects.create(attempt=attempt, vignette_revision=vignette.current_revision,
                              instrument_version=version, applicable=True, codes={"C1": 1},
                              total=1, updated_at=T0, submitted_at=T0)
    assert retest.retest_candidates(cert=cert, now=T0 + dt.timedelta(days=400)) == []


def test_at_most_one_case_in_ten_is_a_retest(org, rule, trainee, pool, params):
    cert = certify(org, trainee, at=T0, rule=rule)
    first = recalibration.recalibration_assign(cert=cert, params=params,
                                               now=T0 + dt.timedelta(days=30))
    rate(first.attempt, T0 + dt.timedelta(days=31))
    # 4 cases drawn so far + 4 now = 8 < 10: no retest yet, however old the ratings.
    assert not retest.retest_allowed(cert=cert, size=4)
    assert retest.retest_pick(cert=cert, size=4, period=2, now=T0 + dt.timedelta(days=400)) is None
    assert retest.retest_allowed(cert=cert, size=6)


def test_agreement_on_hand_checked_pairs_and_scoped_to_the_organisation(
        org, other_org, rule, trainee, org_admin, admin_b, pool, params, monkeypatch):
    """One recalibration's four cases coded (1, 0, 1), total 2; three of them retested later,
    coded (1, 0, 1), (1, 1, 1) and (0, 0, 0)."""
    monkeypatch.setattr(retest, "RETEST_SHARE", 1)  # the share rule has its own test
    cert = certify(org, trainee, at=T0, rule=rule)
    first = recalibration.recalibration_assign(cert=cert, params=params,
                                               now=T0 + dt.timedelta(days=30))
    rate(first.attempt, T0 + dt.timedelta(days=31), codes=lambda order: {"C1": 1, "C2": 0, "C3": 1})
    later = T0 + dt.timedelta(days=31) + SEVEN_MONTHS
    for index, codes in enumerate(({"C1": 1, "C2": 0, "C3": 1}, {"C1": 1, "C2": 1, "C3": 1},
                                   {"C1": 0, "C2": 0, "C3": 0})):
        at = later + dt.timedelta(days=31 * index)
        again = recalibration.recalibration_assign(cert=cert, params=params, now=at)
        assert RetestDraw.objects.filter(recalibration=again).exists()
        rate(again.attempt, at + dt.timedelta(days=1), codes=lambda order, c=codes: c)
    result = retest.certificate_retest(cert)
    # Items: 3 + 2 + 1 (C2) identical of 9; totals 2 -> 2, 3, 0: |d| 0, 1, 2; d 0, +1, -2.
    assert (result.n_pairs, result.n_scored_pairs, result.n_items) == (3, 3, 9)
    assert result.item_agreement == pytest.approx(6 / 9)
    assert result.mean_abs_total_difference == pytest.approx(1.0)
    assert result.mean_total_difference == pytest.approx(-1 / 3)
    assert result.icc is None and "3 pairs" in result.icc_reason

    # The organisation's page shows it beside the drift status; another organisation's admin
    # sees nothing of it and the holder cannot open the page.
    page = browser_for(org_admin).get("/recalibration/alerts/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "trainee-a" in body and "66.7 %" in body and "n = 9 item codes" in body
    assert "1.00" in body and "-0.33" in body and "at least 10 needed" in body
    assert "trainee-a" not in browser_for(admin_b).get("/recalibration/alerts/").content.decode()
    assert browser_for(trainee).get("/recalibration/alerts/").status_code in (403, 404)
    # API: the admin reads it on the certificate; the holder reads null.
    admin_row = api_for(org_admin).get(f"/api/v1/certificates/{cert.pk}/").json()
    assert admin_row["retest"]["n_pairs"] == 3
    assert admin_row["retest"]["item_agreement"] == pytest.approx(6 / 9)
    assert admin_row["retest"]["icc_a1"] is None
    listed = api_for(org_admin).get("/api/v1/certificates/").json()["results"]
    assert listed[0]["retest"]["n_scored_pairs"] == 3
    own = api_for(trainee).get(f"/api/v1/certificates/{cert.pk}/").json()
    assert own["retest"] is None
    assert api_for(trainee).get("/api/v1/certificates/").json()["results"][0]["retest"] is None
    assert api_for(admin_b).get(f"/api/v1/certificates/{cert.pk}/").status_code == 404


def test_below_the_minimum_the_page_says_not_enough_data(org, rule, trainee, org_admin, pool, params):
    certify(org, trainee, at=T0, rule=rule)
    body = browser_for(org_admin).get("/recalibration/alerts/").content.decode()
    assert "not enough data: 0 pairs, at least 3 needed" in body


def test_another_member_of_the_org_who_is_not_admin_gets_no_retest(org, rule, trainee, pool, params):
    instructor = make_member(org, Role.INSTRUCTOR, "teacher-x")
    cert = certify(org, trainee, at=T0, rule=rule)
    assert api_for(instructor).get(f"/api/v1/certificates/{cert.pk}/").status_code == 404


# --- many holders at once: a constant number of queries ------------------------------------


def add_holders(org, rule, params, first_index, count):
    """`count` more certified holders, holder i with 1 + i % 3 retested cases whose codes
    differ from the first ratings by holder and case."""
    certs = []
    for i in range(first_index, first_index + count):
        cert = certify(org, make_member(org, Role.TRAINEE, f"holder-{i:02d}"), at=T0, rule=rule)
        first = recalibration.recalibration_assign(cert=cert, params=params,
                                                   now=T0 + dt.timedelta(days=30))
        rate(first.attempt, T0 + dt.timedelta(days=31),
             codes=lambda order, i=i: {"C1": 1, "C2": i % 2, "C3": order % 2})
        for k in range(1 + i % 3):
            at = T0 + dt.timedelta(days=31) + SEVEN_MONTHS + dt.timedelta(days=31 * k)
            again = recalibration.recalibration_assign(cert=cert, params=params, now=at)
            rate(again.attempt, at + dt.timedelta(days=1),
                 codes=lambda order, i=i, k=k: {"C1": (i + k) % 2, "C2": i % 2, "C3": k % 2})
        certs.append(cert)
    return certs


def one_by_one(cert):
    """The plain reading, one holder at a time: what the batched summaries must equal."""
    pairs = retest.retest_pairs(holder_id=cert.holder_id, organization_id=cert.organization_id,
                                instrument_id=cert.instrument_version.instrument_id)
    return retest.retest_agreement([(retest._occasion(a), retest._occasion(b)) for a, b in pairs])


def test_every_holders_agreement_in_a_constant_number_of_queries(
        org, other_org, rule, org_admin, admin_b, pool, params, monkeypatch,
        django_assert_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from training.certification import recalibration_views

    monkeypatch.setattr(retest, "RETEST_SHARE", 1)  # the share rule has its own test
    page_client, api_client = browser_for(org_admin), api_for(org_admin)
    page_client.get("/recalibration/alerts/")  # warm the session and caches
    api_client.get("/api/v1/certificates/")

    def counted(n):
        with django_assert_num_queries(3):
            summaries = retest.retest_summaries(organization=org)
        assert len(summaries) == n
        with CaptureQueriesContext(connection) as page_queries:
            page = page_client.get("/recalibration/alerts/")
        with CaptureQueriesContext(connection) as api_queries:
            listed = api_client.get("/api/v1/certificates/")
        assert page.status_code == 200 and listed.status_code == 200
        return summaries, len(page_queries), len(api_queries), listed.json()["results"]

    certs = add_holders(org, rule, params, 0, 2)
    two, page_two, api_two, _ = counted(2)
    certs += add_holders(org, rule, params, 2, 4)
    six, page_six, api_six, listed = counted(6)
    assert (page_six, api_six) == (page_two, api_two)

    # The numbers are the plain one-holder reading's, holder by holder, on page and API alike.
    assert six[certs[0].pk] == two[certs[0].pk]
    assert sorted(s.n_pairs for s in six.values()) == [1, 1, 2, 2, 3, 3]
    for cert in certs:
        assert six[cert.pk] == one_by_one(cert)
    by_id = {row["id"]: row["retest"] for row in listed}
    for cert in certs:
        assert by_id[cert.pk] == six[cert.pk].as_dict()
    three = six[certs[2].pk]  # holder 2: three pairs, item values shown
    assert three.n_scored_pairs == 3 and three.item_agreement is not None
    detail = api_client.get(f"/api/v1/certificates/{certs[2].pk}/").json()["retest"]
    assert detail["item_agreement"] == pytest.approx(three.item_agreement)
    # Only the organisation's certificates are answered for.
    assert retest.retest_summaries(organization=other_org, certificates=certs) == {}
    assert retest.retest_summaries(organization=org, certificates=certs[:1]) == {
        certs[0].pk: six[certs[0].pk]}

    # Paged (here two a page): the status filter of the alerts stays on the page links.
    monkeypatch.setattr(recalibration_views, "HOLDERS_PAGE_SIZE", 2)
    body = page_client.get("/recalibration/alerts/?status=open&page=2").content.decode()
    assert "holder-02" in body and "holder-03" in body
    assert "holder-01" not in body and "holder-04" not in body
    assert "6 certificates, page 2 of 3" in body
    assert "?status=open&amp;page=3#holders" in body and "?status=open&amp;page=1#holders" in body
    assert "holder-0" not in browser_for(admin_b).get("/recalibration/alerts/").content.decode()
