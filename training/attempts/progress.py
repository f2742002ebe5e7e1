"""A trainee's own progress: the learning curve, items most often missed, tendency, recent results and recommended cases, counting only ratings whose reference the trainee may see."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from django.db.models import Prefetch
from django.utils.translation import gettext as _

from training.attempts import disclosure
from training.models import (
    Attempt,
    AttemptStatus,
    AttemptVignette,
    CertificationRule,
    Mode,
    Rating,
    RatingItem,
)
from training.reliability.reference import mean_signed_deviation
from training.reliability.severity import (
    FEWER_VIGNETTES,
    INCLUDES_MARGIN,
    MIN_VIGNETTES,
    NO_INTERVAL,
    NO_RATINGS,
    NOT_CONFIRMED,
    TraineeSeverity,
    cohort_severity,
    margin_for_tolerance,
)
from vignettes.models import ReferenceItemScore
from vignettes.selectors import practice_library

# --- progress ------------------------------------------------------------------------------


@dataclass
class ProgressPoint:
    period: str
    ratings: int
    item_agreement: float | None


@dataclass
class MissedItem:
    code: str
    name: str
    misses: int
    scored: int
    usual_wrong: str


@dataclass
class InstrumentProgress:
    slug: str
    name: str
    ratings: int
    item_agreement: float | None
    applicability_agreement: float | None
    deviation: object  # reliability Estimate of mean signed deviation of totals
    severity: TraineeSeverity  # first ratings only, whose reference the trainee may see
    tendency: str  # what the trainee reads: the flag, or why there is none
    over_time: list[ProgressPoint]
    missed: list[MissedItem]


def trainee_progress(*, user, organization, tz: str = "UTC") -> list[InstrumentProgress]:
    """Agreement with the reference over time, missed items, lenient/severe tendency, from
    the ratings whose reference the trainee may see (training.attempts.disclosure)."""
    import zoneinfo


    zone = zoneinfo.ZoneInfo(tz)
    # The trainee's first submitted rating of each vignette revision x instrument version,
    # whether or not its reference is released: a released repeat never stands in for an
    # unreleased first rating.
    first_ids, seen = set(), set()
    for rating_id, revision_id, version_id in Rating.objects.filter(
        attempt__user=user, attempt__organization=organization, submitted_at__isnull=False,
    ).order_by("submitted_at", "id").values_list(
        "id", "vignette_revision_id", "instrument_version_id"
    ):
        if (revision_id, version_id) not in seen:
            seen.add((revision_id, version_id))
            first_ids.add(rating_id)
    tolerances = dict(CertificationRule.objects.filter(organization=organization).values_list(
        "instrument_id", "total_tolerance"))
    rows = list(
        disclosure.released_ratings(Rating.objects.filter(
            attempt__user=user,
            attempt__organization=organization,
            submitted_at__isnull=False,
            reference_scoring__isnull=False,
        ))
        .select_related("instrument_version__instrument", "reference_scoring")
        .order_by("submitted_at")
    )
    item_rows = list(
        RatingItem.objects.filter(rating__in=[r.pk for r in rows]).values_list(
            "rating_id", "item__code", "item__name", "item_id", "value"
        )
    )
    ref_values = {
        (rs_id, item_id): value
        for rs_id, item_id, value in ReferenceItemScore.objects.filter(
            reference_scoring__in={r.reference_scoring_id for r in rows}
        ).values_list("reference_scoring_id", "item_id", "value")
    }
    ref_totals = {}
    by_rating = defaultdict(list)
    for rating_id, code, name, item_id, value in item_rows:
        by_rating[rating_id].append((code, name, item_id, value))
    per_instrument = defaultdict(list)
    for r in rows:
        per_instrument[r.instrument_version.instrument].append(r)
    out = []
    for instrument, ratings in sorted(per_instrument.items(), key=lambda kv: kv[0].short_name):
        app_hits = [r.applicable == r.reference_scoring.applicable for r in ratings]
        both = [r for r in ratings if r.applicable and r.reference_scoring.applicable]
        per_period = defaultdict(lambda: [0, 0, 0])
        misses = defaultdict(lambda: [0, 0, Counter(), ""])
        hits = total_items = 0
        trainee_totals, reference_totals = [], []
        first_deviations, first_vignettes = [], []
        for r in both:
            period = r.submitted_at.astimezone(zone).strftime("%Y-%m")
            per_period[period][0] += 1
            for code, name, item_id, value in by_rating[r.pk]:
                ref_value = ref_values.get((r.reference_scoring_id, item_id))
                match = value == ref_value
                hits += match
                total_items += 1
                per_period[period][1] += match
                per_period[period][2] += 1
                entry = misses[code]
                entry[1] += 1
                entry[3] = name
                if not match:
                    entry[0] += 1
                    entry[2]["omitted" if value is None else value] += 1
            if r.total is not None:
                if r.reference_scoring_id not in ref_totals:
                    ref_totals[r.reference_scoring_id] = r.reference_scoring.result().total
                trainee_totals.append(r.total)
                reference_totals.append(ref_totals[r.reference_scoring_id])
                if r.pk in first_ids:
                    first_deviations.append(r.total - ref_totals[r.reference_scoring_id])
                    first_vignettes.append(r.vignette_revision_id)
        deviation = mean_signed_deviation(trainee_totals, reference_totals)
        # The cohort model's rule for one person: first ratings, at least 10 vignettes, an
        # interval wholly beyond the margin of the organisation's rule (0.5 points by default).
        severity = cohort_severity(
            first_deviations, trainees=[user.pk] * len(first_deviations),
            vignettes=first_vignettes, all_trainees=[user.pk],
            margin=margin_for_tolerance(tolerances.get(instrument.pk)),
        ).trainees[0]
        tendency = _own_tendency(severity)
        missed = sorted(
            (
                MissedItem(code, m[3], m[0], m[1],
                           str(m[2].most_common(1)[0][0]) if m[2] else "")
                for code, m in misses.items() if m[0]
            ),
            key=lambda m: (-m.misses / m.scored, m.code),
        )[:5]
        out.append(
            InstrumentProgress(
                slug=instrument.slug,
                name=instrument.short_name,
                ratings=len(ratings),
                item_agreement=hits / total_items if total_items else None,
                applicability_agreement=sum(app_hits) / len(app_hits) if app_hits else None,
                deviation=deviation,
                severity=severity,
                tendency=tendency,
                over_time=[
                    ProgressPoint(p, v[0], v[1] / v[2] if v[2] else None)
                    for p, v in sorted(per_period.items())
                ],
                missed=missed,
            )
        )
    return out


def _own_tendency(severity: TraineeSeverity) -> str:
    if severity.tendency == "severe":
        return _("more severe than the reference")
    if severity.tendency == "lenient":
        return _("more lenient than the reference")
    why = {
        FEWER_VIGNETTES.format(n=MIN_VIGNETTES): _("fewer than 10 different cases so far"),
        INCLUDES_MARGIN: _("the interval includes the margin"),
        NOT_CONFIRMED: _("not confirmed"),
        NO_INTERVAL: _("a single rating gives no interval"),
        NO_RATINGS: _("no first rating of a case with a total"),
    }.get(severity.reason, severity.reason)
    return _("no clear lenient or severe tendency (%(why)s)") % {"why": why}


@dataclass
class RecentResult:
    attempt_id: int
    title: str
    submitted_at: object
    instruments: str
    # Where the line links: the case's feedback, only once the trainee may see it
    # (training.attempts.disclosure); an exam held back shows no link and no reference.
    feedback: bool
    exam: str


def recent_results(*, user, organization, limit=5) -> list[RecentResult]:
    """The latest submitted work, one line per case (an exam of ten cases is ten lines)."""
    attempts = (
        Attempt.objects.filter(user=user, organization=organization)
        .exclude(status=AttemptStatus.IN_PROGRESS)
        .prefetch_related(
            Prefetch(
                "attempt_vignettes",
                queryset=AttemptVignette.objects.select_related("vignette_revision")
                .order_by("order"),
            ),
            "instrument_versions__instrument",
        )
        .select_related("assignment")
        .order_by("-submitted_at", "-pk")[:limit]
    )
    out = []
    for attempt in attempts:
        instruments = ", ".join(v.instrument.short_name for v in attempt.instrument_versions.all())
        feedback = disclosure.feedback_allowed(attempt)
        exam = attempt.assignment.title if attempt.mode == Mode.EXAM and attempt.assignment else ""
        for av in attempt.attempt_vignettes.all():
            out.append(RecentResult(
                attempt_id=attempt.pk, title=av.vignette_revision.title,
                submitted_at=attempt.submitted_at, instruments=instruments,
                feedback=feedback, exam=exam,
            ))
            if len(out) >= 2 * limit:
                return out
    return out


@dataclass
class Recommendation:
    slug: str
    title: str
    reason: str


def recommended_cases(*, user, organization, limit: int = 3) -> list[Recommendation]:
    """Practice cases, not yet attempted, whose reference exercises the items and values the
    trainee misses most (the reference value they missed), counting only ratings whose
    reference the trainee may see (training.attempts.disclosure)."""

    rows = list(
        disclosure.released_ratings(Rating.objects.filter(
            attempt__user=user, attempt__organization=organization,
            submitted_at__isnull=False, applicable=True, reference_scoring__applicable=True,
        )).values_list("id", "reference_scoring_id")
    )
    if not rows:
        return []
    mine = {
        (rating_id, item_id): value
        for rating_id, item_id, value in RatingItem.objects.filter(
            rating_id__in=[rating_id for rating_id, _ref in rows]
        ).values_list("rating_id", "item_id", "value")
    }
    reference = defaultdict(dict)
    for ref_id, item_id, code, value in ReferenceItemScore.objects.filter(
        reference_scoring_id__in={ref for _rating, ref in rows}
    ).values_list("reference_scoring_id", "item_id", "item__code", "value"):
        reference[ref_id][item_id] = (code, value)
    missed = Counter()
    for rating_id, ref_id in rows:
        for item_id, (code, value) in reference[ref_id].items():
            if mine.get((rating_id, item_id), "unscored") != value:
                missed[(code, value)] += 1
    if not missed:
        return []
    top = dict(missed.most_common(8))
    candidates = practice_library(organization=organization, user=user, attempted=False)
    current = {v.current_revision_id: v for v in candidates}
    scores = defaultdict(list)
    for rev_id, code, value in ReferenceItemScore.objects.filter(
        reference_scoring__vignette_revision_id__in=list(current),
        reference_scoring__applicable=True,
    ).values_list("reference_scoring__vignette_revision_id", "item__code", "value"):
        if (code, value) in top:
            scores[rev_id].append((code, value))
    ranked = sorted(
        scores.items(),
        key=lambda kv: (-sum(top[p] for p in set(kv[1])), current[kv[0]].slug),
    )[:limit]
    out = []
    for rev_id, pairs in ranked:
        vignette = current[rev_id]
        # The reason names the items the trainee misses, never the case's reference values:
        # the case has not been scored yet, and its codes are the answer.
        shown = []
        for code, _value in sorted(set(pairs), key=lambda p: -top[p]):
            if code not in shown:
                shown.append(code)
        out.append(Recommendation(
            slug=vignette.slug,
            title=vignette.current_revision.title,
            reason=_("practises %(items)s, items you often miss") % {
                "items": ", ".join(shown[:3])},
        ))
    return out
