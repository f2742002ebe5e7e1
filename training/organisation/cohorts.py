"""Cohorts and the assignments instructors give them."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from training.attempts import disclosure, exams
from training.audit import audit_record
from training.models import (
    Assignment,
    AssignmentKind,
    Cohort,
    FeedbackPolicy,
    Membership,
    Mode,
    Organization,
    Role,
)
from training.organisation import rounds
from training.tenancy import STAFF_ROLES
from vignettes.models import ContentStatus, Instrument, VignetteSet


def _members_with_role(organization, user_ids, roles, field):
    found = set(
        Membership.objects.filter(
            organization=organization, user_id__in=user_ids, role__in=roles
        ).values_list("user_id", flat=True)
    )
    missing = set(user_ids) - found
    if missing:
        raise ValidationError(
            {field: _("Only members of this organisation with the right role can be added.")}
        )


@transaction.atomic
def cohort_save(
    *,
    actor,
    organization: Organization,
    name: str,
    trainee_ids: list[int],
    instructor_ids: list[int],
    cohort: Cohort | None = None,
    now: dt.datetime | None = None,
) -> Cohort:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Give the cohort a name.")})
    if len(name) > 200:
        raise ValidationError({"name": _("At most 200 characters.")})
    clash = Cohort.objects.filter(organization=organization, name=name)
    if cohort is not None:
        clash = clash.exclude(pk=cohort.pk)
    if clash.exists():
        raise ValidationError({"name": _("A cohort with this name already exists.")})
    _members_with_role(organization, trainee_ids, [Role.TRAINEE], "trainees")
    _members_with_role(organization, instructor_ids, STAFF_ROLES, "instructors")
    before = None
    if cohort is None:
        cohort = Cohort.objects.create(organization=organization, name=name)
        action = "cohort.created"
    else:
        if cohort.organization_id != organization.pk:
            raise ValidationError(_("That cohort belongs to another organisation."))
        before = {
            "name": cohort.name,
            "trainees": sorted(cohort.trainees.values_list("pk", flat=True)),
            "instructors": sorted(cohort.instructors.values_list("pk", flat=True)),
        }
        cohort.name = name
        cohort.save(update_fields=["name"])
        action = "cohort.changed"
    cohort.trainees.set(trainee_ids)
    cohort.instructors.set(instructor_ids)
    after = {
        "name": cohort.name,
        "trainees": sorted(cohort.trainees.values_list("pk", flat=True)),
        "instructors": sorted(cohort.instructors.values_list("pk", flat=True)),
    }
    if after != before:
        audit_record(actor=actor, organization=organization, obj=cohort, action=action,
                     before=before, after=after, now=now)
    return cohort


ASSIGNMENT_FIELDS = (
    "title", "cohort", "vignette_set", "mode", "opens_at", "closes_at", "time_limit_minutes",
    "attempts_allowed", "feedback_policy",
)


def _assignment_snapshot(assignment: Assignment) -> dict:
    return {
        "title": assignment.title,
        "cohort": assignment.cohort.name,
        "vignette_set": assignment.vignette_set.slug,
        "instruments": sorted(assignment.instruments.values_list("slug", flat=True)),
        "mode": assignment.mode,
        "opens_at": assignment.opens_at.isoformat(),
        "closes_at": assignment.closes_at.isoformat() if assignment.closes_at else None,
        "time_limit_minutes": assignment.time_limit_minutes,
        "attempts_allowed": assignment.attempts_allowed,
        "feedback_policy": assignment.feedback_policy,
        "draw_size": assignment.draw_size,
        "retake_wait_days": assignment.retake_wait_days,
        "kind": assignment.kind,
    }


def _exam_rule_errors(organization, instruments, feedback_policy, retake_wait_days) -> dict:
    """An exam assignment can tighten the organisation's certification rules, never loosen
    them: its feedback policy no looser than the rules' exam feedback policy, its retake wait
    no shorter than the rules' waiting period."""
    errors = {}
    instrument_ids = [i.pk for i in instruments]
    rule_policy = disclosure.rule_policy(organization=organization, instrument_ids=instrument_ids)
    if disclosure.is_looser(feedback_policy, rule_policy):
        errors["feedback_policy"] = _(
            "The certification rule allows exam candidates only “%(rule)s”; an exam "
            "assignment can keep that or be stricter, not “%(chosen)s”. (An instrument "
            "without a certification rule counts as “%(never)s”.)"
        ) % {"rule": FeedbackPolicy(rule_policy).label,
             "chosen": FeedbackPolicy(feedback_policy).label,
             "never": FeedbackPolicy.NEVER.label}
    rule_wait = exams.rule_wait_days(organization=organization,
                                             instrument_ids=instrument_ids)
    if retake_wait_days is not None and retake_wait_days < rule_wait:
        errors["retake_wait_days"] = _(
            "The certification rule requires at least %(days)d days between exam attempts; "
            "choose %(days)d or more, or leave it empty for the rule's waiting period."
        ) % {"days": rule_wait}
    return errors


def _round_set(*, organization, cohort, title, source, instruments, size, assignment):
    """The round's frozen set: kept when the round is saved again unchanged; drawn afresh
    otherwise, which is refused once a trainee has started the round."""
    unchanged = (
        assignment is not None
        and assignment.kind == AssignmentKind.CALIBRATION_ROUND
        and assignment.vignette_set_id == source.pk
        and assignment.cohort_id == cohort.pk
    )
    started = assignment is not None and assignment.attempts.exists()
    if unchanged or (started and rounds.is_round_set(source)):
        # The same vignettes: they must still be new to every trainee now in the cohort.
        rounds.round_draw(cohort=cohort, source=source, size=source.members.count(),
                          versions=[i.current_version for i in instruments],
                          exclude_assignment=assignment)
        return source
    if started:
        raise ValidationError({"vignette_set": _(
            "Trainees have started this calibration round, so its vignettes can no longer "
            "change; create a new round instead.")})
    drawn = rounds.round_draw(cohort=cohort, source=source, size=size,
                              versions=[i.current_version for i in instruments],
                              exclude_assignment=assignment)
    return rounds.round_set_freeze(organization=organization, title=title, vignettes=drawn)


@transaction.atomic
def assignment_save(
    *,
    actor,
    organization: Organization,
    title: str,
    cohort: Cohort,
    vignette_set: VignetteSet,
    instrument_slugs: list[str],
    mode: str = Mode.PRACTICE,
    opens_at: dt.datetime,
    closes_at: dt.datetime | None = None,
    time_limit_minutes: int | None = None,
    attempts_allowed: int | None = None,
    feedback_policy: str = FeedbackPolicy.IMMEDIATE,
    draw_size: int | None = None,
    retake_wait_days: int | None = None,
    kind: str = AssignmentKind.STANDARD,
    assignment: Assignment | None = None,
    now: dt.datetime | None = None,
) -> Assignment:
    """Create or change an assignment for a cohort the actor teaches (org admins: any).

    A calibration round (kind) draws its vignettes once, here, from the chosen practice set:
    `draw_size` of them (default 10) that no trainee of the cohort has rated, frozen into a
    set of the organisation's own (training/organisation/rounds.py)."""
    errors: dict[str, str] = {}
    is_round = kind == AssignmentKind.CALIBRATION_ROUND
    if kind not in AssignmentKind.values:
        errors["kind"] = _("Unknown kind of assignment.")
    elif is_round:
        draw_size = draw_size or rounds.DEFAULT_ROUND_VIGNETTES
        errors.update(rounds.round_errors(mode=mode, closes_at=closes_at, size=draw_size,
                                          source=vignette_set))
    title = (title or "").strip()
    if not title:
        errors["title"] = _("Give the assignment a title.")
    if cohort.organization_id != organization.pk:
        errors["cohort"] = _("That cohort belongs to another organisation.")
    else:
        membership = Membership.objects.filter(organization=organization, user=actor).first()
        teaches = cohort.instructors.filter(pk=actor.pk).exists()
        if membership is None or not (membership.role == Role.ORG_ADMIN or teaches):
            errors["cohort"] = _("You can create assignments only for cohorts you teach.")
    if vignette_set.owner_id not in (None, organization.pk):
        errors["vignette_set"] = _("That set belongs to another organisation.")
    if mode not in Mode.values:
        errors["mode"] = _("Unknown mode.")
    elif mode == Mode.EXAM and vignette_set.kind != VignetteSet.Kind.EXAM:
        errors["vignette_set"] = _("An exam draws from an exam pool.")
    elif mode == Mode.PRACTICE and vignette_set.kind != VignetteSet.Kind.PRACTICE:
        errors["vignette_set"] = _("A practice assignment uses a practice set.")
    if feedback_policy not in FeedbackPolicy.values:
        errors["feedback_policy"] = _("Unknown feedback policy.")
    if closes_at is not None and closes_at <= opens_at:
        errors["closes_at"] = _("The assignment must close after it opens.")
    if mode == Mode.EXAM and not time_limit_minutes:
        errors["time_limit_minutes"] = _("An exam needs a time limit.")
    if time_limit_minutes is not None and not 1 <= time_limit_minutes <= 24 * 60:
        errors["time_limit_minutes"] = _("Between 1 minute and 24 hours.")
    if attempts_allowed is not None and attempts_allowed < 1:
        errors["attempts_allowed"] = _("At least 1, or empty for unlimited.")
    if draw_size is not None and not is_round and (mode != Mode.EXAM or draw_size < 1):
        errors["draw_size"] = _("Only an exam draws vignettes; at least 1, or empty for the "
                                "whole pool.")
    if retake_wait_days is not None and (mode != Mode.EXAM or retake_wait_days > 365):
        errors["retake_wait_days"] = _("Only for an exam; at most 365 days, or empty for the "
                                       "certification rule's waiting period.")
    slugs = list(dict.fromkeys(instrument_slugs or []))
    instruments = list(Instrument.objects.visible_to(organization).filter(slug__in=slugs))
    if not slugs:
        errors["instruments"] = _("Choose at least one instrument.")
    elif len(instruments) != len(slugs):
        errors["instruments"] = _("Unknown instrument.")
    if mode == Mode.EXAM and instruments and not errors:
        errors.update(_exam_rule_errors(organization, instruments, feedback_policy,
                                        retake_wait_days))
    if errors:
        raise ValidationError(errors)
    if not vignette_set.members.filter(vignette__status=ContentStatus.PUBLISHED).exists():
        raise ValidationError({"vignette_set": _("That set has no published vignette.")})
    if is_round:
        vignette_set = _round_set(organization=organization, cohort=cohort, title=title,
                                  source=vignette_set, instruments=instruments,
                                  size=draw_size, assignment=assignment)
    values = {
        "title": title, "cohort": cohort, "vignette_set": vignette_set, "mode": mode,
        "opens_at": opens_at, "closes_at": closes_at, "time_limit_minutes": time_limit_minutes,
        "attempts_allowed": attempts_allowed, "feedback_policy": feedback_policy,
        "draw_size": draw_size, "retake_wait_days": retake_wait_days, "kind": kind,
    }
    if assignment is None:
        assignment = Assignment.objects.create(
            organization=organization, created_by=actor, **values
        )
        before, action = None, "assignment.created"
    else:
        if assignment.organization_id != organization.pk:
            raise ValidationError(_("That assignment belongs to another organisation."))
        before, action = _assignment_snapshot(assignment), "assignment.changed"
        for key, value in values.items():
            setattr(assignment, key, value)
        assignment.save()
    assignment.instruments.set(instruments)
    audit_record(actor=actor, organization=organization, obj=assignment, action=action,
                 before=before, after=_assignment_snapshot(assignment), now=now)
    return assignment
