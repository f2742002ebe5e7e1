"""Reference scorings: validating an expert's scoring, creating a reference, correcting a published one (a new reference number; past ratings keep theirs), and the note feedback pages show about a correction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.exceptions import Conflict
from training.models import Organization
from vignettes import content_files, scoring
from vignettes.authoring.vignettes import (
    _now,
    _require_author,
    _require_private,
    bundled_instrument_docs,
    current_references,
    vignette_doc,
)
from vignettes.models import (
    ContentStatus,
    CorrectionDecision,
    InstrumentVersion,
    ReferenceItemScore,
    ReferencePanel,
    ReferenceScoring,
    Vignette,
    VignetteRevision,
    next_number,
)

# --- scorings (panel members, consensus, corrections) --------------------------------------


@dataclass
class ScoringInput:
    applicable: bool | None
    reason: str = ""
    codes: dict[str, int | None] = field(default_factory=dict)
    rationales: dict[str, str] = field(default_factory=dict)


def _validate_scoring(
    scoring_input: ScoringInput, version: InstrumentVersion, *, require_rationales: bool
) -> None:
    errors: dict[str, list[str]] = {}
    if scoring_input.applicable is None:
        raise ValidationError({"applicable": [_("Say whether the instrument applies.")]})
    if not scoring_input.applicable:
        if not scoring_input.reason.strip():
            errors["reason"] = [_("Say why the instrument does not apply.")]
    else:
        result = scoring.score(version.spec, scoring_input.codes)
        for problem in result.problems:
            errors.setdefault(problem.item_code, []).append(problem.message)
        if require_rationales:
            for item in version.spec.items:
                rationale = scoring_input.rationales.get(item.code, "").strip()
                if not rationale:
                    errors.setdefault(item.code, []).append(
                        _("%(code)s needs a rationale.") % {"code": item.code}
                    )
                elif len(rationale) > content_files.MAX_RATIONALE_CHARS:
                    errors.setdefault(item.code, []).append(
                        _("Keep the rationale under %(n)d characters.")
                        % {"n": content_files.MAX_RATIONALE_CHARS}
                    )
    if errors:
        raise ValidationError(errors)


def _reference_rules_problems(
    vignette: Vignette, slug: str, scoring_input: ScoringInput
) -> list[str]:
    """The applicability and omission rules of the instrument file, as load_content checks."""
    inst = bundled_instrument_docs().get(slug)
    if inst is None:
        return []
    ref = content_files.ReferenceDoc(
        slug,
        bool(scoring_input.applicable),
        reason=scoring_input.reason.strip(),
        items={c: (v, scoring_input.rationales.get(c, "").strip())
               for c, v in scoring_input.codes.items()} if scoring_input.applicable else {},
    )
    doc = vignette_doc(vignette, status="draft")
    doc.references = {slug: ref}
    bundle = content_files.ContentBundle()
    content_files.check_vignette_against_instruments(doc, {slug: inst}, bundle)
    return [f"{p.field}: {p.message}" for p in bundle.problems]


def _reference_hash(ref_input: ScoringInput, panel: str, agreed_on: dt.date) -> str:
    # The same hash as VignetteDoc.reference_hash: a pack of this reference is "unchanged".
    items = (
        {c: [ref_input.codes[c], ref_input.rationales.get(c, "").strip()]
         for c in sorted(ref_input.codes)}
        if ref_input.applicable else {}
    )
    return content_files.content_hash(
        {
            "applicable": bool(ref_input.applicable),
            "reason": "" if ref_input.applicable else ref_input.reason.strip(),
            "items": items,
            "panel": panel,
            "agreed_on": agreed_on.isoformat(),
        }
    )


def _reference_create(
    *,
    revision: VignetteRevision,
    version: InstrumentVersion,
    ref_input: ScoringInput,
    panel_text: str,
    agreed_on: dt.date,
    source_panel: ReferencePanel | None,
    agreement: dict | None,
) -> ReferenceScoring:
    reference = ReferenceScoring.objects.create(
        vignette_revision=revision,
        instrument_version=version,
        number=next_number(ReferenceScoring.objects.select_for_update().filter(
            vignette_revision=revision, instrument_version=version
        )),
        applicable=bool(ref_input.applicable),
        not_applicable_reason="" if ref_input.applicable else ref_input.reason.strip(),
        panel=panel_text[:300],
        agreed_on=agreed_on,
        content_hash=_reference_hash(ref_input, panel_text[:300], agreed_on),
        source_panel=source_panel,
        agreement=agreement,
    )
    if ref_input.applicable:
        items = {item.code: item for item in version.items.all()}
        ReferenceItemScore.objects.bulk_create(
            ReferenceItemScore(
                reference_scoring=reference,
                item=items[code],
                value=value,
                rationale=ref_input.rationales.get(code, "").strip(),
            )
            for code, value in ref_input.codes.items()
        )
    return reference


def _organization_local_date(organization: Organization, now: dt.datetime) -> dt.date:
    import zoneinfo

    return now.astimezone(zoneinfo.ZoneInfo(organization.time_zone or "UTC")).date()


@transaction.atomic
def reference_correct(
    *,
    vignette: Vignette,
    organization: Organization,
    actor,
    instrument_slug: str,
    ref_input: ScoringInput,
    re_evaluate: bool,
    note: str = "",
    panel_text: str = "",
    now: dt.datetime | None = None,
) -> CorrectionDecision:
    """Publish a corrected reference (number + 1) for the current revision of a published
    vignette. Ratings keep the reference they were compared against; the decision whether
    past results are re-evaluated against the correction is recorded and audited."""
    now = _now(now)
    _require_private(vignette, organization)
    _require_author(organization, actor)
    vignette = Vignette.objects.select_for_update().get(pk=vignette.pk)
    if vignette.status != ContentStatus.PUBLISHED:
        raise Conflict(_("Only a published vignette's reference is corrected; edit a draft's "
                         "reference through its panel."))
    old = current_references(vignette.current_revision).get(instrument_slug)
    if old is None:
        raise ValidationError({"instrument": _("There is no reference on that instrument.")})
    version = old.instrument_version
    _validate_scoring(ref_input, version, require_rationales=True)
    problems = _reference_rules_problems(vignette, instrument_slug, ref_input)
    if problems:
        raise ValidationError({"reference": problems})
    new = _reference_create(
        revision=vignette.current_revision,
        version=version,
        ref_input=ref_input,
        panel_text=panel_text.strip() or old.panel,
        agreed_on=_organization_local_date(organization, now),
        source_panel=old.source_panel,
        agreement=old.agreement,
    )
    if new.content_hash == old.content_hash:
        raise ValidationError({"reference": [_("The correction changes nothing.")]})
    decision = CorrectionDecision.objects.create(
        old_reference=old, new_reference=new, decided_by=actor, re_evaluate=re_evaluate,
        note=note.strip(), at=now,
    )
    audit_record(
        actor=actor, organization=organization, obj=new, action="reference.correct",
        before={"reference": old.number, "applicable": old.applicable,
                "codes": old.item_states()},
        after={"reference": new.number, "applicable": new.applicable,
               "codes": new.item_states(), "re_evaluate": re_evaluate},
        now=now,
    )
    return decision

