"""Reference panels: experts score a case independently, their agreement is computed, and the consensus becomes the reference."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.exceptions import Conflict
from training.models import Membership, Organization
from training.reliability import fleiss_kappa, icc, krippendorff_alpha, percent_agreement
from training.tenancy import STAFF_ROLES
from vignettes import scoring
from vignettes.authoring.references import (
    ScoringInput,
    _organization_local_date,
    _reference_create,
    _reference_rules_problems,
    _validate_scoring,
)
from vignettes.authoring.vignettes import _now, _require_author, _require_private
from vignettes.models import (
    ContentStatus,
    Instrument,
    PanelMember,
    PanelScoring,
    ReferencePanel,
    ReferenceScoring,
    Vignette,
)

# --- reference panels ----------------------------------------------------------------------


@transaction.atomic
def panel_create(
    *,
    vignette: Vignette,
    organization: Organization,
    lead,
    instrument_slug: str,
    expert_ids: list[int],
    now: dt.datetime | None = None,
) -> ReferencePanel:
    """Invite two or more experts (instructors or org admins of the organisation) to score the
    draft's current revision independently on one instrument."""
    now = _now(now)
    _require_private(vignette, organization)
    _require_author(organization, lead)
    vignette = Vignette.objects.select_for_update().get(pk=vignette.pk)
    if vignette.status != ContentStatus.DRAFT:
        raise Conflict(_("Panels score drafts; return the vignette to draft first."))
    instrument = Instrument.objects.bundled().filter(
        slug=instrument_slug, current_version__isnull=False
    ).first()
    if instrument is None:
        raise ValidationError({"instrument": [_("Choose a bundled instrument.")]})
    experts = list(
        Membership.objects.filter(
            organization=organization, role__in=STAFF_ROLES, user_id__in=expert_ids
        ).select_related("user")
    )
    if len(set(expert_ids)) != len(experts):
        raise ValidationError(
            {"experts": [_("Experts must be instructors or admins of your organisation.")]}
        )
    if len(experts) < 2:
        raise ValidationError({"experts": [_("Invite at least two experts.")]})
    panel = ReferencePanel.objects.create(
        vignette=vignette,
        vignette_revision=vignette.current_revision,
        instrument_version=instrument.current_version,
        lead=lead,
        created_at=now,
    )
    PanelMember.objects.bulk_create(PanelMember(panel=panel, user=m.user) for m in experts)
    audit_record(
        actor=lead, organization=organization, obj=panel, action="panel.create",
        after={"instrument": instrument_slug, "experts": [m.user.pk for m in experts],
               "revision": vignette.current_revision.number},
        now=now,
    )
    return panel


@transaction.atomic
def panel_scoring_submit(
    *,
    panel: ReferencePanel,
    user,
    ref_input: ScoringInput,
    now: dt.datetime | None = None,
) -> PanelScoring:
    """One expert's independent scoring; submitted once, never edited."""
    now = _now(now)
    member = PanelMember.objects.select_for_update().filter(panel=panel, user=user).first()
    if member is None:
        raise PermissionDenied(_("You are not on this panel."))
    if panel.status != ReferencePanel.Status.SCORING:
        raise Conflict(_("The panel has already agreed its reference."))
    if PanelScoring.objects.filter(member=member).exists():
        raise Conflict(_("You have already submitted your scoring."))
    _validate_scoring(ref_input, panel.instrument_version, require_rationales=True)
    result = PanelScoring.objects.create(
        panel=panel,
        member=member,
        applicable=bool(ref_input.applicable),
        not_applicable_reason="" if ref_input.applicable else ref_input.reason.strip(),
        codes=dict(ref_input.codes) if ref_input.applicable else {},
        rationales={c: r.strip() for c, r in ref_input.rationales.items()}
        if ref_input.applicable else {},
        submitted_at=now,
    )
    audit_record(
        actor=user, organization=panel.vignette.owner, obj=panel, action="panel.score",
        after={"expert": user.pk}, now=now,
    )
    return result


def panel_all_submitted(panel: ReferencePanel) -> bool:
    return not panel.members.filter(scoring__isnull=True).exists()


@dataclass
class ItemAgreement:
    code: str
    name: str
    codes: list  # per expert, in member order (None = omitted)
    rationales: list[str]
    agree: bool
    pairwise: float | None  # share of agreeing expert pairs


@dataclass
class PanelAgreement:
    experts: list[str]
    applicability: list[bool]
    applicability_agree: bool
    items: list[ItemAgreement]
    totals: list[int | None]
    bands: list[str | None]
    percent_agreement: float | None
    alpha: float | None
    alpha_reason: str | None
    fleiss: float | None
    fleiss_reason: str | None
    total_icc: float | None
    total_icc_reason: str | None

    def as_dict(self) -> dict:
        return {
            "experts": self.experts,
            "applicability": self.applicability,
            "items": {i.code: {"codes": i.codes, "agree": i.agree, "pairwise": i.pairwise}
                      for i in self.items},
            "totals": self.totals,
            "bands": self.bands,
            "percent_agreement": self.percent_agreement,
            "krippendorff_alpha_ordinal": self.alpha,
            "krippendorff_alpha_undefined": self.alpha_reason,
            "fleiss_kappa": self.fleiss,
            "fleiss_kappa_undefined": self.fleiss_reason,
            "total_icc_a1": self.total_icc,
            "total_icc_undefined": self.total_icc_reason,
        }


def panel_agreement(panel: ReferencePanel) -> PanelAgreement | None:
    """Agreement among the experts, once all have submitted (None before: nobody sees anyone
    else's codes until then). Items are the units, experts the raters."""
    if not panel_all_submitted(panel):
        return None
    scorings = list(
        PanelScoring.objects.filter(panel=panel).select_related("member__user").order_by(
            "member__pk"
        )
    )
    spec = panel.instrument_version.spec
    experts = [s.member.user.username for s in scorings]
    items = []
    matrix = []
    for item in spec.items:
        codes = [s.codes.get(item.code) if s.applicable else None for s in scorings]
        present = [c for c, s in zip(codes, scorings, strict=True) if s.applicable]
        pairs = [(a, b) for i, a in enumerate(present) for b in present[i + 1:]]
        pairwise = sum(a == b for a, b in pairs) / len(pairs) if pairs else None
        items.append(ItemAgreement(
            code=item.code, name=item.name, codes=codes,
            rationales=[s.rationales.get(item.code, "") for s in scorings],
            agree=len(present) >= 2 and len(set(present)) == 1, pairwise=pairwise,
        ))
        matrix.append([float(c) if c is not None else None for c in codes])
    totals, bands = [], []
    for s in scorings:
        if s.applicable:
            result = scoring.score(spec, s.codes)
            totals.append(result.total)
            bands.append(result.band_code)
        else:
            totals.append(None)
            bands.append(None)
    pa = percent_agreement(matrix)
    alpha = krippendorff_alpha(matrix, "ordinal")
    fleiss = fleiss_kappa(matrix)
    total_icc = icc([[t if t is not None else None for t in totals]], "ICC(2,1)")
    return PanelAgreement(
        experts=experts,
        applicability=[s.applicable for s in scorings],
        applicability_agree=len({s.applicable for s in scorings}) == 1,
        items=items,
        totals=totals,
        bands=bands,
        percent_agreement=pa.value,
        alpha=alpha.value,
        alpha_reason=alpha.undefined_reason,
        fleiss=fleiss.value,
        fleiss_reason=fleiss.undefined_reason,
        total_icc=total_icc.value,
        total_icc_reason=total_icc.undefined_reason,
    )


@transaction.atomic
def panel_consensus_record(
    *,
    panel: ReferencePanel,
    actor,
    ref_input: ScoringInput,
    panel_text: str = "",
    now: dt.datetime | None = None,
) -> ReferenceScoring:
    """The lead records the agreed reference, with rationales, after every expert scored.

    Validated with the scoring function and the instrument's applicability and omission
    rules; the panel, its codes and its agreement stay attached as provenance."""
    now = _now(now)
    panel = ReferencePanel.objects.select_for_update().get(pk=panel.pk)
    vignette = panel.vignette
    organization = vignette.owner
    if panel.lead_id != actor.pk:
        raise PermissionDenied(_("Only the panel lead records the consensus."))
    if panel.status != ReferencePanel.Status.SCORING:
        raise Conflict(_("The consensus is already recorded."))
    if not panel_all_submitted(panel):
        raise Conflict(_("Every expert must submit before the consensus."))
    if vignette.current_revision_id != panel.vignette_revision_id:
        raise Conflict(_("The vignette was edited after the panel started; start a new panel "
                         "on the current revision."))
    if vignette.status != ContentStatus.DRAFT:
        raise Conflict(_("Consensus is recorded on a draft; correct a published reference "
                         "instead."))
    _validate_scoring(ref_input, panel.instrument_version, require_rationales=True)
    slug = panel.instrument_version.instrument.slug
    problems = _reference_rules_problems(vignette, slug, ref_input)
    if problems:
        raise ValidationError({"reference": problems})
    experts = [m.user.username for m in panel.members.select_related("user")]
    text = panel_text.strip() or _("%(org)s panel: %(experts)s") % {
        "org": organization.name, "experts": ", ".join(experts)}
    agreement = panel_agreement(panel)
    reference = _reference_create(
        revision=panel.vignette_revision,
        version=panel.instrument_version,
        ref_input=ref_input,
        panel_text=text,
        agreed_on=_organization_local_date(organization, now),
        source_panel=panel,
        agreement=agreement.as_dict() if agreement else None,
    )
    panel.status = ReferencePanel.Status.AGREED
    panel.save(update_fields=["status"])
    audit_record(
        actor=actor, organization=organization, obj=reference, action="reference.consensus",
        after={"panel": panel.pk, "applicable": reference.applicable,
               "codes": reference.item_states(), "number": reference.number},
        now=now,
    )
    return reference
