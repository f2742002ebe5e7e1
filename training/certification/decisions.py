"""Certification decisions: the evidence of an exam, its evaluation against the rule, and what candidates and admins read of it."""

from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from training import reliability
from training.attempts import disclosure
from training.attempts.exams import _rules_for_instruments
from training.attempts.services import attempt_finalise, attempts_finalise_due
from training.audit import audit_record
from training.certification.certificates import certificate_issue
from training.certification.dstudy import icc_requirement, reference_results
from training.certification.rules import RULE_FIELDS, _rule_state, rule_list
from training.models import (
    Attempt,
    AttemptStatus,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    CertificationRule,
    ExamStart,
    Membership,
    Mode,
    Organization,
    Rating,
    Role,
)
from training.reliability.reference import wilson_interval
from training.teaching.bands import consistency_payload, no_bands_reason, published_bands
from training.tenancy import int_or_404, not_found_in
from vignettes.models import InstrumentVersion, ReferenceScoring

CRITERION_LABELS = {
    "exam_vignettes": gettext_lazy("Exam vignettes judged"),
    "applicability": gettext_lazy("Applicability right on every vignette"),
    "item_agreement": gettext_lazy("Item agreement with the reference"),
    "total_within_tolerance": gettext_lazy("Totals within the tolerance of the reference"),
    "band_agreement": gettext_lazy("Band agreement with the reference"),
    "icc_a1": gettext_lazy("ICC(A,1) of totals with the reference"),
}

# What each criterion's value is, for how it reads: a count, a share (a percentage) or a
# coefficient.
CRITERION_KINDS = {"exam_vignettes": "count", "icc_a1": "coefficient"}


def exams_finalise_due(*, now: dt.datetime | None = None) -> int:
    """Finalise every attempt past its deadline, and exam attempts never opened whose
    assignment has closed. Idempotent: a finalised attempt is never touched again."""

    now = now or timezone.now()
    count = attempts_finalise_due(now=now)
    unopened = Attempt.objects.filter(
        status=AttemptStatus.IN_PROGRESS, mode=Mode.EXAM, opened_at__isnull=True,
        assignment__closes_at__lte=now,
    ).select_related("assignment")
    for attempt in unopened:
        Attempt.objects.filter(pk=attempt.pk, deadline__isnull=True).update(
            deadline=attempt.assignment.closes_at)
        attempt.refresh_from_db()
        attempt_finalise(attempt=attempt, now=now)
        count += 1
    return count


# --- evaluation ----------------------------------------------------------------------------


@dataclass
class VignetteEvidence:
    """One vignette x instrument: the trainee's rating (or None) beside its reference."""

    applicable: bool | None
    codes: dict
    total: int | None
    band_code: str
    reference: ReferenceScoring


def _criterion(key, value, threshold, *, ci=None, n=0, judge_lower=False, reason="",
               passed=None, required=True, extra=None):
    judged = value
    if judge_lower and ci is not None:
        judged = ci[0]
    if passed is None:
        passed = judged is not None and judged >= threshold - 1e-12
    return {
        "key": key,
        "value": value,
        "threshold": threshold,
        "ci95": list(ci) if ci else None,
        "judged_on": "ci_lower" if judge_lower and ci is not None else "value",
        "n": n,
        "passed": bool(passed),
        "reason": reason,
        "required": required,
    } | (extra or {})


def _not_applicable(key, reason):
    """A criterion the rule or the instrument does not have: shown, never blocking."""
    return {"key": key, "value": None, "threshold": None, "ci95": None, "judged_on": "value",
            "n": 0, "passed": True, "applicable": False, "reason": reason}


def _share(key, hits: list[bool], threshold, judge_lower):
    n = len(hits)
    if n == 0:
        return _criterion(key, None, threshold, n=0, passed=False,
                          reason=_("No vignette where the reference scores the instrument."))
    k = sum(hits)
    return _criterion(key, k / n, threshold, ci=wilson_interval(k, n), n=n,
                      judge_lower=judge_lower)


def _clustered_share(key, clusters: list[tuple[int, int]], threshold, judge_lower):
    """Item agreement: the items of one vignette are not independent (a missed applicability
    decision misses all of them), so the interval is Wilson's on the effective sample size
    after the cluster-robust design effect (reliability.clustered_share_interval)."""
    res = reliability.clustered_share_interval(clusters)
    if res["value"] is None:
        return _criterion(key, None, threshold, n=0, passed=False,
                          reason=_("No vignette where the reference scores the instrument."))
    return _criterion(key, res["value"], threshold, ci=res["ci95"], n=res["n"],
                      judge_lower=judge_lower,
                      extra={"n_vignettes": res["n_clusters"],
                             "design_effect": round(res["deff"], 3)})


def evaluate_evidence(evidence: list[VignetteEvidence], rule: CertificationRule) -> list[dict]:
    """Every criterion of the rule on these vignettes: value, threshold, CI, pass/fail. Totals,
    bands and applicability are one value per vignette (Wilson intervals); item agreement is
    clustered by vignette. ICC(A,1) is reported but not required where the rule or the exam
    pool says so (dstudy.icc_requirement)."""
    lower = rule.use_ci_lower_bound
    refs = reference_results([ev.reference for ev in evidence])
    app_hits, item_clusters, total_hits, band_hits, pairs = [], [], [], [], []
    for ev in evidence:
        ref_items, ref_total, ref_band = refs[ev.reference.pk]
        app_ok = ev.applicable is not None and ev.applicable == ev.reference.applicable
        app_hits.append(app_ok)
        if not ev.reference.applicable:
            continue
        codes = ev.codes if app_ok else {}
        item_clusters.append((sum(code in codes and codes[code] == ref_value
                                  for code, ref_value in ref_items.items()), len(ref_items)))
        total = ev.total if app_ok else None
        total_hits.append(total is not None and abs(total - ref_total) <= rule.total_tolerance)
        band_hits.append(total is not None and ev.band_code == ref_band)
        if total is not None:
            pairs.append((total, ref_total))
    criteria = [
        _criterion("exam_vignettes", len(evidence), rule.min_exam_vignettes, n=len(evidence)),
    ]
    n_app = len(app_hits)
    if rule.applicability_every_vignette:
        k = sum(app_hits)
        criteria.append(_criterion(
            "applicability", k / n_app if n_app else None, 1.0,
            ci=wilson_interval(k, n_app) if n_app else None, n=n_app,
            passed=bool(n_app) and k == n_app,
            reason="" if n_app and k == n_app else _(
                "%(m)d of %(n)d applicability decisions differ from the reference."
            ) % {"m": n_app - k, "n": n_app},
        ))
    criteria.append(_clustered_share("item_agreement", item_clusters, rule.item_agreement,
                                     lower))
    criteria.append(_share("total_within_tolerance", total_hits, rule.total_within_tolerance,
                           lower))
    if not rule.instrument.has_bands:
        criteria.append(_not_applicable("band_agreement", no_bands_reason(rule.instrument)))
    elif rule.band_agreement is None:
        criteria.append(_not_applicable(
            "band_agreement", _("Not applicable: the rule does not require band agreement.")))
    else:
        criteria.append(_share("band_agreement", band_hits, rule.band_agreement, lower))
    if len(pairs) >= 2:
        est = reliability.icc(np.array(pairs, dtype=float), "ICC(A,1)")
        if est.value is None:
            icc = _criterion("icc_a1", None, rule.icc_a1, n=len(pairs), passed=False,
                             reason=est.undefined_reason or "")
        else:
            icc = _criterion("icc_a1", est.value, rule.icc_a1, ci=est.ci95, n=len(pairs),
                             judge_lower=lower)
    else:
        icc = _criterion("icc_a1", None, rule.icc_a1, n=len(pairs), passed=False,
                         reason=_("Fewer than two complete totals to correlate."))
    requirement = icc_requirement(rule)
    if not requirement.required:
        icc |= {"required": False, "passed": True,
                "reason": _("Not required: %(why)s") % {"why": requirement.reason}}
    criteria.append(icc)
    return criteria


def _current_reference(vignette_revision_id, version_id):
    return ReferenceScoring.objects.filter(
        vignette_revision_id=vignette_revision_id, instrument_version_id=version_id
    ).order_by("-number").first()


def attempt_evidence(attempt: Attempt, version: InstrumentVersion) -> list[VignetteEvidence]:
    ratings = {
        r.vignette_revision_id: r
        for r in Rating.objects.filter(attempt=attempt, instrument_version=version)
        .select_related("reference_scoring__instrument_version")
    }
    out = []
    for av in attempt.attempt_vignettes.order_by("order"):
        rating = ratings.get(av.vignette_revision_id)
        ref = (rating.reference_scoring if rating and rating.reference_scoring_id
               else _current_reference(av.vignette_revision_id, version.pk))
        if ref is None:
            continue
        out.append(VignetteEvidence(
            applicable=rating.applicable if rating else None,
            codes=(rating.codes or {}) if rating else {},
            total=rating.total if rating else None,
            band_code=rating.band_code if rating else "",
            reference=ref,
        ))
    return out


def _decision_state(decision: CertificationDecision) -> dict:
    return {"attempt": decision.attempt_id, "passed": decision.passed,
            "failed": [c["key"] for c in decision.criteria if not c["passed"]]}


def exam_sealed(sender, *, attempt: Attempt, now: dt.datetime, **kwargs) -> None:
    """Receiver of training.attempts.signals.attempt_sealed: a sealed exam is evaluated."""
    if attempt.mode == Mode.EXAM:
        decisions_for_attempt(attempt=attempt, now=now)


def frozen_rule(attempt: Attempt, rule: CertificationRule) -> CertificationRule:
    """The rule as it stood when the exam started (its snapshot on the attempt), so that a
    later edit applies to later exams only. An exam started before snapshots were taken is
    decided by the rule as it stands."""
    start = ExamStart.objects.filter(attempt=attempt).first()
    snapshot = (start.rules or {}).get(rule.instrument.slug) if start else None
    if not snapshot:
        return rule
    frozen = copy.copy(rule)
    for name in RULE_FIELDS:
        if name in snapshot:
            setattr(frozen, name, snapshot[name])
    return frozen


def decisions_for_attempt(*, attempt: Attempt, now: dt.datetime | None = None
                          ) -> list[CertificationDecision]:
    """Evaluate a sealed exam attempt against each rule of its instruments (idempotent);
    issue a certificate on a pass. Called when an exam is submitted or finalised."""
    now = now or timezone.now()
    if attempt.status == AttemptStatus.IN_PROGRESS or attempt.mode != Mode.EXAM:
        return []
    out = []
    versions = attempt.instrument_versions.select_related("instrument")
    rules = {r.instrument_id: r for r in _rules_for_instruments(
        attempt.organization, [v.instrument_id for v in versions])}
    for version in versions:
        rule = rules.get(version.instrument_id)
        if rule is None:
            continue
        existing = CertificationDecision.objects.filter(
            attempt=attempt, instrument_version=version, superseded_at__isnull=True).first()
        if existing is not None:
            out.append(existing)
            continue
        rule = frozen_rule(attempt, rule)
        criteria = evaluate_evidence(attempt_evidence(attempt, version), rule)
        decision = CertificationDecision.objects.create(
            organization=attempt.organization, attempt=attempt, user=attempt.user, rule=rule,
            instrument_version=version, passed=all(c["passed"] for c in criteria),
            criteria=criteria, rule_snapshot=_rule_state(rule), decided_at=now,
        )
        audit_record(actor=None, organization=attempt.organization, obj=decision,
                     action="certification.decided", after=_decision_state(decision), now=now)
        if decision.passed:
            certificate_issue(decision=decision, rule=rule, now=now)
        out.append(decision)
    return out


def decision_visible_to_trainee(decision: CertificationDecision, *, now=None) -> bool:
    """Result and criteria only, as the exam's effective feedback policy allows."""
    return disclosure.result_released(decision.attempt, now=now)


def decision_get(*, membership: Membership, decision_id) -> CertificationDecision:
    """The org admin sees every decision of the organisation; a trainee their own, when the
    exam's effective feedback policy allows. Anything else: 404."""
    decision = CertificationDecision.objects.filter(
        organization=membership.organization, pk=int_or_404(decision_id)
    ).select_related("attempt__assignment", "user", "instrument_version__instrument").first()
    if decision is None:
        raise not_found_in(CertificationDecision, organization=membership.organization,
                           pk=int(decision_id))
    if membership.role == Role.ORG_ADMIN:
        return decision
    if decision.user_id == membership.user_id and decision_visible_to_trainee(decision):
        return decision
    raise Http404


def criteria_for_display(criteria: list[dict], instrument=None) -> list[dict]:
    """Criteria with their labels. A band-agreement criterion recorded before its instrument
    lost its bands (CPORT's were the project's own) is shown as not applicable; the decision
    itself stays as it was made."""
    out = []
    for c in criteria:
        c = {"applicable": True} | c | {"label": CRITERION_LABELS.get(c["key"], c["key"]),
                                        "kind": CRITERION_KINDS.get(c["key"], "share")}
        if c["key"] == "band_agreement" and c["applicable"] and instrument is not None \
                and not instrument.has_bands:
            c |= {"applicable": False, "reason": no_bands_reason(instrument) + " " + _(
                "Recorded when the instrument still had the project's own bands; it no longer "
                "counts.")}
        out.append(c)
    return out


def band_consistency(evidence: list[VignetteEvidence], instrument) -> dict:
    """Decision consistency on an exam's (or any) evidence: band agreement, how often a total
    that differs from the reference's changes the band, and per band boundary the share of
    ratings near it on the other side. Only for an instrument with published bands."""
    bands = published_bands(instrument)
    if not bands:
        return consistency_payload([], [], bands, instrument)
    refs = reference_results([ev.reference for ev in evidence])
    trainee, reference = [], []
    for ev in evidence:
        ref_total = refs[ev.reference.pk][1]
        if ev.reference.applicable and ev.applicable is True and ev.total is not None:
            trainee.append(ev.total)
            reference.append(ref_total)
    return consistency_payload(trainee, reference, bands, instrument)


def decision_band_consistency(decision: CertificationDecision) -> dict:
    """Decision consistency on the exam a decision judged (for the organisation's admins:
    counts near the boundaries say something about the exam cases' references)."""
    instrument = decision.instrument_version.instrument
    return band_consistency(attempt_evidence(decision.attempt, decision.instrument_version),
                            instrument)


# --- reads for pages -----------------------------------------------------------------------


@dataclass
class RuleProgress:
    rule: CertificationRule
    latest_decision: CertificationDecision | None
    decision_visible: bool
    criteria: list = field(default_factory=list)
    practice_criteria: list = field(default_factory=list)
    certificate: Certificate | None = None


def practice_evidence(*, user, organization, instrument_id) -> list[VignetteEvidence]:
    """The trainee's latest submitted practice rating per vignette on this instrument, of
    those whose reference the trainee may see (recalibration cases follow the rule's
    policy, as exam cases do)."""
    latest = {}
    rows = disclosure.released_ratings(Rating.objects.filter(
        attempt__user=user, attempt__organization=organization,
        attempt__mode=Mode.PRACTICE, submitted_at__isnull=False,
        instrument_version__instrument_id=instrument_id, reference_scoring__isnull=False,
    )).select_related("reference_scoring").order_by("submitted_at", "pk")
    for r in rows:
        latest[r.vignette_revision_id] = r
    return [
        VignetteEvidence(applicable=r.applicable, codes=r.codes or {}, total=r.total,
                         band_code=r.band_code, reference=r.reference_scoring)
        for r in latest.values()
    ]


def trainee_overview(*, user, organization: Organization, now=None) -> dict:
    certificates = list(
        Certificate.objects.filter(organization=organization, holder=user)
        .select_related("instrument_version__instrument", "organization")
    )
    for cert in certificates:
        cert.current_status = cert.effective_status(now)
    progress = []
    for rule in rule_list(organization=organization):
        decision = CertificationDecision.objects.filter(
            organization=organization, user=user,
            instrument_version__instrument_id=rule.instrument_id,
        ).select_related("attempt__assignment").first()
        visible = bool(decision) and decision_visible_to_trainee(decision, now=now)
        row = RuleProgress(rule=rule, latest_decision=decision, decision_visible=visible)
        if visible:
            row.criteria = criteria_for_display(decision.criteria, rule.instrument)
        row.practice_criteria = criteria_for_display(evaluate_evidence(
            practice_evidence(user=user, organization=organization,
                              instrument_id=rule.instrument_id), rule), rule.instrument)
        row.certificate = next(
            (c for c in certificates if c.instrument_version.instrument_id == rule.instrument_id
             and c.current_status == CertificateStatus.ACTIVE), None)
        progress.append(row)
    return {"certificates": certificates, "progress": progress}


def candidates_for_admin(*, organization: Organization, now=None) -> list[dict]:
    """Every trainee of the organisation, per rule: exam attempts, latest decision,
    certificate."""
    rules = list(rule_list(organization=organization))
    trainees = [m.user for m in Membership.objects.filter(
        organization=organization, role=Role.TRAINEE).select_related("user").order_by(
        "user__username")]
    decisions = defaultdict(list)
    for d in CertificationDecision.objects.filter(organization=organization).order_by(
            "-decided_at", "-pk"):
        decisions[(d.user_id, d.instrument_version.instrument_id)].append(d)
    certs = {}
    for c in Certificate.objects.filter(organization=organization).order_by("issued_at"):
        certs[(c.holder_id, c.instrument_version.instrument_id)] = c
    exams = defaultdict(int)
    for user_id in Attempt.objects.filter(organization=organization, mode=Mode.EXAM
                                          ).values_list("user_id", flat=True):
        exams[user_id] += 1
    rows = []
    for user in trainees:
        cells = []
        for rule in rules:
            key = (user.pk, rule.instrument_id)
            cert = certs.get(key)
            cells.append({
                "rule": rule,
                "decision": (decisions.get(key) or [None])[0],
                "certificate": cert,
                "certificate_status": cert.effective_status(now) if cert else "",
            })
        rows.append({"user": user, "exam_attempts": exams[user.pk], "cells": cells})
    return rows


def exam_attempts_for_admin(*, organization: Organization, limit: int = 200):
    return Attempt.objects.filter(organization=organization, mode=Mode.EXAM).select_related(
        "user", "assignment").order_by("-started_at")[:limit]


def decisions_for_admin(*, organization: Organization, limit: int = 200):
    return CertificationDecision.objects.filter(organization=organization).select_related(
        "user", "instrument_version__instrument").order_by("-decided_at", "-pk")[:limit]


@dataclass
class ExamResult:
    """What a candidate reads after an exam: pass or fail per instrument, the criteria (value,
    threshold, met or not) and the certificate, as the feedback policy allows; nothing case
    by case."""

    attempt: Attempt
    released: bool
    release_note: str
    decisions: list = field(default_factory=list)  # (decision, criteria for display)

    @property
    def passed(self) -> bool | None:
        if not self.released or not self.decisions:
            return None
        return all(d.passed for d, _c in self.decisions)


def exam_result(*, attempt: Attempt, now: dt.datetime | None = None) -> ExamResult:
    """The result of the candidate's own sealed exam attempt (the caller checked ownership)."""
    if attempt.mode != Mode.EXAM or attempt.status == AttemptStatus.IN_PROGRESS:
        raise Http404
    released = disclosure.result_released(attempt, now=now)
    result = ExamResult(attempt=attempt, released=released,
                        release_note="" if released else _(
                            "The result of this exam is shown after the exam closes."))
    if released:
        for decision in CertificationDecision.objects.filter(attempt=attempt).select_related(
                "instrument_version__instrument").order_by("instrument_version__instrument__slug"):
            result.decisions.append((decision, criteria_for_display(
                decision.criteria, decision.instrument_version.instrument)))
    return result
