"""Certification rules: what an organisation requires of an exam. Saving a rule whose exam is
shorter than its own D-study asks for an explicit, recorded acceptance (dstudy.py)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.certification import dstudy
from training.models import (
    CertificationRule,
    FeedbackPolicy,
    Organization,
)
from training.tenancy import int_or_404, not_found_in
from vignettes.models import Instrument

RULE_FIELDS = (
    "min_exam_vignettes", "item_agreement", "total_tolerance", "total_within_tolerance",
    "band_agreement", "icc_a1", "icc_a1_required", "applicability_every_vignette", "use_ci_lower_bound",
    "validity_months", "retake_wait_days", "recalibration_interval_days", "recalibration_size",
    "cusum_slack", "cusum_threshold", "exam_feedback_policy",
)


# --- rules ---------------------------------------------------------------------------------


def _rule_state(rule: CertificationRule) -> dict:
    return {name: getattr(rule, name) for name in RULE_FIELDS} | {
        "instrument": rule.instrument.slug,
        "short_exam_accepted_by": rule.short_exam_accepted_by_id,
        "short_exam_accepted_at": (rule.short_exam_accepted_at.isoformat()
                                   if rule.short_exam_accepted_at else None)}


def short_exam_message(study: dstudy.RuleDependability) -> str:
    """Why the rule's exam is too short for its own decision, in words an admin can act on."""
    worst = min((s for s in study.studies if s.phi is not None), key=lambda s: s.phi)
    parts = {"n": study.n_exam, "phi": f"{worst.phi:.2f}", "crit": worst.label,
             "target": f"{study.target:.2f}", "p": study.n_raters, "v": study.n_vignettes}
    text = _("With %(n)d exam vignettes the decision on “%(crit)s” has a dependability "
             "Φ(λ) of %(phi)s, below the target %(target)s (from %(p)d trainees' first ratings "
             "of %(v)d vignettes).") % parts
    if study.vignettes_needed is None:
        text += " " + _("No exam of up to %(m)d vignettes reaches the target on these data.") % {
            "m": dstudy.MAX_VIGNETTES}
    else:
        text += " " + _("The D-study suggests %(k)d vignettes; the exam pool has %(pool)d.") % {
            "k": study.vignettes_needed, "pool": study.pool_size}
    return text


@transaction.atomic
def rule_save(*, actor, organization: Organization, rule: CertificationRule | None = None,
              instrument_slug: str | None = None, now: dt.datetime | None = None,
              accept_short_exam: bool = False, **values) -> CertificationRule:
    """Create or edit the organisation's rule for one instrument (audited).

    When the rule's exam length gives a dependability Phi(lambda) below the target for one of
    its decisions (dstudy.rule_dependability, on the organisation's ratings), the save is
    refused unless ``accept_short_exam``; an accepted short exam is recorded on the rule (who,
    when) and in the audit trail, and cleared when the rule meets its target again.

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
    if values.get("icc_a1_required") not in (None, True, False):
        errors["icc_a1_required"] = _("true, false, or empty for automatic.")
    if "icc_a1" in values and not -1 <= values["icc_a1"] <= 1:
        errors["icc_a1"] = _("An ICC between -1 and 1 (e.g. 0.80).")
    if values.get("min_exam_vignettes") is not None and values["min_exam_vignettes"] < 1:
        errors["min_exam_vignettes"] = _("At least one vignette.")
    if values.get("validity_months") is not None and not 1 <= values["validity_months"] <= 120:
        errors["validity_months"] = _("Between 1 and 120 months.")
    for name, low, high in (("recalibration_interval_days", 7, 3650),
                            ("recalibration_size", 1, 50)):
        if values.get(name) is not None and not low <= values[name] <= high:
            errors[name] = _("Between %(low)d and %(high)d, or empty for the default.") % {
                "low": low, "high": high}
    # In SD units of the holder's own spread: k beyond 3 SD never accumulates anything.
    if values.get("cusum_slack") is not None and not 0 < values["cusum_slack"] <= 3:
        errors["cusum_slack"] = _("In SD units, above 0 and at most 3, or empty for the "
                                  "default.")
    if values.get("cusum_threshold") is not None and not 0 < values["cusum_threshold"] <= 100:
        errors["cusum_threshold"] = _("In SD units, above 0 and at most 100, or empty for the "
                                      "default.")
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
    study = dstudy.rule_dependability(rule=rule, n_boot=0)
    if study.below_target and not accept_short_exam:
        raise ValidationError({"accept_short_exam": short_exam_message(study) + " " + _(
            "Tick “I accept an exam shorter than the D-study suggests” (API: "
            "\"accept_short_exam\": true) to save it anyway, or lengthen the exam.")})
    if study.below_target:
        rule.short_exam_accepted_by, rule.short_exam_accepted_at = actor, now
    else:
        rule.short_exam_accepted_by, rule.short_exam_accepted_at = None, None
    rule.updated_at = now
    rule.save()
    audit_record(actor=actor, organization=organization, obj=rule,
                 action="certification_rule.created" if before is None
                 else "certification_rule.changed",
                 before=before, after=_rule_state(rule), now=now)
    if study.below_target:
        audit_record(actor=actor, organization=organization, obj=rule,
                     action="certification_rule.short_exam_accepted",
                     after=study.summary() | {"message": short_exam_message(study)}, now=now)
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


