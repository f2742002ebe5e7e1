"""Reads of attempts and ratings for the trainee's pages and the API: lists, one attempt, drafts, feedback, assignments and their progress. Never writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Max, Prefetch, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from training.attempts import disclosure
from training.models import (
    Assignment,
    AssignmentKind,
    Attempt,
    AttemptStatus,
    AttemptVignette,
    Mode,
    Rating,
    RatingItem,
)
from training.tenancy import int_or_404, not_found_in
from vignettes import scoring
from vignettes.models import CaseType, ReferenceItemScore
from vignettes.selectors import correction_note, validity_caveats_for


def attempt_list(*, user, organization):
    return (
        Attempt.objects.filter(user=user, organization=organization)
        .select_related("assignment")
        .prefetch_related(
            "instrument_versions__instrument",
            Prefetch(
                "attempt_vignettes",
                queryset=AttemptVignette.objects.select_related("vignette_revision__vignette"),
            ),
        )
        .order_by("-started_at", "-pk")
    )


def attempt_get(*, user, organization, attempt_id, related: bool = True) -> Attempt:
    """The user's own attempt in the active organisation, or 404 (never 403: another
    trainee's attempt must not be distinguishable from one that does not exist).

    `related=False` skips prefetching its vignettes and instruments, for a caller that only
    writes (a draft save looks up the one rating it needs). It only reads: a caller about to
    show or change the attempt calls `attempt_open` (training.attempts.services), which
    starts an exam's clock at its first open and finalises an attempt past its deadline."""
    attempt_id = int_or_404(attempt_id)
    if related:
        attempts = attempt_list(user=user, organization=organization)
    else:
        attempts = Attempt.objects.filter(user=user, organization=organization).select_related(
            "assignment")
    attempt = attempts.filter(pk=attempt_id).first()
    if attempt is None:
        raise not_found_in(Attempt, organization=organization, pk=attempt_id)
    return attempt


@dataclass
class RatingDraft:
    vignette_slug: str
    instrument_slug: str
    applicable: bool | None
    items: dict[str, int | None]
    notes: dict[str, str]
    rationale: str
    revision: int
    total: int
    band_code: str | None
    band_label: str | None
    complete: bool
    unscored: list[str]


def rating_draft(rating: Rating, *, vignette_slug: str, instrument_slug: str,
                 items: dict[str, int | None], result: scoring.ScoreResult) -> RatingDraft:
    return RatingDraft(
        vignette_slug=vignette_slug,
        instrument_slug=instrument_slug,
        applicable=rating.applicable,
        items=items,
        notes=dict(rating.notes or {}),
        rationale=rating.rationale,
        revision=rating.revision,
        total=result.total,
        band_code=result.band_code,
        band_label=result.band.label if result.band else None,
        complete=result.complete,
        unscored=list(result.unscored),
    )


def attempt_ratings(attempt: Attempt) -> dict[tuple[str, str], RatingDraft]:
    """The saved drafts of an attempt, keyed by (vignette slug, instrument slug)."""
    out = {}
    ratings = attempt.ratings.select_related(
        "vignette_revision__vignette", "instrument_version__instrument"
    ).prefetch_related(Prefetch("items", queryset=RatingItem.objects.select_related("item")))
    for rating in ratings:
        states = {ri.item.code: ri.value for ri in rating.items.all()}
        key = (rating.vignette_revision.vignette.slug, rating.instrument_version.instrument.slug)
        out[key] = rating_draft(
            rating, vignette_slug=key[0], instrument_slug=key[1], items=states,
            result=scoring.score(rating.instrument_version.spec, states),
        )
    return out


def feedback_allowed(attempt: Attempt, *, now: dt.datetime | None = None) -> bool:
    """See training.attempts.disclosure: the one rule for what a trainee learns of a reference."""
    return disclosure.feedback_allowed(attempt, now=now)


def feedback_release_note(attempt: Attempt) -> str:
    return disclosure.release_note(attempt)


@dataclass
class ItemFeedback:
    code: str
    name: str
    value: int | None
    value_label: str
    scored: bool
    reference_value: int | None
    reference_label: str
    match: bool
    rationale: str
    note: str
    # The coding note of the instrument version the reference was scored under.
    coding_notes: str = ""


@dataclass
class RatingFeedback:
    vignette_slug: str
    vignette_title: str
    instrument_slug: str
    instrument_name: str
    applicable: bool | None
    reference_applicable: bool
    reference_reason: str
    applicability_match: bool
    items: list[ItemFeedback] = field(default_factory=list)
    total: int | None = None
    band: str | None = None
    reference_total: int | None = None
    reference_band: str | None = None
    # False where the instrument has no published bands: no band is shown, not even one an
    # older version carried.
    bands_applicable: bool = True
    summary: str = ""
    reference_number: int = 0
    panel: str = ""
    comments: list = field(default_factory=list)
    correction_note: str = ""
    # Shown only here, after scoring: what kind of case it was and what makes it hard.
    case_types: list[str] = field(default_factory=list)
    hard_because: str = ""
    # What the literature says about the instrument's validity for this kind of case.
    caveats: list[dict] = field(default_factory=list)
    # The period the instrument's items are rated over, where its file says.
    rating_period: str = ""


def _label(labels: dict[int, str], value) -> str:
    if value is None:
        return _("omitted")
    return f"{value} ({labels.get(value, '')})"


def _missing_info(rating) -> bool:
    states = {ri.item.code: ri.value for ri in rating.items.all()}
    return bool(scoring.score(rating.instrument_version.spec, states).missing)


def attempt_feedback(attempt: Attempt) -> list[RatingFeedback]:
    """Item-by-item comparison with the reference each rating was compared against."""
    if not feedback_allowed(attempt):
        raise Http404
    out = []
    ratings = disclosure.released_ratings(attempt.ratings.all()).select_related(
        "vignette_revision__vignette",
        "instrument_version__instrument",
        "reference_scoring",
    ).prefetch_related(
        Prefetch("items", queryset=RatingItem.objects.select_related("item")),
        "instrument_version__items__allowed_values",
        "instrument_version__bands",
        "comments__author",
    )
    for rating in ratings:
        ref = rating.reference_scoring
        version = rating.instrument_version
        fb = RatingFeedback(
            vignette_slug=rating.vignette_revision.vignette.slug,
            vignette_title=rating.vignette_revision.title,
            instrument_slug=version.instrument.slug,
            instrument_name=version.instrument.short_name,
            applicable=rating.applicable,
            reference_applicable=bool(ref and ref.applicable),
            reference_reason=ref.not_applicable_reason if ref else "",
            applicability_match=bool(ref) and rating.applicable == ref.applicable,
            reference_number=ref.number if ref else 0,
            panel=ref.panel if ref else "",
            case_types=[CaseType(c).label for c in rating.vignette_revision.case_types
                        if c in CaseType.values],
            hard_because=rating.vignette_revision.hard_because,
            comments=[
                {"author": c.author.username if c.author else "", "text": c.text,
                 "created_at": c.created_at}
                for c in rating.comments.all()
            ],
        )
        scored_under = ref.instrument_version if ref is not None else version
        fb.caveats = validity_caveats_for(version=scored_under,
                                          case_types=rating.vignette_revision.case_types)
        fb.rating_period = scored_under.rating_period
        bands = {b.code: b.label for b in version.shown_bands}
        fb.bands_applicable = bool(bands)
        if ref is not None and ref.applicable:
            ref_items = {
                s.item.code: s
                for s in ReferenceItemScore.objects.filter(reference_scoring=ref).select_related(
                    "item"
                )
            }
            mine = {ri.item.code: ri.value for ri in rating.items.all()}
            matches = 0
            for item in version.items.all():
                labels = {v.value: v.label for v in item.allowed_values.all()}
                ref_item = ref_items.get(item.code)
                scored = item.code in mine
                value = mine.get(item.code)
                ref_value = ref_item.value if ref_item else None
                match = bool(rating.applicable) and scored and value == ref_value
                matches += match
                fb.items.append(
                    ItemFeedback(
                        code=item.code,
                        name=item.name,
                        value=value,
                        value_label=_label(labels, value) if scored else _("not scored"),
                        scored=scored,
                        reference_value=ref_value,
                        reference_label=_label(labels, ref_value),
                        match=match,
                        rationale=ref_item.rationale if ref_item else "",
                        note=(rating.notes or {}).get(item.code, ""),
                        coding_notes=(ref_item.item if ref_item else item).coding_notes,
                    )
                )
            ref_result = ref.result()
            fb.reference_total = ref_result.total
            fb.reference_band = bands.get(ref_result.band_code)
            if rating.applicable:
                fb.total = rating.total
                fb.band = bands.get(rating.band_code)
                n = len(fb.items)
                if fb.total is not None and fb.reference_total is None:
                    total_text = _("the reference's total is not computable (an item is "
                                   "omitted for missing information)")
                elif fb.total is not None:
                    diff = fb.total - fb.reference_total
                    if diff == 0:
                        total_text = _("total equals the reference")
                    elif diff > 0:
                        total_text = ngettext("total %(d)d point above the reference",
                                              "total %(d)d points above the reference",
                                              diff) % {"d": diff}
                    else:
                        total_text = ngettext("total %(d)d point below the reference",
                                              "total %(d)d points below the reference",
                                              -diff) % {"d": -diff}
                elif _missing_info(rating):
                    total_text = _("your total is not computable (an item omitted for missing "
                                   "information)")
                else:
                    total_text = _("total incomplete")
                fb.summary = _("%(m)d of %(n)d items agree; %(total)s.") % {
                    "m": matches, "n": n, "total": total_text}
            else:
                fb.summary = _(
                    "You judged %(inst)s not applicable; the reference scores it."
                ) % {"inst": fb.instrument_name}
        elif ref is not None:
            fb.summary = (
                _("Both you and the reference judged %(inst)s not applicable.")
                if rating.applicable is False
                else _("The reference judges %(inst)s not applicable here.")
            ) % {"inst": fb.instrument_name}
        fb.correction_note = correction_note(rating)
        out.append(fb)
    return out


def assignments_for_trainee(*, user, organization, now: dt.datetime | None = None):
    now = now or timezone.now()
    return (
        Assignment.objects.filter(
            organization=organization, cohort__trainees=user, opens_at__lte=now
        )
        .filter(Q(closes_at__isnull=True) | Q(closes_at__gt=now))
        .select_related("vignette_set", "cohort")
        .prefetch_related("instruments")
        .annotate(
            set_size=Count("vignette_set__members", distinct=True),
        )
        .order_by("closes_at", "title")
    )


def practice_done_elsewhere(*, user, assignment) -> set[int]:
    """Vignettes of a standard practice assignment's set the trainee rated in practice
    outside it (from the library, or in another practice attempt), within the assignment's
    window and for every instrument it asks for: that work counts, whichever way the trainee
    opened the case. Exams and calibration rounds count only their own attempts."""
    user_id = getattr(user, "pk", user)
    return practice_done_elsewhere_by_user(users=[user_id], assignment=assignment
                                           ).get(user_id, set())


def practice_done_elsewhere_by_user(*, users, assignment) -> dict[int, set[int]]:
    """practice_done_elsewhere for several trainees (user ids) at once, {user id: vignette
    ids}, trainees with none left out: two queries whatever their number."""
    if assignment.mode != Mode.PRACTICE or assignment.kind != AssignmentKind.STANDARD:
        return {}
    required = set(assignment.instruments.values_list("pk", flat=True))
    if not required:
        return {}
    ratings = Rating.objects.filter(
        attempt__user_id__in=list(users), attempt__organization_id=assignment.organization_id,
        attempt__mode=Mode.PRACTICE, submitted_at__isnull=False,
        submitted_at__gte=assignment.opens_at,
        vignette_revision__vignette__set_members__vignette_set_id=assignment.vignette_set_id,
    )
    if assignment.closes_at is not None:
        ratings = ratings.filter(submitted_at__lte=assignment.closes_at)
    covered: dict[tuple[int, int], set[int]] = {}
    for user_id, vignette_id, instrument_id in ratings.values_list(
        "attempt__user_id", "vignette_revision__vignette_id", "instrument_version__instrument_id"
    ).distinct():
        covered.setdefault((user_id, vignette_id), set()).add(instrument_id)
    out: dict[int, set[int]] = {}
    for (user_id, vignette_id), instruments in covered.items():
        if required <= instruments:
            out.setdefault(user_id, set()).add(vignette_id)
    return out


def cases_to_do(assignment, set_size: int) -> int:
    """The cases an assignment asks for: an exam's draw (at most its pool), else its set."""
    if assignment.mode == Mode.EXAM:
        return min(assignment.draw_size or set_size, set_size)
    return set_size


def assignment_progress(*, user, assignment) -> dict:
    attempts = Attempt.objects.filter(user=user, assignment=assignment)
    submitted = attempts.exclude(status=AttemptStatus.IN_PROGRESS)
    open_attempt = attempts.filter(status=AttemptStatus.IN_PROGRESS).order_by("-started_at").first()
    set_size = getattr(assignment, "set_size", None)
    if set_size is None:
        set_size = assignment.vignette_set.members.count()
    total, exam_attempt = cases_to_do(assignment, set_size), None
    if assignment.mode == Mode.EXAM:
        # An exam is x of the cases one attempt draws, in the current (else the last) attempt;
        # a case is done as its tab says (services.exam_cases_done), which the caller counts.
        exam_attempt = open_attempt or submitted.order_by("-submitted_at").first()
        done_vignettes = None
    else:
        own = set(
            Rating.objects.filter(attempt__in=submitted)
            .values_list("vignette_revision__vignette", flat=True).distinct()
        )
        done_vignettes = len(own | practice_done_elsewhere(user=user, assignment=assignment))
    return {
        "exam_attempt": exam_attempt,
        "attempts": attempts.count(),
        "submitted": submitted.count(),
        "vignettes_done": done_vignettes,
        "total": total,
        "open_attempt": open_attempt,
        "last_submitted": submitted.aggregate(t=Max("submitted_at"))["t"],
    }


def attempted_vignette_ids(*, user, organization) -> set[int]:
    return set(
        Rating.objects.filter(
            attempt__user=user, attempt__organization=organization, submitted_at__isnull=False
        ).values_list("vignette_revision__vignette_id", flat=True)
    )
