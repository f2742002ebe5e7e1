"""Reference panels: experts score a case independently on every instrument (first deciding which apply), their agreement is computed per instrument, the consensus becomes the references, and experts learn that a panel waits for them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
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
    InstrumentVersion,
    PanelMember,
    PanelScoring,
    ReferencePanel,
    ReferenceScoring,
    Vignette,
)

# --- reference panels ----------------------------------------------------------------------


def _panel_versions(instrument_slugs: list[str] | None) -> list[InstrumentVersion]:
    """The instruments a panel covers: every bundled instrument with a current version (the
    panel decides which apply), or the ones named."""
    instruments = Instrument.objects.bundled().filter(current_version__isnull=False)
    if instrument_slugs is not None:
        wanted = set(instrument_slugs)
        instruments = instruments.filter(slug__in=wanted)
        if not wanted or instruments.count() != len(wanted):
            raise ValidationError({"instrument": [_("Choose bundled instruments.")]})
    return [i.current_version for i in instruments.select_related("current_version")
            .order_by("short_name")]


def panel_versions(panel: ReferencePanel) -> list[InstrumentVersion]:
    return list(panel.instrument_versions.select_related("instrument")
                .order_by("instrument__short_name"))


def _notify_experts(panel: ReferencePanel, experts, *, link: str) -> None:
    """E-mail every invited expert (the lead who started the panel knows already)."""
    recipients = [u.email for u in experts if u.email and u.pk != panel.lead_id]
    if not recipients:
        return
    names = ", ".join(v.instrument.short_name for v in panel_versions(panel))
    message = _(
        "%(lead)s has invited you to a reference panel on the draft \u201c%(title)s\u201d "
        "(%(instruments)s). Score it independently: first decide which instruments apply, "
        "then code the items of those that do. The other experts' codes stay hidden until "
        "every expert has submitted.\n\n%(link)s"
    ) % {"lead": panel.lead.username, "title": panel.vignette_revision.title,
         "instruments": names, "link": link}
    for address in recipients:
        send_mail(subject=_("Calibrate: a reference panel waits for you"), message=message,
                  from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[address],
                  fail_silently=True)


@transaction.atomic
def panel_create(
    *,
    vignette: Vignette,
    organization: Organization,
    lead,
    expert_ids: list[int],
    instrument_slugs: list[str] | None = None,
    site: str = "",
    now: dt.datetime | None = None,
) -> ReferencePanel:
    """Invite two or more experts (instructors or org admins of the organisation) to score the
    draft's current revision independently on every bundled instrument (`instrument_slugs`
    narrows it, for a panel that settles one instrument again); each is e-mailed once the
    panel is stored, with a link to it on `site` (the site's address)."""
    now = _now(now)
    _require_private(vignette, organization)
    _require_author(organization, lead)
    vignette = Vignette.objects.select_for_update().get(pk=vignette.pk)
    if vignette.status != ContentStatus.DRAFT:
        raise Conflict(_("Panels score drafts; return the vignette to draft first."))
    versions = _panel_versions(instrument_slugs)
    if not versions:
        raise ValidationError({"instrument": [_("No bundled instrument to score.")]})
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
        lead=lead,
        created_at=now,
    )
    panel.instrument_versions.set(versions)
    PanelMember.objects.bulk_create(PanelMember(panel=panel, user=m.user) for m in experts)
    audit_record(
        actor=lead, organization=organization, obj=panel, action="panel.create",
        after={"instruments": [v.instrument.slug for v in versions],
               "experts": [m.user.pk for m in experts],
               "revision": vignette.current_revision.number},
        now=now,
    )
    users = [m.user for m in experts]
    link = site.rstrip("/") + reverse("author:panel", args=[panel.pk])
    transaction.on_commit(lambda: _notify_experts(panel, users, link=link))
    return panel


def _inputs_for(panel: ReferencePanel, ref_inputs: dict) -> list[tuple]:
    """Pair each instrument of the panel with its input; every instrument needs one."""
    versions = panel_versions(panel)
    missing = [v.instrument.short_name for v in versions if v.instrument.slug not in ref_inputs]
    if missing:
        raise ValidationError({"applicable": [
            _("Say whether %(names)s apply.") % {"names": ", ".join(missing)}]})
    return [(v, ref_inputs[v.instrument.slug]) for v in versions]


def _validate_each(pairs, **kwargs) -> None:
    """Validate every instrument's input; the errors of all are reported at once, each
    named by its instrument."""
    errors: dict[str, list[str]] = {}
    for version, ref_input in pairs:
        try:
            _validate_scoring(ref_input, version, **kwargs)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(f"{version.instrument.short_name} {key}", []).extend(messages)
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def panel_scoring_submit(
    *,
    panel: ReferencePanel,
    user,
    ref_inputs: dict[str, ScoringInput],
    now: dt.datetime | None = None,
) -> list[PanelScoring]:
    """One expert's independent scoring of every instrument of the panel (instrument slug ->
    input: whether it applies, and the items of those that do); submitted once, never
    edited, all or nothing."""
    now = _now(now)
    member = PanelMember.objects.select_for_update().filter(panel=panel, user=user).first()
    if member is None:
        raise PermissionDenied(_("You are not on this panel."))
    if panel.status != ReferencePanel.Status.SCORING:
        raise Conflict(_("The panel has already agreed its reference."))
    if PanelScoring.objects.filter(member=member).exists():
        raise Conflict(_("You have already submitted your scoring."))
    pairs = _inputs_for(panel, ref_inputs)
    _validate_each(pairs, require_rationales=True)
    out = []
    for version, ref_input in pairs:
        out.append(PanelScoring.objects.create(
            panel=panel,
            member=member,
            instrument_version=version,
            applicable=bool(ref_input.applicable),
            not_applicable_reason="" if ref_input.applicable else ref_input.reason.strip(),
            codes=dict(ref_input.codes) if ref_input.applicable else {},
            rationales={c: r.strip() for c, r in ref_input.rationales.items()}
            if ref_input.applicable else {},
            submitted_at=now,
        ))
    audit_record(
        actor=user, organization=panel.vignette.owner, obj=panel, action="panel.score",
        after={"expert": user.pk,
               "applicable": {v.instrument.slug: bool(i.applicable) for v, i in pairs}},
        now=now,
    )
    return out


def panel_all_submitted(panel: ReferencePanel) -> bool:
    return not panel.members.filter(scorings__isnull=True).exists()


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
    instrument_slug: str
    instrument_name: str
    experts: list[str]
    applicability: list[bool]
    applicability_agree: bool
    reasons: list[str]
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

    def consensus_start(self) -> ScoringInput:
        """Where the consensus form starts: applicability where every expert agreed; each
        item's code where every expert gave it, with the rationales they wrote; the rest
        left for the panel to settle."""
        if not self.applicability_agree:
            return ScoringInput(applicable=None)
        if not self.applicability[0]:
            reasons = list(dict.fromkeys(r for r in self.reasons if r))
            return ScoringInput(applicable=False, reason=" ".join(reasons))
        codes, rationales = {}, {}
        for item in self.items:
            if item.agree:
                codes[item.code] = item.codes[0]
                rationales[item.code] = " ".join(
                    dict.fromkeys(r.strip() for r in item.rationales if r.strip()))
        return ScoringInput(applicable=True, codes=codes, rationales=rationales)


def _instrument_agreement(version: InstrumentVersion, scorings: list[PanelScoring]
                          ) -> PanelAgreement:
    spec = version.spec
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
            agree=(len(present) == len(scorings) and len(present) >= 2
                   and len(set(present)) == 1),
            pairwise=pairwise,
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
        instrument_slug=version.instrument.slug,
        instrument_name=version.instrument.short_name,
        experts=experts,
        applicability=[s.applicable for s in scorings],
        applicability_agree=len({s.applicable for s in scorings}) == 1,
        reasons=[s.not_applicable_reason for s in scorings],
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


def panel_agreement(panel: ReferencePanel) -> dict[str, PanelAgreement] | None:
    """Agreement among the experts per instrument (slug -> agreement, in the panel's order),
    once all have submitted (None before: nobody sees anyone else's codes until then). Items
    are the units, experts the raters."""
    if not panel_all_submitted(panel):
        return None
    scorings = list(
        PanelScoring.objects.filter(panel=panel).select_related("member__user").order_by(
            "member__pk"
        )
    )
    out = {}
    for version in panel_versions(panel):
        mine = [s for s in scorings if s.instrument_version_id == version.pk]
        out[version.instrument.slug] = _instrument_agreement(version, mine)
    return out


@transaction.atomic
def panel_consensus_record(
    *,
    panel: ReferencePanel,
    actor,
    ref_inputs: dict[str, ScoringInput],
    panel_text: str = "",
    now: dt.datetime | None = None,
) -> dict[str, ReferenceScoring]:
    """The lead records the agreed reference of every instrument of the panel, with
    rationales, after every expert scored; all or nothing.

    Validated with the scoring function and each instrument's applicability and omission
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
    pairs = _inputs_for(panel, ref_inputs)
    _validate_each(pairs, require_rationales=True)
    problems = []
    for version, ref_input in pairs:
        problems += _reference_rules_problems(vignette, version.instrument.slug, ref_input)
    if problems:
        raise ValidationError({"reference": problems})
    experts = [m.user.username for m in panel.members.select_related("user")]
    text = panel_text.strip() or _("%(org)s panel: %(experts)s") % {
        "org": organization.name, "experts": ", ".join(experts)}
    agreement = panel_agreement(panel) or {}
    out = {}
    for version, ref_input in pairs:
        slug = version.instrument.slug
        reference = _reference_create(
            revision=panel.vignette_revision,
            version=version,
            ref_input=ref_input,
            panel_text=text,
            agreed_on=_organization_local_date(organization, now),
            source_panel=panel,
            agreement=agreement[slug].as_dict() if slug in agreement else None,
        )
        audit_record(
            actor=actor, organization=organization, obj=reference, action="reference.consensus",
            after={"panel": panel.pk, "instrument": slug, "applicable": reference.applicable,
                   "codes": reference.item_states(), "number": reference.number},
            now=now,
        )
        out[slug] = reference
    panel.status = ReferencePanel.Status.AGREED
    panel.save(update_fields=["status"])
    return out
