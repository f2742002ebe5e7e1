"""Certification: exam draws and waiting periods, rules, decisions on evidence, certificates,
public verification. Services (writes, audited, one transaction) and selectors (reads).

A decision judges one finalised or submitted exam attempt against the organisation's rule for
each of its instruments. Deviation and agreement follow DESIGN.md: a wrong applicability
decision fails that vignette (its items, total and band count as disagreements); unscored items
count as disagreements.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.throttling import rate_limit_hit
from training import disclosure, reliability
from training.exceptions import Conflict
from training.models import (
    Assignment,
    Attempt,
    AttemptStatus,
    AttemptVignette,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    CertificationRule,
    FeedbackPolicy,
    Membership,
    Mode,
    Organization,
    Profile,
    Rating,
    Role,
)
from training.reliability.reference import wilson_interval
from training.services.audit import audit_record
from training.tenancy import not_found_in
from vignettes import scoring
from vignettes.models import Instrument, InstrumentVersion, ReferenceItemScore, ReferenceScoring

VERIFY_RATE_LIMIT = 30  # requests per IP and window
VERIFY_RATE_WINDOW = 60  # seconds
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
EXPIRING_DAYS = 60

CRITERION_LABELS = {
    "exam_vignettes": gettext_lazy("Exam vignettes judged"),
    "applicability": gettext_lazy("Applicability right on every vignette"),
    "item_agreement": gettext_lazy("Item agreement with the reference"),
    "total_within_tolerance": gettext_lazy("Totals within the tolerance of the reference"),
    "band_agreement": gettext_lazy("Band agreement with the reference"),
    "icc_a1": gettext_lazy("ICC(A,1) of totals with the reference"),
}

RULE_FIELDS = (
    "min_exam_vignettes", "item_agreement", "total_tolerance", "total_within_tolerance",
    "band_agreement", "icc_a1", "applicability_every_vignette", "use_ci_lower_bound",
    "validity_months", "retake_wait_days", "recalibration_interval_days", "recalibration_size",
    "cusum_slack", "cusum_threshold", "agreement_window", "exam_feedback_policy",
)


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError(moment)


# --- exams: starting and drawing -----------------------------------------------------------


def _rules_for_instruments(organization, instrument_ids):
    return CertificationRule.objects.filter(
        organization=organization, instrument_id__in=instrument_ids
    )


def rule_wait_days(*, organization: Organization, instrument_ids) -> int:
    """The longest retake wait of the organisation's rules for these instruments (0: none)."""
    waits = _rules_for_instruments(organization, list(instrument_ids)).values_list(
        "retake_wait_days", flat=True)
    return max(waits, default=0)


def exam_wait_days(*, organization: Organization, assignment: Assignment) -> int:
    """The wait between exam attempts: the assignment may lengthen the rule's, never shorten
    it (an assignment saved before the rule was lengthened still waits the rule's)."""
    rule_wait = rule_wait_days(
        organization=organization,
        instrument_ids=assignment.instruments.values_list("pk", flat=True))
    return max(rule_wait, assignment.retake_wait_days or 0)


def exam_start_check(*, user, organization: Organization, assignment: Assignment,
                     now: dt.datetime) -> None:
    """Before an exam attempt starts (the caller holds the membership row lock): no other exam
    attempt in progress, and the waiting period since the last one on these instruments over."""
    instrument_ids = list(assignment.instruments.values_list("pk", flat=True))
    earlier = Attempt.objects.filter(
        user=user, organization=organization, mode=Mode.EXAM,
        instrument_versions__instrument_id__in=instrument_ids,
    ).distinct()
    if earlier.filter(status=AttemptStatus.IN_PROGRESS).exists():
        raise Conflict(_("You already have an exam attempt in progress; finish it first."),
                       code="exam_in_progress")
    wait = exam_wait_days(organization=organization, assignment=assignment)
    last = earlier.exclude(submitted_at__isnull=True).order_by("-submitted_at").first()
    if wait and last is not None:
        allowed_from = last.submitted_at + dt.timedelta(days=wait)
        if now < allowed_from:
            raise Conflict(
                _("You may retake this exam from %(t)s (a waiting period of %(d)d days after "
                  "your last attempt).")
                % {"t": timezone.localtime(allowed_from).strftime("%Y-%m-%d %H:%M"), "d": wait},
                code="waiting_period",
                allowed_from=allowed_from.isoformat(),
            )


def draw_stratified(pool, *, n: int, strata: dict, seen: set, rng) -> list:
    """Draw `n` of `pool` stratified by `strata[x]` in proportion to the pool (largest
    remainder), preferring members not in `seen`; the result is in random order.

    Example: a pool of 6 A and 3 B, n = 3 -> 2 A and 1 B."""
    pool = list(pool)
    n = min(n, len(pool))
    groups = defaultdict(list)
    for x in pool:
        groups[strata[x]].append(x)
    keys = sorted(groups)
    exact = {k: n * len(groups[k]) / len(pool) for k in keys}
    quota = {k: int(exact[k]) for k in keys}
    order = sorted(keys, key=lambda k: (-(exact[k] - quota[k]), rng.random()))
    for k in order[: n - sum(quota.values())]:
        quota[k] += 1
    chosen, leftovers_fresh, leftovers_seen = [], [], []
    for k in keys:
        fresh = [x for x in groups[k] if x not in seen]
        old = [x for x in groups[k] if x in seen]
        rng.shuffle(fresh)
        rng.shuffle(old)
        take = fresh[: quota[k]]
        short = quota[k] - len(take)
        leftovers_fresh.extend(fresh[quota[k]:])
        leftovers_seen.extend(old)
        chosen.extend(take)
        chosen.extend([None] * short)  # empty slots, filled from unseen elsewhere first
    missing = chosen.count(None)
    chosen = [x for x in chosen if x is not None]
    rng.shuffle(leftovers_fresh)
    fill = leftovers_fresh[:missing]
    # Where the pool does not allow an unseen vignette, a seen one of the same stratum.
    rest = missing - len(fill)
    chosen.extend(fill)
    chosen.extend(leftovers_seen[:rest])
    rng.shuffle(chosen)
    return chosen


def vignettes_seen(*, user) -> set[int]:
    """Every vignette this person has been drawn or has rated, in any organisation (bundled
    exam vignettes are shared by every organisation that uses the bundled pool)."""
    return set(
        AttemptVignette.objects.filter(attempt__user=user).values_list(
            "vignette_revision__vignette_id", flat=True)
    ) | set(
        Rating.objects.filter(attempt__user=user).values_list(
            "vignette_revision__vignette_id", flat=True)
    )


def exam_draw(*, user, organization: Organization, assignment: Assignment, members):
    """The members of the exam set this trainee gets: `assignment.draw_size` (default: all),
    stratified by case type, only vignettes they have never been drawn or rated anywhere, in
    random order. Returns (seed, members); the seed reproduces the draw.

    When the pool holds fewer unseen vignettes than a full draw, the attempt is refused
    (Conflict `pool_exhausted`): a retake that repeats cases can be learned."""
    import random

    n = assignment.draw_size or len(members)
    seen = vignettes_seen(user=user)
    fresh = [m for m in members if m.vignette_id not in seen]
    if len(fresh) < n:
        raise Conflict(
            _("This exam cannot give you a fair draw: it needs %(n)d cases you have never "
              "been given, and its pool has only %(k)d left for you. Ask your instructor or "
              "organisation admin to add cases to the exam pool.")
            % {"n": n, "k": len(fresh)},
            code="pool_exhausted", needed=n, unseen=len(fresh),
        )
    seed = secrets.randbits(62)
    rng = random.Random(seed)
    by_vignette = {m.vignette_id: m for m in fresh}
    strata = {
        m.vignette_id: "+".join(sorted(m.vignette.current_revision.case_types or [])) or "-"
        for m in fresh
    }
    drawn = draw_stratified(list(by_vignette), n=n, strata=strata, seen=set(), rng=rng)
    return seed, [by_vignette[v] for v in drawn]


@dataclass
class PoolCapacity:
    """How far an exam's pool carries its candidates when no case may be drawn twice."""

    pool: int
    draw: int
    attempts_allowed: int | None
    attempts_supported: int
    more_needed: int  # cases to add so that every allowed attempt gets an unseen draw
    candidates_blocked: int  # cohort trainees who can no longer get a full unseen draw


@dataclass
class ExamOverview:
    assignment: Assignment
    feedback_policy: str  # the effective one
    feedback_policy_label: str
    tightened_by_rule: bool
    wait_days: int
    capacity: PoolCapacity


def exam_overview(*, assignment: Assignment) -> ExamOverview:
    """What an exam assignment really gives its candidates, for instructors and org admins:
    the effective feedback policy and retake wait, and how far its pool carries them."""
    policy = disclosure.assignment_policy(assignment)
    return ExamOverview(
        assignment=assignment, feedback_policy=policy,
        feedback_policy_label=str(FeedbackPolicy(policy).label),
        tightened_by_rule=policy != assignment.feedback_policy,
        wait_days=exam_wait_days(organization=assignment.organization, assignment=assignment),
        capacity=exam_pool_capacity(assignment=assignment),
    )


def exam_overviews(*, organization: Organization) -> list[ExamOverview]:
    exams = Assignment.objects.filter(organization=organization, mode=Mode.EXAM).select_related(
        "cohort", "vignette_set", "organization").order_by("-opens_at", "title")
    return [exam_overview(assignment=a) for a in exams]


def exam_pool_capacity(*, assignment: Assignment) -> PoolCapacity:
    """For instructors and org admins: pool of P cases, N drawn per attempt, A attempts
    allowed -> P // N attempts per candidate, and N * A - P more cases needed (unlimited
    attempts: counted as one more than the pool supports). Candidates who have already seen
    cases (here or in another organisation) count as blocked when fewer than N remain."""
    from vignettes.models import ContentStatus, VignetteSetMember

    pool_ids = set(VignetteSetMember.objects.filter(
        vignette_set=assignment.vignette_set, vignette__status=ContentStatus.PUBLISHED,
        vignette__current_revision__isnull=False,
    ).values_list("vignette_id", flat=True))
    pool = len(pool_ids)
    draw = min(assignment.draw_size or pool, pool) if pool else (assignment.draw_size or 0)
    supported = pool // draw if draw else 0
    wanted = assignment.attempts_allowed if assignment.attempts_allowed is not None \
        else supported + 1
    more = max(0, draw * wanted - pool)
    blocked = 0
    for user in assignment.cohort.trainees.all():
        if draw and len(pool_ids - vignettes_seen(user=user)) < draw:
            blocked += 1
    return PoolCapacity(pool=pool, draw=draw, attempts_allowed=assignment.attempts_allowed,
                        attempts_supported=supported, more_needed=more,
                        candidates_blocked=blocked)


def exams_finalise_due(*, now: dt.datetime | None = None) -> int:
    """Finalise every attempt past its deadline, and exam attempts never opened whose
    assignment has closed. Idempotent: a finalised attempt is never touched again."""
    from training.services.attempts import attempt_finalise, attempts_finalise_due

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


# --- rules ---------------------------------------------------------------------------------


def _rule_state(rule: CertificationRule) -> dict:
    return {name: getattr(rule, name) for name in RULE_FIELDS} | {
        "instrument": rule.instrument.slug}


@transaction.atomic
def rule_save(*, actor, organization: Organization, rule: CertificationRule | None = None,
              instrument_slug: str | None = None, now: dt.datetime | None = None,
              **values) -> CertificationRule:
    """Create or edit the organisation's rule for one instrument (audited)."""
    now = now or timezone.now()
    errors = {}
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    for name in ("item_agreement", "total_within_tolerance", "band_agreement"):
        if name in values and not 0 <= values[name] <= 1:
            errors[name] = _("A share between 0 and 1 (e.g. 0.85).")
    if "icc_a1" in values and not -1 <= values["icc_a1"] <= 1:
        errors["icc_a1"] = _("An ICC between -1 and 1 (e.g. 0.80).")
    if values.get("min_exam_vignettes") is not None and values["min_exam_vignettes"] < 1:
        errors["min_exam_vignettes"] = _("At least one vignette.")
    if values.get("validity_months") is not None and not 1 <= values["validity_months"] <= 120:
        errors["validity_months"] = _("Between 1 and 120 months.")
    for name, low, high in (("recalibration_interval_days", 7, 3650),
                            ("recalibration_size", 1, 50), ("agreement_window", 2, 100)):
        if values.get(name) is not None and not low <= values[name] <= high:
            errors[name] = _("Between %(low)d and %(high)d, or empty for the default.") % {
                "low": low, "high": high}
    for name in ("cusum_slack", "cusum_threshold"):
        if values.get(name) is not None and not 0 < values[name] <= 100:
            errors[name] = _("A positive number, or empty for the default.")
    if "exam_feedback_policy" in values and \
            values["exam_feedback_policy"] not in FeedbackPolicy.values:
        errors["exam_feedback_policy"] = _("Choose one of the feedback policies.")
    if rule is None:
        instrument = Instrument.objects.filter(
            Q(owner__isnull=True) | Q(owner=organization), slug=instrument_slug or ""
        ).first()
        if instrument is None:
            errors["instrument"] = _("Choose one of the instruments.")
        elif CertificationRule.objects.filter(
            organization=organization, instrument=instrument
        ).exists():
            errors["instrument"] = _("This organisation already has a rule for %(i)s; edit it."
                                     ) % {"i": instrument.short_name}
    if errors:
        raise ValidationError(errors)
    before = None
    if rule is None:
        rule = CertificationRule(organization=organization, instrument=instrument)
    else:
        rule = CertificationRule.objects.select_for_update().get(
            pk=rule.pk, organization=organization)
        before = _rule_state(rule)
    for name, value in values.items():
        setattr(rule, name, value)
    rule.updated_at = now
    rule.save()
    audit_record(actor=actor, organization=organization, obj=rule,
                 action="certification_rule.created" if before is None
                 else "certification_rule.changed",
                 before=before, after=_rule_state(rule), now=now)
    return rule


def rule_list(*, organization: Organization):
    return CertificationRule.objects.filter(organization=organization).select_related(
        "instrument__current_version")


def rule_get(*, organization: Organization, rule_id) -> CertificationRule:
    rule = rule_list(organization=organization).filter(pk=_int_or_404(rule_id)).first()
    if rule is None:
        raise not_found_in(CertificationRule, organization=organization, pk=int(rule_id))
    return rule


def _int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Http404 from None


# --- evaluation ----------------------------------------------------------------------------


@dataclass
class VignetteEvidence:
    """One vignette x instrument: the trainee's rating (or None) beside its reference."""

    applicable: bool | None
    codes: dict
    total: int | None
    band_code: str
    reference: ReferenceScoring


def _reference_results(refs: list[ReferenceScoring]) -> dict[int, tuple]:
    """(item states, total, band code) of each reference scoring, from one query for all their
    item scores (not three per reference: an exam of 10 vignettes is evaluated at its
    submission, and a deadline brings many submissions at once)."""
    applicable = {ref.pk for ref in refs if ref.applicable}
    states: dict[int, dict] = {pk: {} for pk in applicable}
    for ref_id, code, value in ReferenceItemScore.objects.filter(
        reference_scoring_id__in=applicable
    ).values_list("reference_scoring_id", "item__code", "value"):
        states[ref_id][code] = value
    specs: dict[int, object] = {}
    out = {}
    for ref in refs:
        if ref.pk in out:
            continue
        if not ref.applicable:
            out[ref.pk] = ({}, None, "")
            continue
        if ref.instrument_version_id not in specs:
            specs[ref.instrument_version_id] = ref.instrument_version.spec
        result = scoring.score(specs[ref.instrument_version_id], states[ref.pk])
        out[ref.pk] = (states[ref.pk], result.total, result.band_code or "")
    return out


def _criterion(key, value, threshold, *, ci=None, n=0, judge_lower=False, reason="",
               passed=None):
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
    }


def _share(key, hits: list[bool], threshold, judge_lower):
    n = len(hits)
    if n == 0:
        return _criterion(key, None, threshold, n=0, passed=False,
                          reason=_("No vignette where the reference scores the instrument."))
    k = sum(hits)
    return _criterion(key, k / n, threshold, ci=wilson_interval(k, n), n=n,
                      judge_lower=judge_lower)


def evaluate_evidence(evidence: list[VignetteEvidence], rule: CertificationRule) -> list[dict]:
    """Every criterion of the rule on these vignettes: value, threshold, CI, pass/fail."""
    lower = rule.use_ci_lower_bound
    refs = _reference_results([ev.reference for ev in evidence])
    app_hits, item_hits, total_hits, band_hits, pairs = [], [], [], [], []
    for ev in evidence:
        ref_items, ref_total, ref_band = refs[ev.reference.pk]
        app_ok = ev.applicable is not None and ev.applicable == ev.reference.applicable
        app_hits.append(app_ok)
        if not ev.reference.applicable:
            continue
        codes = ev.codes if app_ok else {}
        for code, ref_value in ref_items.items():
            item_hits.append(code in codes and codes[code] == ref_value)
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
    criteria.append(_share("item_agreement", item_hits, rule.item_agreement, lower))
    criteria.append(_share("total_within_tolerance", total_hits, rule.total_within_tolerance,
                           lower))
    criteria.append(_share("band_agreement", band_hits, rule.band_agreement, lower))
    if len(pairs) >= 2:
        est = reliability.icc(np.array(pairs, dtype=float), "ICC(A,1)")
        if est.value is None:
            criteria.append(_criterion("icc_a1", None, rule.icc_a1, n=len(pairs), passed=False,
                                       reason=est.undefined_reason or ""))
        else:
            criteria.append(_criterion("icc_a1", est.value, rule.icc_a1, ci=est.ci95,
                                       n=len(pairs), judge_lower=lower))
    else:
        criteria.append(_criterion("icc_a1", None, rule.icc_a1, n=len(pairs), passed=False,
                                   reason=_("Fewer than two complete totals to correlate.")))
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
            attempt=attempt, instrument_version=version).first()
        if existing is not None:
            out.append(existing)
            continue
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
        organization=membership.organization, pk=_int_or_404(decision_id)
    ).select_related("attempt__assignment", "user", "instrument_version__instrument").first()
    if decision is None:
        raise not_found_in(CertificationDecision, organization=membership.organization,
                           pk=int(decision_id))
    if membership.role == Role.ORG_ADMIN:
        return decision
    if decision.user_id == membership.user_id and decision_visible_to_trainee(decision):
        return decision
    raise Http404


def criteria_for_display(criteria: list[dict]) -> list[dict]:
    return [c | {"label": CRITERION_LABELS.get(c["key"], c["key"])} for c in criteria]


# --- certificates --------------------------------------------------------------------------


def _certificate_state(cert: Certificate) -> dict:
    return {"status": cert.status, "reason": cert.status_reason,
            "expires_at": cert.expires_at.isoformat()}


def certificate_issue(*, decision: CertificationDecision, rule: CertificationRule,
                      now: dt.datetime) -> Certificate:
    cert = Certificate.objects.create(
        organization=decision.organization, holder=decision.user,
        instrument_version=decision.instrument_version, decision=decision,
        issued_at=now, expires_at=_add_months(now, rule.validity_months),
        verification_code=secrets.token_urlsafe(24),
    )
    # Renewal: earlier certificates of this holder on this instrument are superseded.
    earlier = Certificate.objects.select_for_update().filter(
        organization=decision.organization, holder=decision.user,
        instrument_version__instrument_id=decision.instrument_version.instrument_id,
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED],
    ).exclude(pk=cert.pk)
    for old in earlier:
        before = _certificate_state(old)
        old.status = CertificateStatus.SUPERSEDED
        old.superseded_by = cert
        old.status_changed_at = now
        old.save(update_fields=["status", "superseded_by", "status_changed_at"])
        audit_record(actor=None, organization=old.organization, obj=old,
                     action="certificate.superseded", before=before,
                     after=_certificate_state(old), now=now)
    audit_record(actor=None, organization=cert.organization, obj=cert,
                 action="certificate.issued", after=_certificate_state(cert), now=now)
    return cert


STATUS_ACTIONS = {
    "suspend": CertificateStatus.SUSPENDED,
    "revoke": CertificateStatus.REVOKED,
    "reinstate": CertificateStatus.ACTIVE,
}


@transaction.atomic
def certificate_set_status(*, actor, organization: Organization, certificate_id, action: str,
                           reason: str, now: dt.datetime | None = None) -> Certificate:
    """Suspend, revoke or reinstate (a suspended one) one of the organisation's certificates.
    A reason is required; revoked is final. Another organisation's certificate: 404."""
    now = now or timezone.now()
    cert = Certificate.objects.select_for_update().filter(
        organization=organization, pk=_int_or_404(certificate_id)).first()
    if cert is None:
        raise not_found_in(Certificate, organization=organization, pk=int(certificate_id))
    if action not in STATUS_ACTIONS:
        raise ValidationError({"action": _("Choose suspend, revoke or reinstate.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason; it is kept in the audit trail.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("At most 2000 characters.")})
    if cert.status in (CertificateStatus.REVOKED, CertificateStatus.SUPERSEDED):
        raise Conflict(_("This certificate is %(s)s; its status can no longer change.")
                       % {"s": cert.get_status_display()}, code="final")
    if action == "reinstate" and cert.status != CertificateStatus.SUSPENDED:
        raise Conflict(_("Only a suspended certificate can be reinstated."), code="not_suspended")
    before = _certificate_state(cert)
    cert.status = STATUS_ACTIONS[action]
    cert.status_reason = reason
    cert.status_changed_at = now
    cert.save(update_fields=["status", "status_reason", "status_changed_at"])
    audit_record(actor=actor, organization=organization, obj=cert,
                 action=f"certificate.{cert.status}", before=before,
                 after=_certificate_state(cert), now=now)
    return cert


@transaction.atomic
def certificate_set_display(*, user, organization: Organization, certificate_id,
                            show_full_name: bool) -> Certificate:
    """The holder chooses whether the public page shows their full name or initials."""
    cert = Certificate.objects.select_for_update().filter(
        organization=organization, holder=user, pk=_int_or_404(certificate_id)).first()
    if cert is None:
        raise not_found_in(Certificate, organization=organization, pk=int(certificate_id))
    cert.show_full_name = bool(show_full_name)
    cert.save(update_fields=["show_full_name"])
    audit_record(actor=user, organization=organization, obj=cert,
                 action="certificate.display_changed",
                 after={"show_full_name": cert.show_full_name})
    return cert


def holder_display(cert: Certificate) -> str:
    user = cert.holder
    if Profile.objects.filter(user=user, erased_at__isnull=False).exists():
        return str(_("(holder erased)"))
    full = user.get_full_name().strip() or user.get_username()
    if cert.show_full_name:
        return full
    parts = [p for p in re.split(r"[\s._-]+", full) if p]
    return "".join(p[0].upper() + "." for p in parts) or "?"


def certificate_for_viewer(*, membership: Membership, certificate_id) -> Certificate:
    """The holder's own certificate, or any of the organisation's for its org admin."""
    qs = Certificate.objects.filter(
        organization=membership.organization, pk=_int_or_404(certificate_id)
    ).select_related("holder", "organization", "instrument_version__instrument", "decision")
    if membership.role != Role.ORG_ADMIN:
        qs = qs.filter(holder_id=membership.user_id)
    cert = qs.first()
    if cert is None:
        raise not_found_in(Certificate, organization=membership.organization,
                           pk=int(certificate_id))
    return cert


def certificate_public(cert: Certificate, *, now=None) -> dict:
    """Only what the public may see: holder (as consented), instrument, organisation, status,
    validity."""
    version = cert.instrument_version
    return {
        "holder": holder_display(cert),
        "instrument": version.instrument.short_name,
        "instrument_version": f"{version.version_label} (revision {version.number})",
        "organization": cert.organization.name,
        "status": _display_status(cert, now),
        "issued_at": cert.issued_at.date().isoformat(),
        "expires_at": cert.expires_at.date().isoformat(),
        "statement": str(ISSUER_STATEMENT) % {"org": cert.organization.name},
    }


def _display_status(cert: Certificate, now=None) -> str:
    """'recalibration_due' while an active certificate is flagged (drift or an overdue
    recalibration), else the
    effective status (active, suspended, expired, ...)."""
    from training.recalibration import RECALIBRATION_DUE, display_status

    status = display_status(cert, now)
    return "recalibration due" if status == RECALIBRATION_DUE else status


ISSUER_STATEMENT = gettext_lazy(
    "This certificate is issued by %(org)s on its own authority. It is not issued or endorsed "
    "by the authors or publishers of the instrument."
)


def certificate_verify(code: str, *, now=None) -> dict | None:
    """The public view of the certificate with this code; None for unknown or malformed
    codes alike (callers answer both the same way)."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        return None
    cert = Certificate.objects.filter(verification_code=code).select_related(
        "holder", "organization", "instrument_version__instrument").first()
    if cert is None:
        return None
    return certificate_public(cert, now=now)


def verify_rate_limited(ip: str | None, *, now: float | None = None) -> int | None:
    """Count one verification from the client address `ip` (config.throttling.client_address);
    over the limit, the seconds to wait (Retry-After)."""
    return rate_limit_hit(f"verify:{ip}", limit=VERIFY_RATE_LIMIT, window=VERIFY_RATE_WINDOW,
                          now=now)


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
            row.criteria = criteria_for_display(decision.criteria)
        row.practice_criteria = criteria_for_display(evaluate_evidence(
            practice_evidence(user=user, organization=organization,
                              instrument_id=rule.instrument_id), rule))
        row.certificate = next(
            (c for c in certificates if c.instrument_version.instrument_id == rule.instrument_id
             and c.current_status == CertificateStatus.ACTIVE), None)
        progress.append(row)
    return {"certificates": certificates, "progress": progress}


def certificates_for_admin(*, organization: Organization, filter_: str = "", now=None):
    now = now or timezone.now()
    qs = Certificate.objects.filter(organization=organization).select_related(
        "holder", "instrument_version__instrument")
    if filter_ == "expiring":
        qs = qs.filter(status=CertificateStatus.ACTIVE, expires_at__gt=now,
                       expires_at__lte=now + dt.timedelta(days=EXPIRING_DAYS))
    elif filter_ == "suspended":
        qs = qs.filter(status=CertificateStatus.SUSPENDED)
    elif filter_ == "revoked":
        qs = qs.filter(status=CertificateStatus.REVOKED)
    elif filter_ == "active":
        qs = qs.filter(status=CertificateStatus.ACTIVE, expires_at__gt=now)
    rows = list(qs.order_by("expires_at", "pk"))
    for cert in rows:
        cert.current_status = cert.effective_status(now)
    return rows


def certificates_csv_rows(certificates):
    yield ["certificate", "holder", "instrument", "instrument_version", "status", "reason",
           "issued_at", "expires_at"]
    for c in certificates:
        yield [c.pk, c.holder.get_username(), c.instrument_version.instrument.slug,
               str(c.instrument_version), c.current_status, c.status_reason,
               c.issued_at.isoformat(), c.expires_at.isoformat()]


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


# --- the rule page's G-study and D-study ---------------------------------------------------


@dataclass
class RuleReliability:
    defined: bool
    reason: str = ""
    components: reliability.VarianceComponents | None = None
    phi_lambda_at_rule: float | None = None
    phi_lambda_reason: str = ""
    vignettes_needed: int | None = None
    curve: list = field(default_factory=list)
    n_raters: int = 0
    n_vignettes: int = 0
    n_scores: int = 0


def rule_reliability(*, rule: CertificationRule, target: float = 0.80) -> RuleReliability:
    """G-study with trainees as the objects of measurement and vignettes as the facet; the
    score is the trainee's absolute total deviation from the reference on each vignette (their
    first submitted rating of it, exam or practice). D-study: how many exam vignettes make the
    pass/fail decision at the cut (the rule's tolerance) dependable (Phi(lambda) >= target)."""
    rows = (
        Rating.objects.filter(
            attempt__organization=rule.organization, submitted_at__isnull=False,
            instrument_version__instrument_id=rule.instrument_id, applicable=True,
            total__isnull=False, reference_scoring__applicable=True,
        )
        .order_by("submitted_at", "pk")
        .values_list("attempt__user_id", "vignette_revision_id", "total", "reference_scoring_id")
    )
    ref_totals = {}
    scores = {}
    for user_id, revision_id, total, ref_id in rows:
        if (revision_id, user_id) in scores:
            continue
        if ref_id not in ref_totals:
            ref = ReferenceScoring.objects.get(pk=ref_id)
            result = ref.result()
            ref_totals[ref_id] = result.total if result else None
        if ref_totals[ref_id] is None:
            continue
        scores[(revision_id, user_id)] = abs(total - ref_totals[ref_id])
    vignettes = sorted({v for v, _ in scores})
    raters = sorted({u for _, u in scores})
    out = RuleReliability(defined=False, n_raters=len(raters), n_vignettes=len(vignettes),
                          n_scores=len(scores))
    if len(vignettes) < 2 or len(raters) < 2:
        out.reason = _("Not enough data: a G-study needs at least two trainees who each rated "
                       "at least two vignettes in common with others.")
        return out
    vi = {v: i for i, v in enumerate(vignettes)}
    ri = {u: i for i, u in enumerate(raters)}
    matrix = np.full((len(vignettes), len(raters)), np.nan)
    for (v, u), s in scores.items():
        matrix[vi[v], ri[u]] = s
    try:
        vc = reliability.g_study(matrix)
    except (ValueError, np.linalg.LinAlgError) as exc:
        out.reason = _("Not enough data: %(why)s.") % {"why": exc}
        return out
    out.defined = True
    out.components = vc
    cut = float(rule.total_tolerance)
    est = reliability.phi_lambda(vc, cut, rule.min_exam_vignettes)
    out.phi_lambda_at_rule = est.value
    out.phi_lambda_reason = est.undefined_reason or ""
    study = reliability.d_study(vc, target, "phi_lambda", lambda_=cut, max_vignettes=60)
    out.vignettes_needed = study.n_vignettes
    out.curve = [(n, v) for n, v in study.curve if n in (1, 2, 5, 10, 15, 20, 30, 40, 60)]
    return out
