"""Certification rules: what an organisation requires of an exam, and the G-study and D-study that say whether the exam's length can carry it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from training import reliability
from training.audit import audit_record
from training.models import (
    CertificationRule,
    FeedbackPolicy,
    Organization,
    Rating,
)
from training.tenancy import int_or_404, not_found_in
from vignettes.models import Instrument, ReferenceScoring

RULE_FIELDS = (
    "min_exam_vignettes", "item_agreement", "total_tolerance", "total_within_tolerance",
    "band_agreement", "icc_a1", "applicability_every_vignette", "use_ci_lower_bound",
    "validity_months", "retake_wait_days", "recalibration_interval_days", "recalibration_size",
    "cusum_slack", "cusum_threshold", "agreement_window", "exam_feedback_policy",
)


# --- rules ---------------------------------------------------------------------------------


def _rule_state(rule: CertificationRule) -> dict:
    return {name: getattr(rule, name) for name in RULE_FIELDS} | {
        "instrument": rule.instrument.slug}


@transaction.atomic
def rule_save(*, actor, organization: Organization, rule: CertificationRule | None = None,
              instrument_slug: str | None = None, now: dt.datetime | None = None,
              **values) -> CertificationRule:
    """Create or edit the organisation's rule for one instrument (audited).

    `band_agreement` None: band agreement is not a criterion. An instrument without published
    bands never has it (a new rule leaves it out; a value is refused)."""
    now = now or timezone.now()
    instrument = None
    errors = {}
    unknown = set(values) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown fields: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    for name in ("item_agreement", "total_within_tolerance", "band_agreement"):
        if values.get(name) is not None and not 0 <= values[name] <= 1:
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
        instrument = Instrument.objects.visible_to(organization).filter(
            slug=instrument_slug or ""
        ).first()
        if instrument is None:
            errors["instrument"] = _("Choose one of the instruments.")
        elif CertificationRule.objects.filter(
            organization=organization, instrument=instrument
        ).exists():
            errors["instrument"] = _("This organisation already has a rule for %(i)s; edit it."
                                     ) % {"i": instrument.short_name}
    target = rule.instrument if rule is not None else instrument
    if target is not None and not target.has_bands:
        if values.get("band_agreement") is not None:
            errors["band_agreement"] = _(
                "%(i)s has no published risk bands, so band agreement cannot be a criterion: "
                "leave it empty.") % {"i": target.short_name}
        elif rule is None:
            values["band_agreement"] = None
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
    rule_id = int_or_404(rule_id)
    rule = rule_list(organization=organization).filter(pk=rule_id).first()
    if rule is None:
        raise not_found_in(CertificationRule, organization=organization, pk=rule_id)
    return rule


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
