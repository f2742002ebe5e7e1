"""Reads of content, scoped to what the user may see. Trainee-facing reads never touch
reference scorings."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from training.models import Rating
from vignettes import content_rules
from vignettes.models import (
    ContentStatus,
    CorrectionDecision,
    Instrument,
    Pool,
    ReferencePanel,
    Vignette,
    VignetteSet,
)


def instrument_list(*, organization=None) -> QuerySet[Instrument]:
    return (
        Instrument.objects.visible_to(organization).filter(current_version__isnull=False)
        .select_related("current_version")
        .prefetch_related("current_version__items__allowed_values", "current_version__bands")
    )


def practice_library(
    *,
    organization=None,
    instrument: str | None = None,
    difficulty: str | None = None,
    query: str | None = None,
    user=None,
    attempted: bool | None = None,
) -> QuerySet[Vignette]:
    """Published practice vignettes: bundled ones and the organisation's own.

    With a user, each vignette is annotated `attempted` (the user has submitted a rating of
    it in this organisation) and those not yet attempted come first.
    """
    qs = Vignette.objects.visible_to(organization).filter(
        pool=Pool.PRACTICE,
        status=ContentStatus.PUBLISHED,
        current_revision__isnull=False,
    ).select_related("current_revision")
    if difficulty:
        qs = qs.filter(current_revision__difficulty=difficulty)
    if instrument:
        # Every case with a reference scoring for the instrument, whether the reference says
        # it applies or not: deciding whether an instrument applies is part of the exercise,
        # so the filter must not answer it.
        qs = qs.filter(
            current_revision__reference_scorings__instrument_version__instrument__slug=(
                instrument),
        ).distinct()
    if query:
        qs = qs.filter(
            Q(current_revision__title__icontains=query) | Q(slug__icontains=query)
        )
    if user is None:
        return qs.order_by("slug")

    done = Rating.objects.filter(
        attempt__user=user,
        attempt__organization=organization,
        submitted_at__isnull=False,
        vignette_revision__vignette=OuterRef("pk"),
    )
    qs = qs.annotate(attempted=Exists(done))
    if attempted is not None:
        qs = qs.filter(attempted=attempted)
    return qs.order_by("attempted", "slug")


def practice_vignette_get(*, slug: str, organization=None) -> Vignette:
    """A published practice vignette, or 404: exam and recalibration vignettes are never
    readable outside an attempt that drew them."""
    vignette = (
        practice_library(organization=organization).filter(slug=slug).first()
    )
    if vignette is None:
        raise Http404("No such practice vignette.")
    return vignette


def renamed_practice_vignette(*, slug: str, organization=None) -> Vignette | None:
    """The practice vignette that was known as `slug` before a rename (its file's
    `formerly:`), for a redirect; None when there is none the user may read."""
    # JSON containment is not available on SQLite; former slugs are short lists of slugs.
    return (
        practice_library(organization=organization)
        .filter(former_slugs__icontains=f'"{slug}"').first()
    )


def exam_pool_list(*, organization=None) -> QuerySet:
    """Exam pools an organisation may draw exams from: the bundled ones and its own private
    pools (never another organisation's)."""

    return (
        VignetteSet.objects.visible_to(organization).filter(kind=VignetteSet.Kind.EXAM)
        .select_related("instrument")
        .order_by("owner_id", "slug")
    )


def validity_caveats_for(*, version, case_types) -> list[dict]:
    """The caveats (text, source) an instrument version's file gives for a case of these case
    types, e.g. Static-99R's for men whose sexual offending was all non-contact."""
    return content_rules.validity_caveats(version.validity_caveats or [], case_types)


def correction_note(rating) -> str:
    """A note for a feedback page when the rating's reference was corrected later.

    The rating keeps its original comparison; where the instructor chose to re-evaluate, the
    comparison with the corrected reference is given in addition."""
    if rating.reference_scoring_id is None or rating.submitted_at is None:
        return ""
    decision = (
        CorrectionDecision.objects.filter(old_reference_id=rating.reference_scoring_id)
        .select_related("new_reference")
        .order_by("-at", "-pk")
        .first()
    )
    if decision is None:
        return ""
    new = decision.new_reference
    note = _("The reference was corrected after your rating (reference %(old)d → %(new)d on "
             "%(day)s).") % {"old": decision.old_reference.number, "new": new.number,
                             "day": decision.at.date().isoformat()}
    if decision.note:
        note += " " + decision.note
    if not decision.re_evaluate:
        return note + " " + _("Your result stays compared with the original reference.")
    if not rating.applicable or not new.applicable:
        agrees = bool(rating.applicable) == new.applicable
        return note + " " + (
            _("Against the correction, your applicability decision agrees.") if agrees
            else _("Against the correction, your applicability decision differs.")
        )
    mine = rating.codes or {}
    ref = new.item_states()
    matches = sum(1 for code, value in ref.items() if code in mine and mine[code] == value)
    result = new.result()
    return note + " " + _(
        "Re-evaluated against the correction: %(m)d of %(n)d items agree; reference total "
        "%(ref)s, yours %(mine)s."
    ) % {"m": matches, "n": len(ref), "ref": result.total if result else "–",
         "mine": rating.total if rating.total is not None else "–"}


def panels_waiting_for(*, user, organization):
    """Panels of the organisation that wait for this expert's scoring."""
    return (
        ReferencePanel.objects.filter(
            vignette__owner=organization, members__user=user, members__scorings__isnull=True,
            status=ReferencePanel.Status.SCORING,
        )
        .select_related("vignette", "vignette_revision", "lead")
        .prefetch_related("instrument_versions__instrument")
        .distinct()
        .order_by("created_at", "pk")
    )
