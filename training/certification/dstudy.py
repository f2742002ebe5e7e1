"""Whether a certification rule's exam can carry its decision: the D-study of the scores and
cuts the rule actually decides on, and whether its ICC(A,1) criterion can discriminate on the
organisation's exam pool. The statistics themselves are in training.reliability."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Max
from django.utils.translation import gettext as _

from training import reliability
from training.models import CertificationRule, Rating
from vignettes import scoring
from vignettes.models import (
    ContentStatus,
    Pool,
    ReferenceItemScore,
    ReferenceScoring,
    Vignette,
)

TARGET = 0.80
MAX_VIGNETTES = 100
N_BOOT = 200
SEED = 20011


def reference_results(refs: list[ReferenceScoring]) -> dict[int, tuple]:
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


# --- the D-study of the rule's decision ----------------------------------------------------


@dataclass
class ScoreStudy:
    """Phi(lambda) of one criterion's pass/fail decision at the rule's exam length."""

    key: str  # the criterion: "total_within_tolerance" or "item_agreement"
    label: str
    cut: float
    result: reliability.DecisionDependability | None = None
    reason: str = ""

    @property
    def phi(self) -> float | None:
        return self.result.estimate.value if self.result else None

    @property
    def below_target(self) -> bool:
        return self.phi is not None and self.phi < self.result.target - 1e-12


@dataclass
class RuleDependability:
    n_exam: int
    target: float
    pool_size: int
    n_raters: int = 0
    n_vignettes: int = 0
    n_scores: int = 0
    studies: list[ScoreStudy] = field(default_factory=list)
    reason: str = ""

    @property
    def defined(self) -> bool:
        return any(s.phi is not None for s in self.studies)

    @property
    def below_target(self) -> bool:
        return any(s.below_target for s in self.studies)

    @property
    def vignettes_needed(self) -> int | None:
        """The exam length at which every criterion's decision reaches the target (None: one
        of them does not within MAX_VIGNETTES, or nothing could be estimated)."""
        needed = [s.result.vignettes_needed for s in self.studies if s.phi is not None]
        if not needed or None in needed:
            return None
        return max(needed)

    @property
    def pool_short(self) -> bool:
        return self.vignettes_needed is not None and self.vignettes_needed > self.pool_size

    def curve_rows(self) -> list[dict]:
        """Phi(lambda) of each decision at a few exam lengths, the rule's and the needed one
        included."""
        marks = {1, 2, 5, 10, 15, 20, 30, 40, 60, 80, 100, self.n_exam}
        marks |= {s.result.vignettes_needed for s in self.studies
                  if s.result and s.result.vignettes_needed}
        curves = [dict(s.result.curve) if s.result else {} for s in self.studies]
        return [{"n": n, "values": [c.get(n) for c in curves]}
                for n in sorted(m for m in marks if 1 <= m <= MAX_VIGNETTES)]

    def summary(self) -> dict:
        """What the audit trail keeps of it."""
        return {
            "target": self.target, "n_exam": self.n_exam,
            "vignettes_needed": self.vignettes_needed, "pool_size": self.pool_size,
            "n_raters": self.n_raters, "n_vignettes": self.n_vignettes,
            "phi_lambda": {s.key: s.phi for s in self.studies},
        }


def _first_ratings(rule: CertificationRule):
    return (
        Rating.objects.filter(
            attempt__organization=rule.organization, submitted_at__isnull=False,
            instrument_version__instrument_id=rule.instrument_id,
            reference_scoring__applicable=True,
        )
        .select_related("reference_scoring__instrument_version", "attempt")
        .order_by("submitted_at", "pk")
    )


def rule_scores(*, rule: CertificationRule, tolerance: int) -> tuple[dict, dict]:
    """Per (vignette revision x instrument version, trainee), from each trainee's first
    submitted rating of it (exam or practice), where the reference scores the instrument: 1/0
    for "total within the tolerance", and the share of the reference's items agreed. A wrong
    applicability decision scores 0 on both, as it fails the vignette in an exam."""
    ratings, seen = [], set()
    for r in _first_ratings(rule):
        key = (r.vignette_revision_id, r.instrument_version_id, _user_id(r))
        if key in seen:
            continue
        seen.add(key)
        ratings.append(r)
    refs = reference_results([r.reference_scoring for r in ratings])
    within, items = {}, {}
    for r in ratings:
        ref_items, ref_total, _band = refs[r.reference_scoring_id]
        if ref_total is None:
            continue
        unit, user = (r.vignette_revision_id, r.instrument_version_id), _user_id(r)
        ok = r.applicable is True
        within[(unit, user)] = float(ok and r.total is not None
                                     and abs(r.total - ref_total) <= tolerance)
        if ref_items:
            codes = (r.codes or {}) if ok else {}
            hits = sum(code in codes and codes[code] == v for code, v in ref_items.items())
            items[(unit, user)] = hits / len(ref_items)
    return within, items


def _user_id(rating) -> int:
    return rating.attempt.user_id


def _matrix(scores: dict) -> np.ndarray:
    units = sorted({u for u, _ in scores})
    users = sorted({p for _, p in scores})
    ui = {u: i for i, u in enumerate(units)}
    pi = {p: i for i, p in enumerate(users)}
    x = np.full((len(units), len(users)), np.nan)
    for (u, p), s in scores.items():
        x[ui[u], pi[p]] = s
    return x


def exam_pool_references(rule: CertificationRule) -> list[ReferenceScoring]:
    """The current reference scoring of each published exam-pool vignette the organisation may
    use, on the instrument's current version."""
    version_id = rule.instrument.current_version_id
    revisions = Vignette.objects.visible_to(rule.organization).filter(
        pool=Pool.EXAM, status=ContentStatus.PUBLISHED, current_revision__isnull=False,
    ).values_list("current_revision_id", flat=True)
    latest = {}
    for ref in ReferenceScoring.objects.filter(
        vignette_revision_id__in=list(revisions), instrument_version_id=version_id,
    ).select_related("instrument_version").order_by("number"):
        latest[ref.vignette_revision_id] = ref
    return list(latest.values())


def _fingerprint(rule: CertificationRule, params: tuple) -> str:
    stats = _first_ratings(rule).aggregate(n=Count("pk"), last=Max("pk"))
    raw = f"{rule.pk}:{rule.organization_id}:{rule.instrument_id}:{params}:{stats}"
    return "rule-dstudy:" + hashlib.sha256(raw.encode()).hexdigest()[:32]


def rule_dependability(*, rule: CertificationRule, values: dict | None = None,
                       target: float = TARGET, n_boot: int = N_BOOT) -> RuleDependability:
    """The D-study of the decision the rule makes (with ``values`` overriding the rule's
    fields, to judge a rule before it is saved): for "totals within the tolerance on at least
    the required share" and "item agreement at least the threshold", Phi(lambda) at the rule's
    exam length with a bootstrap interval (``n_boot`` 0: none), and the length that reaches
    ``target``. Cached on the data and the rule's values: the bootstrap refits the G-study
    hundreds of times."""
    values = values or {}

    def get(name):
        return values.get(name, getattr(rule, name))

    n_exam, tol = int(get("min_exam_vignettes")), int(get("total_tolerance"))
    cuts = (("total_within_tolerance", float(get("total_within_tolerance"))),
            ("item_agreement", float(get("item_agreement"))))
    params = (n_exam, tol, cuts, target, n_boot)
    key = _fingerprint(rule, params) if rule.pk else None
    if key and (hit := cache.get(key)) is not None:
        return hit
    out = RuleDependability(n_exam=n_exam, target=target,
                            pool_size=len(exam_pool_references(rule)))
    within, items = rule_scores(rule=rule, tolerance=tol)
    labels = {
        "total_within_tolerance": _("Totals within ±%(t)d of the reference on at least "
                                    "%(s)s of the vignettes") % {"t": tol, "s": cuts[0][1]},
        "item_agreement": _("Item agreement with the reference at least %(s)s") % {
            "s": cuts[1][1]},
    }
    out.n_scores = len(within)
    out.n_vignettes = len({u for u, _ in within})
    out.n_raters = len({p for _, p in within})
    for (name, cut), scores in zip(cuts, (within, items), strict=True):
        study = ScoreStudy(key=name, label=labels[name], cut=cut)
        out.studies.append(study)
        x = _matrix(scores) if scores else np.empty((0, 0))
        if x.shape[0] < 2 or x.shape[1] < 2:
            study.reason = _("Not enough data: the D-study needs at least two trainees who "
                             "each rated vignettes that others rated too.")
            continue
        try:
            study.result = reliability.decision_dependability(
                x, cut, n_exam, target=target, max_vignettes=MAX_VIGNETTES, n_boot=n_boot,
                seed=SEED)
        except (ValueError, np.linalg.LinAlgError) as exc:
            study.reason = _("Not enough data: %(why)s.") % {"why": exc}
            continue
        if study.phi is None:
            study.reason = study.result.estimate.undefined_reason or ""
    if not out.defined:
        out.reason = next((s.reason for s in out.studies if s.reason), "")
    if key:
        cache.set(key, out, 24 * 3600)
    return out


DECISION_FIELDS = ("min_exam_vignettes", "total_tolerance", "total_within_tolerance",
                   "item_agreement")


def decision_dependability_note(decision) -> RuleDependability | None:
    """The D-study of the rule as it stood when this decision was made (its snapshot), when it
    was below its target: what the decision's page says about it. None otherwise."""
    if decision.rule is None:
        return None
    snapshot = decision.rule_snapshot or {}
    values = {k: snapshot[k] for k in DECISION_FIELDS if k in snapshot}
    study = rule_dependability(rule=decision.rule, values=values, n_boot=0)
    return study if study.below_target else None


# --- the ICC(A,1) criterion ----------------------------------------------------------------


@dataclass
class IccRequirement:
    required: bool
    automatic: bool
    check: reliability.IccPoolCheck
    reason: str


def icc_requirement(rule: CertificationRule, *, values: dict | None = None) -> IccRequirement:
    """Whether the rule's ICC(A,1) criterion applies: as the rule says, or (empty, the default)
    only where the exam pool's reference totals vary enough for it to judge the candidate
    (reliability.icc_pool_check), with the reason in words."""
    values = values or {}

    def get(name):
        return values.get(name, getattr(rule, name))

    refs = exam_pool_references(rule)
    totals = [total for _i, total, _b in reference_results(refs).values()]
    check = reliability.icc_pool_check(
        totals, tolerance=get("total_tolerance"), share=get("total_within_tolerance"),
        threshold=get("icc_a1"), n_exam=get("min_exam_vignettes"))
    setting = get("icc_a1_required")
    numbers = {"sd": f"{check.pool_sd:.2f}" if check.pool_sd is not None else "—",
               "n": check.n_pool, "k": check.n_exam, "b": f"{check.boundary_sd:.2f}",
               "icc": f"{check.icc_pass_rate:.0%}" if check.icc_pass_rate is not None else "—",
               "tot": (f"{check.totals_pass_rate:.0%}" if check.totals_pass_rate is not None
                       else "—"),
               "thr": f"{check.threshold:.2f}"}
    if check.discriminates is None:
        why = _("The exam pool has %(n)d scored reference totals, too few to tell whether "
                "ICC(A,1) can discriminate.") % numbers
    else:
        why = _("A candidate just at the totals criterion's boundary (unbiased, deviation SD "
                "%(b)s points) on exams of %(k)d of the pool's %(n)d cases (reference totals "
                "SD %(sd)s) meets ICC(A,1) ≥ %(thr)s in %(icc)s of 2,000 simulated exams and "
                "the totals criterion in %(tot)s.") % numbers
        if check.discriminates:
            why += " " + _("The ICC criterion is no stricter than the totals criterion here.")
        else:
            why += " " + _("The pool's totals vary too little: the ICC criterion would fail "
                           "candidates for the pool, not for how they score.")
    if setting is None:
        required = check.discriminates is not False
        return IccRequirement(required=required, automatic=True, check=check, reason=why)
    return IccRequirement(required=bool(setting), automatic=False, check=check, reason=why)
