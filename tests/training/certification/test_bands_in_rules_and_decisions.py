"""Band agreement is a criterion only where an instrument's published scheme has bands: rules,
their migration, decisions, decision consistency and the feedback pages."""

import importlib

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError
from django.utils import timezone

from tests.conftest import api_for, browser_for
from tests.training.helpers import (
    EXAM_DAY,
    PRACTICE,
    make_exam,
    rating_put,
    reference_body,
    take_and_pass,
)
from training.certification import decisions, rules
from training.certification.decisions import VignetteEvidence
from training.models import CertificationDecision, CertificationRule, FeedbackPolicy
from training.reliability import decision_consistency
from vignettes.models import Instrument, ReferenceScoring

pytestmark = pytest.mark.django_db
migration = importlib.import_module(
    "training.migrations.0017_rules_without_bands_drop_band_agreement")


def test_a_rule_for_an_instrument_without_bands_never_requires_band_agreement(org, org_admin):
    with pytest.raises(ValidationError) as exc:
        rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                        band_agreement=0.8)
    assert "CPORT has no published risk bands" in str(exc.value.message_dict["band_agreement"])
    assert not CertificationRule.objects.exists()
    cport = rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport")
    assert cport.band_agreement is None
    with pytest.raises(ValidationError):
        rules.rule_save(actor=org_admin, organization=org, rule=cport, band_agreement=0.7)
    stable = rules.rule_save(actor=org_admin, organization=org, instrument_slug="stable-2007")
    assert stable.band_agreement == 0.80
    stable = rules.rule_save(actor=org_admin, organization=org, rule=stable,
                             band_agreement=None)
    assert stable.band_agreement is None


def test_the_data_migration_switches_band_agreement_off_only_where_bands_are_missing(
        org, org_admin):
    now = timezone.now()
    for slug in ("cport", "stable-2007", "static-99r"):
        CertificationRule.objects.create(
            organization=org, instrument=Instrument.objects.bundled().get(slug=slug),
            band_agreement=0.8, updated_at=now)
    migration.switch_off(django_apps, None)
    found = dict(CertificationRule.objects.values_list("instrument__slug", "band_agreement"))
    assert found == {"cport": None, "stable-2007": 0.8, "static-99r": 0.8}
    migration.switch_back(django_apps, None)
    assert CertificationRule.objects.get(instrument__slug="cport").band_agreement == 0.8


def test_the_edit_form_shows_band_agreement_as_not_applicable_for_cport(org, org_admin):
    rule = rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport")
    browser = browser_for(org_admin)
    page = browser.get(f"/certification/manage/rules/{rule.pk}/").content.decode()
    assert "Not applicable: CPORT has no published risk bands." in page
    data = {"min_exam_vignettes": "10", "item_agreement": "0.85", "total_tolerance": "1",
            "total_within_tolerance": "0.8", "band_agreement": "0.9", "icc_a1": "0.8",
            "validity_months": "24", "retake_wait_days": "14",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value}
    # The field is disabled: a posted value is ignored, the rule keeps no band criterion.
    assert browser.post(f"/certification/manage/rules/{rule.pk}/", data).status_code == 302
    rule.refresh_from_db()
    assert rule.band_agreement is None
    assert "not applicable (no published bands)" in browser.get(
        "/certification/manage/").content.decode()


def test_a_cport_decision_has_band_agreement_not_applicable_and_admins_see_why(
        org, org_admin, trainee, instructor):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                    min_exam_vignettes=7, exam_feedback_policy=FeedbackPolicy.IMMEDIATE,
                    now=EXAM_DAY.replace(year=2025))
    exam = make_exam(org, [trainee], instructor, draw=7, policy=FeedbackPolicy.IMMEDIATE)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = take_and_pass(api_for(trainee), exam)
        decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
        assert decision.passed
        admin = api_for(org_admin).get(f"/api/v1/certification-decisions/{decision.pk}/")
        mine = api_for(trainee).get(f"/api/v1/certification-decisions/{decision.pk}/")
        page = browser_for(org_admin).get(f"/certification/decisions/{decision.pk}/")
    assert admin.status_code == 200, admin.content
    band = next(c for c in admin.json()["criteria"] if c["key"] == "band_agreement")
    assert (band["applicable"], band["threshold"], band["passed"]) == (False, None, True)
    assert admin.json()["band_consistency"] == {
        "applicable": False, "reason": "Not applicable: CPORT has no published risk bands."}
    # The candidate sees the criteria, never the counts near the boundaries.
    assert mine.status_code == 200 and mine.json()["band_consistency"] is None
    html = page.content.decode()
    assert 'data-criterion="band_agreement"' in html and "criterion-na" in html
    assert 'id="band-consistency-na"' in html


def test_decision_consistency_of_an_exam_on_an_instrument_with_bands(content):
    stable = Instrument.objects.bundled().get(slug="stable-2007")
    refs = list(ReferenceScoring.objects.filter(
        instrument_version=stable.current_version, applicable=True).order_by("pk")[:12])
    shifts = [0, 1, -1, 2, 0, 3, -2, 1, 0, 0, -1, 1]
    evidence = [VignetteEvidence(applicable=True, codes={}, total=r.result().total + s,
                                 band_code="", reference=r) for r, s in zip(refs, shifts,
                                                                            strict=True)]
    got = decisions.band_consistency(evidence, stable)
    ref_totals = [r.result().total for r in refs]
    expected = decision_consistency([t + s for t, s in zip(ref_totals, shifts, strict=True)],
                                    ref_totals,
                                    [("low", 0, 3), ("moderate", 4, 11), ("high", 12, 26)])
    assert got["applicable"] is True
    assert got["band_agreement"]["value"] == expected.band_agreement.value
    assert got["band_agreement"]["n"] == 12
    assert [b["crossed"]["n"] for b in got["boundaries"]] == [
        b.crossed.n_units for b in expected.boundaries]


def test_feedback_shows_no_band_for_an_instrument_without_bands(trainee):
    api = api_for(trainee)
    attempt = api.post("/api/v1/attempts/", {"vignette": PRACTICE,
                                             "instruments": ["cport", "stable-2007"]},
                       format="json").json()
    for instrument in ("cport", "stable-2007"):
        assert rating_put(api, attempt["id"], reference_body(PRACTICE, instrument)
                          ).status_code == 200
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    feedback = {f["instrument"]: f for f in api.get(
        f"/api/v1/attempts/{attempt['id']}/feedback/").json()}
    assert feedback["cport"]["bands_applicable"] is False
    assert feedback["cport"]["band"] is None and feedback["cport"]["reference_band"] is None
    assert feedback["stable-2007"]["bands_applicable"] is True
    assert feedback["stable-2007"]["reference_band"]
    html = browser_for(trainee).get(f"/attempts/{attempt['id']}/feedback/").content.decode()
    assert "CPORT has no published risk bands" in html
