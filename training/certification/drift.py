"""Drift after certification: the holder's own baseline (fixed at issue from the exam that
certified them), the series watched afterwards, and the standardised CUSUMs on it.

Two per-case scores are watched on every submitted non-exam rating the holder made on the
certificate's instrument after it was issued (both the holder and the reference judging the
instrument applicable):

- the signed total deviation (total minus the reference total): a two-sided CUSUM;
- the share of items coded as the reference: a lower-sided CUSUM (only a fall is drift).

Each is standardised against the holder's baseline: their mean on the certifying exam and
their SD shrunk towards the organisation's pooled within-rater SD on the instrument
(training.reliability.drift). k and h are in SD units and were chosen by simulation for an
in-control average run length of at least 370 cases with the baseline estimated from ten exam
vignettes (``python -m benchmarks drift``; docs/statistics.md "Drift after certification").

Reads, apart from storing a missing baseline (`baseline_ensure`); raising alerts and flagging
certificates is training.certification.recalibration's job.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from training.models import Certificate, DriftKind, Mode, Rating
from training.reliability.drift import (
    DriftBaseline,
    drift_baseline,
    pooled_within_sd,
    standardised_cusum,
)
from vignettes import scoring
from vignettes.models import ReferenceItemScore, ReferenceScoring

# k and h in SD units; see the module docstring and the simulation.
DEFAULT_SLACK = 0.25
DEFAULT_THRESHOLD = 16.0
AGREEMENT_SLACK = 0.25
AGREEMENT_THRESHOLD = 11.0
# The pooled within-rater SD is taken from the organisation's own first ratings on the
# instrument when they carry at least this many degrees of freedom; else these stated values
# (the within-rater SD of deviations the demo cohorts show on STABLE-2007 and Static-99R,
# the larger of the bundled instruments; an item-agreement share SD of 0.13).
MIN_POOLED_DF = 30
FALLBACK_POOLED_SD = {DriftKind.DEVIATION: 1.9, DriftKind.AGREEMENT: 0.13}
METHOD = "standardised-cusum"
DEFAULT_ITEM_AGREEMENT = 0.85  # the model's default rule threshold, for a rule since deleted


def _reference_results(ref_ids) -> dict[int, tuple[dict, int | None]]:
    """(item states, total) of each applicable reference scoring, in two queries."""
    refs = {r.pk: r for r in ReferenceScoring.objects.filter(pk__in=set(ref_ids), applicable=True)
            .select_related("instrument_version")}
    states: dict[int, dict] = {pk: {} for pk in refs}
    for ref_id, code, value in ReferenceItemScore.objects.filter(
            reference_scoring_id__in=refs).values_list("reference_scoring_id", "item__code",
                                                       "value"):
        states[ref_id][code] = value
    specs: dict[int, object] = {}
    out = {}
    for pk, ref in refs.items():
        if ref.instrument_version_id not in specs:
            specs[ref.instrument_version_id] = ref.instrument_version.spec
        out[pk] = (states[pk], scoring.score(specs[ref.instrument_version_id], states[pk]).total)
    return out


def _scores(ratings) -> list[tuple[Rating, float, float]]:
    """(rating, signed total deviation, item agreement share) of each rating whose reference
    scores the instrument."""
    ratings = list(ratings)
    refs = _reference_results(r.reference_scoring_id for r in ratings)
    out = []
    for rating in ratings:
        if rating.reference_scoring_id not in refs:
            continue
        ref_items, ref_total = refs[rating.reference_scoring_id]
        if ref_total is None or rating.total is None:
            continue
        codes = rating.codes or {}
        agree = sum(1 for k, v in ref_items.items() if codes.get(k) == v)
        out.append((rating, float(rating.total - ref_total),
                    agree / len(ref_items) if ref_items else 1.0))
    return out


def _scored(qs):
    return qs.filter(applicable=True, total__isnull=False, submitted_at__isnull=False,
                     reference_scoring__applicable=True)


def pooled_sds(*, organization_id: int, instrument_id: int) -> dict[str, tuple[float, int]]:
    """The pooled within-rater SD of each score on the organisation's first submitted ratings
    on the instrument (one per rater x vignette revision), with its df; the stated fallback
    (df 0) when they carry fewer than MIN_POOLED_DF degrees of freedom."""
    seen = set()
    firsts = []
    for rating in _scored(Rating.objects.filter(
            attempt__organization_id=organization_id,
            instrument_version__instrument_id=instrument_id)).select_related("attempt").order_by(
            "submitted_at", "pk"):
        key = (rating.attempt.user_id, rating.vignette_revision_id)
        if key not in seen:
            seen.add(key)
            firsts.append(rating)
    by_rater: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for rating, deviation, agreement in _scores(firsts):
        by_rater[rating.attempt.user_id].append((deviation, agreement))
    out = {}
    for index, kind in enumerate((DriftKind.DEVIATION, DriftKind.AGREEMENT)):
        sd, df = pooled_within_sd([[row[index] for row in rows] for rows in by_rater.values()])
        if sd is None or sd <= 0 or df < MIN_POOLED_DF:
            out[kind] = (FALLBACK_POOLED_SD[kind], 0)
        else:
            out[kind] = (sd, df)
    return out


def exam_scores(cert: Certificate) -> list[tuple[float, float]]:
    """(deviation, agreement) per vignette of the exam that certified the holder."""
    ratings = _scored(Rating.objects.filter(attempt_id=cert.decision.attempt_id,
                                            instrument_version_id=cert.instrument_version_id))
    return [(dev, agr) for _r, dev, agr in _scores(ratings.order_by("pk"))]


def baseline_compute(cert: Certificate) -> dict:
    """The holder's baseline for each score, as stored on the certificate at issue. A
    baseline from too few exam cases, or with no spread, uses the pooled SD (with the reason);
    below the minimum count its mean is the reference (deviation 0) or the item agreement the
    rule required to pass (what the holder was certified as meeting)."""
    scores = exam_scores(cert)
    pooled = pooled_sds(organization_id=cert.organization_id,
                        instrument_id=cert.instrument_version.instrument_id)
    rule = cert.decision.rule
    fallback = {DriftKind.DEVIATION: 0.0,
                DriftKind.AGREEMENT: rule.item_agreement if rule else DEFAULT_ITEM_AGREEMENT}
    out = {}
    for index, kind in enumerate((DriftKind.DEVIATION, DriftKind.AGREEMENT)):
        sd, df = pooled[kind]
        out[kind] = drift_baseline([row[index] for row in scores], pooled_sd=sd, pooled_n=df,
                                   fallback_mean=fallback[kind]).as_dict()
    return out


def baseline_ensure(cert: Certificate, kind: str) -> DriftBaseline:
    """The stored baseline; a certificate without one (issued before baselines were stored
    and missed by the migration) gets it computed and stored now, from its exam evidence."""
    stored = (cert.drift_baseline or {}).get(kind)
    if not stored:
        cert.drift_baseline = baseline_compute(cert)
        cert.save(update_fields=["drift_baseline"])
        stored = cert.drift_baseline[kind]
    return DriftBaseline.from_dict(stored)


def drift_series(cert: Certificate, *, since: dt.datetime | None = None
                 ) -> list[tuple[Rating, float, float]]:
    """The holder's submitted non-exam ratings on the certificate's instrument after it was
    issued (and after `since`), both applicable, in time order, with their scores."""
    start = max(cert.issued_at, since) if since else cert.issued_at
    return _scores(_scored(Rating.objects.filter(
        attempt__user_id=cert.holder_id, attempt__organization_id=cert.organization_id,
        attempt__mode=Mode.PRACTICE, submitted_at__gt=start,
        instrument_version__instrument_id=cert.instrument_version.instrument_id,
    )).order_by("submitted_at", "pk"))


def drift_check(*, cert: Certificate, kind: str, slack: float, threshold: float,
                since: dt.datetime | None = None) -> dict | None:
    """The evidence of a CUSUM alarm on this score, or None: the raw and standardised
    series, both paths, the baseline it was judged against, k, h and the alarm."""
    rows = drift_series(cert, since=since)
    if not rows:
        return None
    baseline = baseline_ensure(cert, kind)
    index = 1 if kind == DriftKind.DEVIATION else 2
    values = [row[index] for row in rows]
    z, path = standardised_cusum(values, baseline, slack=slack,
                                                   threshold=threshold)
    alarms = (path.upper_alarms + path.lower_alarms if kind == DriftKind.DEVIATION
              else path.lower_alarms)
    if not alarms:
        return None
    first = min(alarms)
    ids = [row[0].pk for row in rows]
    return {
        "method": METHOD, "units": "sd", "target": 0.0, "slack": slack, "threshold": threshold,
        "sides": "both" if kind == DriftKind.DEVIATION else "lower",
        "baseline": baseline.as_dict(), "n": len(values),
        "rating_ids": ids, "times": [row[0].submitted_at.isoformat() for row in rows],
        "raw": [round(v, 4) for v in values], "series": [round(v, 4) for v in z],
        "upper": [round(v, 4) for v in path.upper],
        "lower": [round(v, 4) for v in path.lower],
        "alarm_index": first,
        "direction": "upper" if first in path.upper_alarms else "lower",
        "alarm_rating_id": ids[first],
    }
