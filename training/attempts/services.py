"""Writes about attempts and ratings: start, save a draft, submit.

Every write runs in one transaction and takes the attempt's row lock first, so a draft save
and a submission of the same attempt never interleave, and of many concurrent submissions
exactly one succeeds (the others get a Conflict, i.e. HTTP 409).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from training.attempts.exams import exam_draw, exam_start_check, exam_start_record
from training.attempts.limits import MAX_NOTE_CHARS, MAX_RATIONALE_CHARS, text_problem
from training.attempts.selectors import practice_done_elsewhere
from training.attempts.signals import attempt_sealed
from training.exceptions import Conflict
from training.models import (
    Assignment,
    Attempt,
    AttemptStatus,
    AttemptVignette,
    ExamStart,
    Membership,
    Mode,
    Organization,
    Rating,
    RatingItem,
    Role,
)
from vignettes import scoring
from vignettes.models import (
    ContentStatus,
    Instrument,
    InstrumentVersion,
    ReferenceScoring,
    VignetteSetMember,
)
from vignettes.selectors import practice_vignette_get

# --- starting ------------------------------------------------------------------------------


def _instruments_for(organization: Organization, slugs: list[str]) -> list[InstrumentVersion]:
    slugs = list(dict.fromkeys(s for s in slugs if isinstance(s, str)))
    if not slugs:
        raise ValidationError({"instruments": _("Choose at least one instrument.")})
    instruments = {
        i.slug: i
        for i in Instrument.objects.visible_to(organization)
        .filter(slug__in=slugs, current_version__isnull=False)
        .select_related("current_version")
    }
    unknown = [s for s in slugs if s not in instruments]
    if unknown:
        raise ValidationError(
            {"instruments": _("Unknown instrument: %(slugs)s.") % {"slugs": ", ".join(unknown)}}
        )
    return [instruments[s].current_version for s in slugs]


@transaction.atomic
def attempt_start_practice(
    *,
    user,
    organization: Organization,
    vignette_slug: str,
    instrument_slugs: list[str],
    now: dt.datetime | None = None,
) -> Attempt:
    """Free practice on one published practice vignette with the chosen instruments."""
    now = now or timezone.now()
    vignette = practice_vignette_get(slug=vignette_slug, organization=organization)
    versions = _instruments_for(organization, instrument_slugs)
    attempt = Attempt.objects.create(
        user=user, organization=organization, mode=Mode.PRACTICE, started_at=now
    )
    attempt.instrument_versions.set(versions)
    AttemptVignette.objects.create(
        attempt=attempt, vignette_revision=vignette.current_revision, order=1
    )
    return attempt


def _trainee_can_take(user, assignment: Assignment) -> bool:
    return (
        Membership.objects.filter(
            user=user, organization=assignment.organization, role=Role.TRAINEE
        ).exists()
        and assignment.cohort.trainees.filter(pk=user.pk).exists()
    )


@transaction.atomic
def attempt_start_assignment(
    *,
    user,
    organization: Organization,
    assignment: Assignment,
    vignette_slug: str | None = None,
    accept_undertaking: bool = False,
    now: dt.datetime | None = None,
) -> Attempt:
    """Start work on an assignment.

    Practice: one vignette of the set (the one asked for, else the first not yet submitted
    under this assignment). Exam: the set's published vignettes on one clock, started only
    once the candidate has accepted the confidentiality undertaking of the briefing.
    """
    now = now or timezone.now()
    if assignment.organization_id != organization.pk or not _trainee_can_take(user, assignment):
        raise Assignment.DoesNotExist
    if assignment.mode == Mode.EXAM and accept_undertaking is not True:
        raise ValidationError({"accept_undertaking": _(
            "Accept the confidentiality undertaking to start the exam (API: "
            "\"accept_undertaking\": true).")})
    # Serialise starts of the same assignment by the same user (attempt limits).
    Membership.objects.select_for_update().filter(
        user=user, organization=organization
    ).first()
    if assignment.opens_at > now:
        raise Conflict(_("This assignment opens at %(t)s.") % {"t": assignment.opens_at},
                       code="not_open")
    if assignment.closes_at and assignment.closes_at <= now:
        raise Conflict(_("This assignment has closed."), code="closed")
    previous = Attempt.objects.filter(user=user, assignment=assignment)
    if assignment.attempts_allowed is not None and previous.count() >= assignment.attempts_allowed:
        raise Conflict(
            ngettext("You have used the %(n)d attempt allowed for this assignment.",
                     "You have used all %(n)d attempts allowed for this assignment.",
                     assignment.attempts_allowed)
            % {"n": assignment.attempts_allowed},
            code="attempts_exhausted",
        )
    if assignment.mode == Mode.EXAM:

        exam_start_check(user=user, organization=organization, assignment=assignment, now=now)
    members = list(
        VignetteSetMember.objects.filter(
            vignette_set=assignment.vignette_set,
            vignette__status=ContentStatus.PUBLISHED,
            vignette__current_revision__isnull=False,
        ).select_related("vignette__current_revision").order_by("order")
    )
    if not members:
        raise ValidationError(_("This assignment's set has no published vignette."))
    if assignment.mode == Mode.PRACTICE:
        if vignette_slug:
            chosen = [m for m in members if m.vignette.slug == vignette_slug]
            if not chosen:
                raise ValidationError(
                    {"vignette": _("That vignette is not part of this assignment.")}
                )
        else:
            done = set(
                Rating.objects.filter(
                    attempt__user=user,
                    attempt__assignment=assignment,
                    attempt__status=AttemptStatus.SUBMITTED,
                ).values_list("vignette_revision__vignette_id", flat=True)
            )
            # Cases already done in practice from the library count as done here too.
            done |= practice_done_elsewhere(user=user, assignment=assignment)
            chosen = [m for m in members if m.vignette_id not in done][:1] or members[:1]
    else:

        draw_seed, chosen = exam_draw(
            user=user, organization=organization, assignment=assignment, members=members
        )
    deadline = None
    if assignment.mode == Mode.EXAM:
        pass  # the exam's clock starts at its first open (attempt_open)
    elif assignment.time_limit_minutes:
        deadline = now + dt.timedelta(minutes=assignment.time_limit_minutes)
        if assignment.closes_at:
            deadline = min(deadline, assignment.closes_at)
    attempt = Attempt.objects.create(
        user=user,
        organization=organization,
        assignment=assignment,
        mode=assignment.mode,
        started_at=now,
        deadline=deadline,
        draw_seed=draw_seed if assignment.mode == Mode.EXAM else None,
    )
    attempt.instrument_versions.set(
        [i.current_version for i in assignment.instruments.select_related("current_version")]
    )
    AttemptVignette.objects.bulk_create(
        AttemptVignette(attempt=attempt, vignette_revision=m.vignette.current_revision, order=i)
        for i, m in enumerate(chosen, start=1)
    )
    if assignment.mode == Mode.EXAM:
        exam_start_record(attempt=attempt, user=user, assignment=assignment, now=now)
    return attempt


def _extra_minutes(attempt: Attempt) -> int:
    """Extra time granted to this candidate before the exam started (0: none)."""
    start = ExamStart.objects.filter(attempt=attempt).first()
    return start.extra_minutes if start else 0


def attempt_open(*, attempt: Attempt, now: dt.datetime | None = None) -> Attempt:
    """Called on every read of an attempt by its owner. An exam's clock starts at its first
    open (deadline = opened_at + time limit, capped at the assignment's close); an attempt
    read after its deadline is finalised with what was saved. Returns the attempt, updated."""
    now = now or timezone.now()
    needs_open = attempt.mode == Mode.EXAM and attempt.opened_at is None
    overdue = attempt.deadline is not None and now >= attempt.deadline
    if attempt.status != AttemptStatus.IN_PROGRESS or not (needs_open or overdue):
        return attempt
    with transaction.atomic():
        locked = Attempt.objects.select_for_update().get(pk=attempt.pk)
        if locked.status == AttemptStatus.IN_PROGRESS and locked.mode == Mode.EXAM \
                and locked.opened_at is None:
            assignment = locked.assignment
            deadline = None
            if assignment is not None and assignment.time_limit_minutes:
                deadline = now + dt.timedelta(
                    minutes=assignment.time_limit_minutes + _extra_minutes(locked))
            if assignment is not None and assignment.closes_at:
                deadline = min(deadline or assignment.closes_at, assignment.closes_at)
            locked.opened_at = now
            locked.deadline = deadline
            locked.save(update_fields=["opened_at", "deadline"])
        if locked.status == AttemptStatus.IN_PROGRESS and locked.deadline \
                and now >= locked.deadline:
            attempt_finalise(attempt=locked, now=now)
    for name in ("opened_at", "deadline", "status", "submitted_at"):
        setattr(attempt, name, getattr(locked, name))
    return attempt


# --- saving drafts -------------------------------------------------------------------------


def _clean_text(value, field: str, limit: int) -> str:
    if value is None:
        return ""
    problem = text_problem(value, limit)
    if problem:
        raise ValidationError({field: problem})
    return value


def closed_attempt_conflict(attempt: Attempt) -> Conflict:
    """Why an attempt that is submitted, finalised or past its deadline can no longer change,
    in the trainee's terms (reading an overdue attempt finalises it, so a save after the
    deadline usually meets a finalised attempt, which the trainee never submitted)."""
    if attempt.status == AttemptStatus.SUBMITTED:
        return Conflict(_("This attempt has been submitted; it can no longer change."),
                        code="submitted")
    return Conflict(_("The time for this attempt is over; your saved work was kept."),
                    code="deadline_passed")


def _lock_open_attempt(attempt: Attempt, now: dt.datetime) -> Attempt:
    locked = Attempt.objects.select_for_update().get(pk=attempt.pk)
    if locked.status != AttemptStatus.IN_PROGRESS or (
        locked.deadline and now >= locked.deadline
    ):
        raise closed_attempt_conflict(locked)
    return locked


@dataclass
class SavedRating:
    rating: Rating
    result: scoring.ScoreResult
    # Every item's state after the merge ({code: value}, None = omitted), in item order.
    items: dict[str, int | None] = field(default_factory=dict)


def _rating_target(attempt: Attempt, vignette_slug, instrument_slug):
    errors = {}
    av = AttemptVignette.objects.filter(
        attempt=attempt, vignette_revision__vignette__slug=vignette_slug
    ).select_related("vignette_revision").first() if isinstance(vignette_slug, str) else None
    if av is None:
        errors["vignette"] = _("%(v)r is not a vignette of this attempt.") % {"v": vignette_slug}
    version = attempt.instrument_versions.filter(
        instrument__slug=instrument_slug
    ).select_related("instrument").first() if isinstance(instrument_slug, str) else None
    if version is None:
        errors["instrument"] = _("%(i)r is not an instrument of this attempt.") % {
            "i": instrument_slug}
    if errors:
        raise ValidationError(errors)
    return av.vignette_revision, version


def _validate_items(spec: scoring.InstrumentSpec, items) -> dict[str, int | None]:
    if items is None:
        return {}
    if not isinstance(items, Mapping):
        raise ValidationError({"items": _("Must be an object of item code to value.")})
    errors = {}
    clean = {}
    for code, value in items.items():
        item = spec.item(code)
        if item is None:
            errors[f"items.{code}"] = _("%(code)s is not an item of %(inst)s.") % {
                "code": code, "inst": spec.slug}
        elif value is None:
            if not item.may_omit:
                errors[f"items.{code}"] = _("%(code)s may not be omitted.") % {"code": code}
            else:
                clean[code] = None
        elif isinstance(value, bool) or not isinstance(value, int) or value not in item.values:
            errors[f"items.{code}"] = _("%(value)r is not an allowed value (allowed: %(allowed)s).") % {
                "value": value, "allowed": ", ".join(str(v) for v in item.values)}
        else:
            clean[code] = value
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def rating_save_draft(
    *,
    attempt: Attempt,
    vignette: str,
    instrument: str,
    revision,
    applicable=None,
    items=None,
    notes=None,
    rationale=None,
    fields_sent: frozenset[str] = frozenset({"applicable", "items", "notes", "rationale"}),
    now: dt.datetime | None = None,
) -> SavedRating:
    """Merge a draft into one rating. `revision` must be the rating's current revision (0 for
    a rating never saved); a stale revision raises Conflict and changes nothing.

    Fields not in `fields_sent` are left as they are; items and notes are merged by code.
    """
    now = now or timezone.now()
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise ValidationError({"revision": _("Send the revision you last saw (0 for a new rating).")})
    attempt = _lock_open_attempt(attempt, now)
    vignette_revision, version = _rating_target(attempt, vignette, instrument)
    spec = version.spec
    clean_items = _validate_items(spec, items) if "items" in fields_sent else {}
    clean_notes = {}
    if "notes" in fields_sent and notes is not None:
        if not isinstance(notes, Mapping):
            raise ValidationError({"notes": _("Must be an object of item code to note.")})
        for code, note in notes.items():
            if spec.item(code) is None:
                raise ValidationError({f"notes.{code}": _("%(code)s is not an item of %(inst)s.")
                                       % {"code": code, "inst": spec.slug}})
            clean_notes[code] = _clean_text(note, f"notes.{code}", MAX_NOTE_CHARS)
    if "applicable" in fields_sent and applicable is not None and not isinstance(applicable, bool):
        raise ValidationError({"applicable": _("Must be true, false or null.")})
    clean_rationale = (
        _clean_text(rationale, "rationale", MAX_RATIONALE_CHARS)
        if "rationale" in fields_sent else None
    )

    rating, _created = Rating.objects.get_or_create(
        attempt=attempt,
        vignette_revision=vignette_revision,
        instrument_version=version,
        defaults={"updated_at": now},
    )
    if rating.revision != revision:
        raise Conflict(
            _("This rating was saved elsewhere since you loaded it (your revision %(mine)d, "
              "saved revision %(theirs)d). Reload to see the newer work.")
            % {"mine": revision, "theirs": rating.revision},
            code="stale_revision",
            current_revision=rating.revision,
        )
    if "applicable" in fields_sent:
        rating.applicable = applicable
    if clean_rationale is not None:
        rating.rationale = clean_rationale
    if clean_notes:
        merged = dict(rating.notes or {})
        for code, note in clean_notes.items():
            if note:
                merged[code] = note
            else:
                merged.pop(code, None)
        rating.notes = merged
    rating.revision = revision + 1
    rating.updated_at = now
    rating.save()
    item_ids = {item.code: item.pk for item in version.items.all()}
    existing = {ri.item_id: ri for ri in rating.items.all()}
    if clean_items:
        to_create, to_update = [], []
        for code, value in clean_items.items():
            row = existing.get(item_ids[code])
            if row is None:
                to_create.append(RatingItem(rating=rating, item_id=item_ids[code], value=value))
            elif row.value != value:
                row.value = value
                to_update.append(row)
        RatingItem.objects.bulk_create(to_create)
        RatingItem.objects.bulk_update(to_update, ["value"])
    code_of = {pk: code for code, pk in item_ids.items()}
    states = {code_of[item_id]: ri.value for item_id, ri in existing.items()} | clean_items
    states = {item.code: states[item.code] for item in spec.items if item.code in states}
    return SavedRating(rating=rating, result=scoring.score(spec, states), items=states)


def rating_score(rating: Rating) -> scoring.ScoreResult:
    """Score a rating from its saved items (uses prefetched items when present)."""
    states = {ri.item.code: ri.value for ri in rating.items.all()}
    return scoring.score(rating.instrument_version.spec, states)


def _ratings_with_items(attempt: Attempt):
    return attempt.ratings.select_related(
        "instrument_version__instrument", "vignette_revision"
    ).prefetch_related(Prefetch("items", queryset=RatingItem.objects.select_related("item")))


# --- submitting ----------------------------------------------------------------------------


def exam_cases_done(attempt: Attempt) -> int:
    """An exam attempt's cases done as the case tabs say it: every instrument decided and,
    where it applies, fully scored."""
    unfinished = {m["vignette"] for m in attempt_unscored(attempt)}
    return attempt.attempt_vignettes.exclude(
        vignette_revision__vignette__slug__in=unfinished).count()


def attempt_unscored(attempt: Attempt, *, ratings: list[Rating] | None = None) -> list[dict]:
    """What is missing before the attempt can be submitted, one entry per problem.
    `ratings`: the attempt's ratings with their items, if the caller has loaded them."""
    missing = []
    ratings = {
        (r.vignette_revision_id, r.instrument_version_id): r
        for r in (ratings if ratings is not None else _ratings_with_items(attempt))
    }
    versions = list(attempt.instrument_versions.select_related("instrument").prefetch_related(
        "items"))
    # What people read: titles, instrument names and item names (the slugs and codes are for
    # links and machines).
    item_names = {v.pk: {i.code: i.name for i in v.items.all()} for v in versions}
    for av in attempt.attempt_vignettes.select_related("vignette_revision__vignette"):
        for version in versions:
            where = {
                "vignette": av.vignette_revision.vignette.slug,
                "instrument": version.instrument.slug,
                "vignette_title": av.vignette_revision.title,
                "instrument_name": version.instrument.short_name,
            }
            rating = ratings.get((av.vignette_revision_id, version.pk))
            if rating is None or rating.applicable is None:
                missing.append(where | {"item": None, "item_name": "",
                                        "problem": _("applicability not decided")})
                continue
            if not rating.applicable:
                continue
            result = rating_score(rating)
            missing.extend(
                where | {"item": p.item_code,
                         "item_name": item_names[version.pk].get(p.item_code, p.item_code),
                         "problem": p.message}
                for p in result.problems
            )
    return missing


def _current_references(ratings: list[Rating]) -> dict[tuple[int, int], ReferenceScoring]:
    """The latest reference scoring of each (vignette revision, instrument version) of these
    ratings, in one query."""
    latest: dict[tuple[int, int], ReferenceScoring] = {}
    if not ratings:
        return latest
    pairs = {(r.vignette_revision_id, r.instrument_version_id) for r in ratings}
    candidates = ReferenceScoring.objects.filter(
        vignette_revision_id__in={v for v, _i in pairs},
        instrument_version_id__in={i for _v, i in pairs},
    ).order_by("vignette_revision_id", "instrument_version_id", "-number")
    for ref in candidates:
        key = (ref.vignette_revision_id, ref.instrument_version_id)
        if key in pairs:
            latest.setdefault(key, ref)
    return latest


def _seal_ratings(attempt: Attempt, now: dt.datetime, *,
                  ratings: list[Rating] | None = None) -> None:
    # The references in one query, not one per rating: an exam seals ten or more ratings, and
    # a deadline brings many exams at once. (One UPDATE per rating stays: Django's
    # bulk_update costs more CPU than ten plain updates.)
    ratings = list(_ratings_with_items(attempt)) if ratings is None else ratings
    references = _current_references(ratings)
    for rating in ratings:
        rating.submitted_at = now
        rating.reference_scoring = references.get(
            (rating.vignette_revision_id, rating.instrument_version_id)
        )
        rating.codes = {ri.item.code: ri.value for ri in rating.items.all()}
        if rating.applicable:
            result = rating_score(rating)
            rating.total = result.total if not result.unscored else None
            rating.band_code = result.band_code or ""
        rating.save(
            update_fields=["submitted_at", "reference_scoring", "total", "band_code", "codes"]
        )


@transaction.atomic
def attempt_submit(*, attempt: Attempt, now: dt.datetime | None = None) -> Attempt:
    """Submit: every applicable rating complete, else a ValidationError listing what is not.

    Of concurrent submissions exactly one wins; the others raise Conflict.
    """
    now = now or timezone.now()
    locked = Attempt.objects.select_for_update().get(pk=attempt.pk)
    if locked.status != AttemptStatus.IN_PROGRESS:
        raise closed_attempt_conflict(locked)  # submitted, or finalised at the deadline
    if locked.deadline and now >= locked.deadline:
        attempt_finalise(attempt=locked, now=now)
        raise Conflict(_("The time for this attempt is over; it was finalised with your "
                         "saved work."), code="deadline_passed")
    # Loaded once (under the attempt's row lock, so they cannot change) for the check and the
    # seal.
    ratings = list(_ratings_with_items(locked))
    missing = attempt_unscored(locked, ratings=ratings)
    if missing:
        raise ValidationError(
            {
                "unscored": [
                    f"{m['vignette']} / {m['instrument']}"
                    + (f" / {m['item']}" if m["item"] else "")
                    + f": {m['problem']}"
                    for m in missing
                ]
            }
        )
    # The conditional update is the guard of last resort where row locks are not available.
    updated = Attempt.objects.filter(pk=locked.pk, status=AttemptStatus.IN_PROGRESS).update(
        status=AttemptStatus.SUBMITTED, submitted_at=now
    )
    if updated != 1:
        raise Conflict(_("This attempt has already been submitted."), code="submitted")
    locked.refresh_from_db()
    _seal_ratings(locked, now, ratings=ratings)
    _after_sealed(locked, now)
    return locked


@transaction.atomic
def attempt_finalise(*, attempt: Attempt, now: dt.datetime | None = None) -> Attempt:
    """At the deadline: keep what was saved; unscored items count as disagreements."""
    now = now or timezone.now()
    updated = Attempt.objects.filter(pk=attempt.pk, status=AttemptStatus.IN_PROGRESS).update(
        status=AttemptStatus.FINALISED, submitted_at=attempt.deadline or now
    )
    attempt.refresh_from_db()
    if updated == 1:
        _seal_ratings(attempt, attempt.submitted_at)
        _after_sealed(attempt, now)
    return attempt


def _after_sealed(attempt: Attempt, now: dt.datetime) -> None:
    """An exam, once submitted or finalised, is evaluated against the certification rules:
    certification listens for the signal (training.attempts.signals)."""
    attempt_sealed.send(sender=Attempt, attempt=attempt, now=now)


def attempts_finalise_due(*, now: dt.datetime | None = None) -> int:
    now = now or timezone.now()
    due = Attempt.objects.filter(status=AttemptStatus.IN_PROGRESS, deadline__lte=now)
    count = 0
    for attempt in due:
        attempt_finalise(attempt=attempt, now=now)
        count += 1
    return count
