"""How exposed each exam case is: how many candidates have been drawn it, and how many have had
its reference released in feedback, with a suggested retirement (docs/statistics.md,
"Exam-case exposure and retirement", justifies the numbers).

Counts are per organisation: its exam attempts and the exam pools its exam assignments use."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count
from django.utils.translation import gettext as _

from training.attempts import disclosure
from training.models import Assignment, Attempt, AttemptVignette, Mode, Organization, Rating
from vignettes.models import Vignette, VignetteSetMember

# A case is suggested for retirement when more than this share of the candidates who sat an
# exam on its pool have been drawn it (the maximum exposure rate of exposure control in
# testing, where 0.2-0.3 is usual) ...
EXPOSURE_RATE_LIMIT = 0.30
# ... judged only once this many candidates sat an exam on its pool (a rate of 1 of 2 says
# little) ...
MIN_CANDIDATES = 10
# ... or as soon as its reference has been released to this many candidates: one release
# puts the answer in a candidate's hands, and nothing stops it circulating.
RELEASE_LIMIT = 1


@dataclass
class CaseExposure:
    vignette: Vignette
    pools: list[str]
    candidates: int  # distinct candidates who sat an exam of this organisation on its pool
    drawn: int  # distinct candidates drawn this case
    released: int  # distinct candidates whose feedback released its reference (now)
    expected_rate: float | None  # draw size / pool size: the rate the draws give by design

    @property
    def rate(self) -> float | None:
        return self.drawn / self.candidates if self.candidates else None

    @property
    def retire(self) -> bool:
        return self.released >= RELEASE_LIMIT or (
            self.candidates >= MIN_CANDIDATES and self.rate is not None
            and self.rate > EXPOSURE_RATE_LIMIT)

    @property
    def reason(self) -> str:
        if self.released >= RELEASE_LIMIT:
            return _("Its reference has been shown to a candidate in feedback.")
        if self.retire:
            return _("Drawn by more than %(p)d%% of the candidates who sat an exam on its "
                     "pool.") % {"p": round(100 * EXPOSURE_RATE_LIMIT)}
        if self.candidates < MIN_CANDIDATES:
            return _("Too few candidates yet to judge the rate (fewer than %(n)d).") % {
                "n": MIN_CANDIDATES}
        return ""


def exam_case_exposure(*, organization: Organization) -> list[CaseExposure]:
    """One row per case of the exam pools this organisation's exam assignments use."""
    exams = list(Assignment.objects.filter(organization=organization, mode=Mode.EXAM)
                 .select_related("vignette_set"))
    set_ids = {a.vignette_set_id for a in exams}
    members = list(VignetteSetMember.objects.filter(vignette_set_id__in=set_ids)
                   .select_related("vignette__current_revision", "vignette_set")
                   .order_by("vignette__slug"))
    pool_sizes = dict(VignetteSetMember.objects.filter(vignette_set_id__in=set_ids)
                      .values_list("vignette_set_id").annotate(n=Count("id")))
    draw_rates = {}
    for a in exams:
        size = pool_sizes.get(a.vignette_set_id, 0)
        if size:
            draw_rates.setdefault(a.vignette_set_id, []).append(
                min(a.draw_size or size, size) / size)
    sat_by_set: dict[int, set[int]] = {}
    for set_id, user_id in Attempt.objects.filter(
            organization=organization, mode=Mode.EXAM,
            assignment__vignette_set_id__in=set_ids).values_list(
            "assignment__vignette_set_id", "user_id"):
        sat_by_set.setdefault(set_id, set()).add(user_id)
    drawn: dict[int, set[int]] = {}
    for vignette_id, user_id in AttemptVignette.objects.filter(
            attempt__organization=organization, attempt__mode=Mode.EXAM).values_list(
            "vignette_revision__vignette_id", "attempt__user_id"):
        drawn.setdefault(vignette_id, set()).add(user_id)
    released: dict[int, set[int]] = {}
    for vignette_id, user_id in disclosure.released_ratings(Rating.objects.filter(
            attempt__organization=organization, attempt__mode=Mode.EXAM)).values_list(
            "vignette_revision__vignette_id", "attempt__user_id"):
        released.setdefault(vignette_id, set()).add(user_id)
    rows: dict[int, CaseExposure] = {}
    sat: dict[int, set[int]] = {}  # vignette id -> candidates who sat an exam on its pools
    for m in members:
        row = rows.get(m.vignette_id)
        if row is None:
            row = rows[m.vignette_id] = CaseExposure(
                vignette=m.vignette, pools=[], candidates=0,
                drawn=len(drawn.get(m.vignette_id, ())),
                released=len(released.get(m.vignette_id, ())), expected_rate=None)
        row.pools.append(m.vignette_set.title)
        sat.setdefault(m.vignette_id, set()).update(sat_by_set.get(m.vignette_set_id, ()))
        row.candidates = len(sat[m.vignette_id])
        rates = draw_rates.get(m.vignette_set_id, [])
        if rates:
            row.expected_rate = max([row.expected_rate or 0, *rates])
    return sorted(rows.values(), key=lambda r: (not r.retire, -(r.rate or 0), r.vignette.slug))
