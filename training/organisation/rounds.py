"""Calibration rounds: the whole cohort rates the same vignettes, new to every trainee, in one
period — the fully crossed design that reliability among trainees is computed on.

A round is an assignment of kind "calibration round". When it is saved, the vignettes are
drawn once from the practice set the instructor chose (in the set's order, only vignettes no
trainee of the cohort has rated before and in which every instrument of the round applies)
and frozen into a practice set of the organisation's own, so everyone rates the same cases
and a later change to the source set does not move the round.
"""

from __future__ import annotations

import hashlib

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from training.models import Assignment, Cohort, Organization, Rating
from vignettes.models import (
    ContentStatus,
    InstrumentVersion,
    ReferenceScoring,
    Vignette,
    VignetteSet,
    VignetteSetMember,
)

# A round must hold enough vignettes for its reliability to be shown at all: the minimum-data
# gate asks for 10 units with two or more first ratings (docs/statistics.md).
MIN_ROUND_VIGNETTES = 10
MAX_ROUND_VIGNETTES = 40
DEFAULT_ROUND_VIGNETTES = 10
ROUND_SET_PREFIX = "calibration-round-"


def rated_by_cohort(cohort: Cohort, vignette_ids, *, exclude_assignment=None) -> dict[int, int]:
    """How many of the cohort's trainees have rated each vignette (any revision, any
    organisation, drafts included: a trainee who has read a case and started scoring it no
    longer meets it fresh)."""
    ratings = Rating.objects.filter(
        attempt__user__in=cohort.trainees.all(),
        vignette_revision__vignette_id__in=list(vignette_ids),
    )
    if exclude_assignment is not None and exclude_assignment.pk:
        ratings = ratings.exclude(attempt__assignment=exclude_assignment)
    counts: dict[int, set[int]] = {}
    for vignette_id, user_id in ratings.values_list(
        "vignette_revision__vignette_id", "attempt__user_id"
    ).distinct():
        counts.setdefault(vignette_id, set()).add(user_id)
    return {vignette_id: len(users) for vignette_id, users in counts.items()}


def _applicable_everywhere(vignettes: list[Vignette], versions: list[InstrumentVersion]):
    """Vignette ids whose current reference says "applies" for every instrument version."""
    latest: dict[tuple[int, int], bool] = {}
    for revision_id, version_id, applicable in (
        ReferenceScoring.objects.filter(
            vignette_revision__in=[v.current_revision_id for v in vignettes],
            instrument_version__in=versions,
        ).order_by("number").values_list("vignette_revision_id", "instrument_version_id",
                                         "applicable")
    ):
        latest[(revision_id, version_id)] = applicable
    return {
        v.pk for v in vignettes
        if all(latest.get((v.current_revision_id, iv.pk)) for iv in versions)
    }


def round_draw(*, cohort: Cohort, source: VignetteSet, versions: list[InstrumentVersion],
               size: int, exclude_assignment: Assignment | None = None) -> list[Vignette]:
    """The first `size` vignettes of `source`, in its order, that every instrument applies to
    and no trainee of the cohort has rated. Raises ValidationError saying what is short."""
    members = list(
        VignetteSetMember.objects.filter(
            vignette_set=source, vignette__status=ContentStatus.PUBLISHED,
            vignette__current_revision__isnull=False,
        ).select_related("vignette").order_by("order")
    )
    vignettes = [m.vignette for m in members]
    applicable = _applicable_everywhere(vignettes, versions)
    rated = rated_by_cohort(cohort, [v.pk for v in vignettes],
                            exclude_assignment=exclude_assignment)
    fresh = [v for v in vignettes if v.pk in applicable and not rated.get(v.pk)]
    if len(fresh) < size:
        seen = sum(1 for v in vignettes if rated.get(v.pk))
        not_applicable = sum(1 for v in vignettes if v.pk not in applicable)
        raise ValidationError({"vignette_set": _(
            "A calibration round of %(size)d vignettes needs %(size)d vignettes that are new to "
            "every trainee of the cohort and that every chosen instrument applies to; "
            "“%(set)s” has %(fresh)d (of %(all)d: %(seen)s, %(na)s). Choose another practice "
            "set, fewer vignettes (at least %(min)d), or fewer instruments."
        ) % {
            "size": size, "set": source.title, "fresh": len(fresh), "all": len(vignettes),
            "seen": ngettext("%(n)d already rated by someone in the cohort",
                             "%(n)d already rated by someone in the cohort", seen) % {"n": seen},
            "na": ngettext("%(n)d where an instrument does not apply",
                           "%(n)d where an instrument does not apply",
                           not_applicable) % {"n": not_applicable},
            "min": MIN_ROUND_VIGNETTES,
        }})
    return fresh[:size]


def round_errors(*, mode: str, closes_at, size: int | None, source: VignetteSet) -> dict:
    errors = {}
    if mode != "practice":
        errors["mode"] = _("A calibration round is practice: choose the practice mode (the "
                           "trainees' certification exams are separate assignments).")
    if closes_at is None:
        errors["closes_at"] = _("A calibration round runs for a period: give the date it "
                                "closes.")
    if size is not None and not MIN_ROUND_VIGNETTES <= size <= MAX_ROUND_VIGNETTES:
        errors["draw_size"] = _(
            "A calibration round holds %(min)d to %(max)d vignettes: with fewer, its "
            "reliability among trainees cannot be shown (docs/statistics.md)."
        ) % {"min": MIN_ROUND_VIGNETTES, "max": MAX_ROUND_VIGNETTES}
    if source.kind != VignetteSet.Kind.PRACTICE:
        errors["vignette_set"] = _("A calibration round draws from a practice set.")
    return errors


def is_round_set(vignette_set: VignetteSet) -> bool:
    return vignette_set.owner_id is not None and vignette_set.slug.startswith(ROUND_SET_PREFIX)


def round_set_freeze(*, organization: Organization, title: str, vignettes: list[Vignette]
                     ) -> VignetteSet:
    """A practice set of the organisation's own holding exactly the drawn vignettes."""
    digest = hashlib.sha256("\n".join(v.slug for v in vignettes).encode()).hexdigest()
    number = VignetteSet.objects.filter(owner=organization,
                                        slug__startswith=ROUND_SET_PREFIX).count() + 1
    slug = f"{ROUND_SET_PREFIX}{number}"
    while VignetteSet.objects.filter(owner=organization, slug=slug).exists():
        number += 1
        slug = f"{ROUND_SET_PREFIX}{number}"
    frozen = VignetteSet.objects.create(
        owner=organization, slug=slug, kind=VignetteSet.Kind.PRACTICE, content_hash=digest,
        title=(_("Calibration round: %(title)s") % {"title": title})[:200],
    )
    VignetteSetMember.objects.bulk_create(
        VignetteSetMember(vignette_set=frozen, vignette=v, order=i)
        for i, v in enumerate(vignettes, start=1)
    )
    return frozen
