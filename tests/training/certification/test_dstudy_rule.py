"""The rule's D-study: the page's Phi(lambda) is Brennan's formula on the rule's own scores, a
rule whose exam is too short is refused without an explicit, recorded acceptance, and the exam
criteria use clustered intervals and a pool-aware ICC(A,1) criterion."""

import datetime as dt

import numpy as np
import pytest
import time_machine
from django.core.exceptions import ValidationError

from tests.conftest import browser_for, make_member
from training.certification import dstudy, rules
from training.models import AuditEvent, CertificationRule, Cohort, Role
from training.simulation import simulate_cohort

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def history(org, clock):
    cohort = Cohort.objects.create(organization=org, name="Sim")
    simulate_cohort(organization=org, cohort=cohort, trainees=8, vignettes=10, months=2,
                    seed=11, start=NOW - dt.timedelta(days=70), ratings_per_trainee=10)
    return cohort


def _short_rule(org, admin):
    # No data yet when the rule is made; one exam vignette cannot carry a decision.
    rule = rules.rule_save(actor=admin, organization=org, instrument_slug="cport",
                           accept_short_exam=True, min_exam_vignettes=1)
    return CertificationRule.objects.get(pk=rule.pk)


def test_the_d_study_is_brennans_formula_on_the_rules_own_scores(org, org_admin, history):
    rule = _short_rule(org, org_admin)
    study = dstudy.rule_dependability(rule=rule, values={"min_exam_vignettes": 10}, n_boot=0)
    within, items = dstudy.rule_scores(rule=rule, tolerance=rule.total_tolerance)
    assert study.n_scores == len(within) and study.n_raters >= 2
    for s, scores in zip(study.studies, (within, items), strict=True):
        assert s.result is not None, s.reason
        vc = s.result.components
        values = np.array(list(scores.values()))
        users = [u for _, u in scores]
        units = [v for v, _ in scores]
        n = len(values)
        # By hand: the variance of the observed mean, (mu - lambda)^2 truncated at 0, Phi.
        var_mean = (vc.rater * sum(users.count(u) ** 2 for u in set(users))
                    + vc.vignette * sum(units.count(v) ** 2 for v in set(units))
                    + vc.residual * n) / n**2
        d = max(0.0, (values.mean() - s.cut) ** 2 - var_mean)
        phi = (vc.rater + d) / (vc.rater + d + (vc.vignette + vc.residual) / 10)
        assert s.phi == pytest.approx(phi)
        assert s.result.estimate.extra["mean"] == pytest.approx(values.mean())
    assert set(within.values()) <= {0.0, 1.0}
    assert all(0 <= v <= 1 for v in items.values())


def test_a_short_exam_is_refused_without_acceptance_and_recorded_with_it(
        org, org_admin, history):
    rule = _short_rule(org, org_admin)
    assert dstudy.rule_dependability(rule=rule, n_boot=0).below_target
    with pytest.raises(ValidationError) as exc:
        rules.rule_save(actor=org_admin, organization=org, rule=rule, validity_months=36)
    message = " ".join(exc.value.message_dict["accept_short_exam"])
    assert "below the target 0.80" in message and "I accept an exam shorter" in message
    assert "trainees' first ratings" in message
    rule.refresh_from_db()
    assert rule.validity_months == 24  # nothing half-stored
    with time_machine.travel(NOW + dt.timedelta(hours=1), tick=False):
        rules.rule_save(actor=org_admin, organization=org, rule=rule, validity_months=36,
                        accept_short_exam=True)
    rule.refresh_from_db()
    assert rule.validity_months == 36
    assert rule.short_exam_accepted_by == org_admin
    assert rule.short_exam_accepted_at == NOW + dt.timedelta(hours=1)
    event = AuditEvent.objects.filter(action="certification_rule.short_exam_accepted",
                                      object_id=str(rule.pk)).latest("at")
    assert event.after["n_exam"] == 1 and event.after["n_raters"] >= 2


def test_the_rule_page_warns_and_says_how_many_vignettes_with_its_data(
        org, org_admin, other_org, history):
    rule = _short_rule(org, org_admin)
    study = dstudy.rule_dependability(rule=rule, n_boot=20)
    html = browser_for(org_admin).get(f"/certification/manage/rules/{rule.pk}/").content.decode()
    assert 'id="short-exam-warning"' in html
    assert "shorter than its own D-study suggests" in html
    assert f"{study.n_raters} trainees' first submitted ratings of {study.n_vignettes}" in html
    assert "(truncated at 0)" in html or "(X̄ − λ)² − σ²(X̄)" in html
    assert "The ICC(A,1) criterion on this exam pool" in html
    # Another organisation's admin never sees this rule or its D-study.
    outsider = make_member(other_org, Role.ORG_ADMIN, "admin-south")
    assert browser_for(outsider).get(
        f"/certification/manage/rules/{rule.pk}/").status_code == 404


def test_the_rule_form_refuses_a_short_exam_without_the_checkbox(org, org_admin, history):
    rule = _short_rule(org, org_admin)
    client = browser_for(org_admin)
    client.get(f"/certification/manage/rules/{rule.pk}/")
    data = {"min_exam_vignettes": "1", "item_agreement": "0.85", "total_tolerance": "1",
            "total_within_tolerance": "0.8", "band_agreement": "0.8", "icc_a1": "0.8",
            "applicability_every_vignette": "on", "validity_months": "30",
            "retake_wait_days": "14", "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    refused = client.post(f"/certification/manage/rules/{rule.pk}/", data)
    assert refused.status_code == 400
    assert "I accept an exam shorter than the D-study suggests" in refused.content.decode()
    assert CertificationRule.objects.get(pk=rule.pk).validity_months == 24
    accepted = client.post(f"/certification/manage/rules/{rule.pk}/",
                           data | {"accept_short_exam": "on", "icc_a1_required": "no"})
    assert accepted.status_code == 302
    rule.refresh_from_db()
    assert rule.validity_months == 30 and rule.icc_a1_required is False
    assert rule.short_exam_accepted_by == org_admin


def test_icc_is_not_required_on_the_bundled_cport_pool_and_says_why(org, org_admin):
    rule = rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport")
    requirement = dstudy.icc_requirement(rule)
    assert requirement.automatic and requirement.check.n_pool >= 10
    assert requirement.required is requirement.check.discriminates
    assert "simulated exams" in requirement.reason
    rule.icc_a1_required = True
    assert dstudy.icc_requirement(rule).required is True


def test_the_rules_api_refuses_a_short_exam_unless_confirmed(org, org_admin, other_org, history):
    from tests.conftest import api_for

    rule = _short_rule(org, org_admin)
    api = api_for(org_admin)
    url = f"/api/v1/certification-rules/{rule.pk}/"
    refused = api.patch(url, {"validity_months": 30}, format="json")
    assert refused.status_code == 400
    assert "below the target 0.80" in refused.json()["accept_short_exam"][0]
    assert CertificationRule.objects.get(pk=rule.pk).validity_months == 24
    saved = api.patch(url, {"validity_months": 30, "accept_short_exam": True}, format="json")
    assert saved.status_code == 200, saved.json()
    body = saved.json()
    assert body["validity_months"] == 30 and body["short_exam_accepted_by"] == "admin-a"
    d_study = body["d_study"]
    assert d_study["below_target"] is True and d_study["n_raters"] >= 2
    assert [d["criterion"] for d in d_study["decisions"]] == ["total_within_tolerance",
                                                             "item_agreement"]
    assert "mean_minus_cut_sq" in d_study["decisions"][0]["terms"]
    assert body["icc_a1_requirement"]["reason"]
    assert api.get("/api/v1/certification-rules/").json()[0]["id"] == rule.pk
    # Trainees may not; another organisation's admin gets 404, as for anything not theirs.
    assert api_for(make_member(org, Role.TRAINEE, "trainee-x")).get(url).status_code == 403
    assert api_for(make_member(other_org, Role.ORG_ADMIN, "admin-south")).get(
        url).status_code == 404


def test_a_decision_under_a_short_rule_says_so(org, org_admin, history):
    from training.models import CertificationDecision

    rule = _short_rule(org, org_admin)
    decision = CertificationDecision(organization=org, rule=rule,
                                     rule_snapshot=rules._rule_state(rule))
    note = dstudy.decision_dependability_note(decision)
    assert note is not None and note.n_exam == 1
    # The decision is judged by the rule as it stood then: a longer exam in the snapshot.
    decision.rule_snapshot = decision.rule_snapshot | {"min_exam_vignettes": 100}
    longer = dstudy.decision_dependability_note(decision)
    assert longer is None or longer.n_exam == 100


def test_item_agreement_interval_is_clustered_by_vignette(org, org_admin):
    from training.certification.decisions import VignetteEvidence, evaluate_evidence
    from training.reliability.reference import wilson_interval
    from vignettes.models import ReferenceScoring

    rule = rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                           use_ci_lower_bound=True)
    refs = list(ReferenceScoring.objects.filter(
        applicable=True, instrument_version__instrument__slug="cport",
        vignette_revision__vignette__owner__isnull=True).select_related(
        "instrument_version")[:10])
    assert len(refs) == 10
    results = dstudy.reference_results(refs)
    evidence = [VignetteEvidence(applicable=i != 0, codes=results[r.pk][0],
                                 total=results[r.pk][1], band_code=results[r.pk][2],
                                 reference=r) for i, r in enumerate(refs)]
    criteria = {c["key"]: c for c in evaluate_evidence(evidence, rule)}
    items = criteria["item_agreement"]
    k = round(items["value"] * items["n"])
    assert items["n_vignettes"] == 10 and items["design_effect"] > 1
    assert items["ci95"][0] < wilson_interval(k, items["n"])[0]
    assert items["judged_on"] == "ci_lower"
    # Totals are one value per vignette: a plain Wilson interval on 9 of 10.
    assert criteria["total_within_tolerance"]["ci95"] == pytest.approx(wilson_interval(9, 10))
    assert "required" in criteria["icc_a1"]
