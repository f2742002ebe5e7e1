"""Organisations author their own content: drafts as revisions, sets and exam pools, reference
panels and consensus, review and publishing, corrections, content packs.

Writes are services (keyword-only, one transaction, audited); bundled content (owner None) is
never written here. The content checks are those of ``load_content --check``
(vignettes.content_files), run against the bundled instruments.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.exceptions import Conflict
from training.models import Membership, Organization, Role
from training.reliability import fleiss_kappa, icc, krippendorff_alpha, percent_agreement
from vignettes import content_files, scoring
from vignettes.models import (
    ContentStatus,
    CorrectionDecision,
    Instrument,
    InstrumentVersion,
    PanelMember,
    PanelScoring,
    Pool,
    ReferenceItemScore,
    ReferencePanel,
    ReferenceScoring,
    Vignette,
    VignetteRevision,
    VignetteSet,
    VignetteSetMember,
)
from vignettes.services import ContentProblems, LoadReport, content_load

BUNDLED_CONTENT_DIR = Path(settings.BASE_DIR) / "vignettes" / "content"
EXPERT_ROLES = (Role.INSTRUCTOR, Role.ORG_ADMIN)
PACK_MAX_BYTES = 1_000_000  # the uploaded .zip
PACK_MAX_FILES = 500
PACK_MAX_FILE_BYTES = 200_000  # one uncompressed file
PACK_MAX_TOTAL_BYTES = 10_000_000  # everything uncompressed


def body_template() -> str:
    """The 12 sections of a case file, as the starting text of a new vignette."""
    return "\n".join(f"## {section}\n\n\n" for section in content_files.SECTIONS)


@functools.cache
def _bundled_files() -> tuple[dict[str, content_files.InstrumentDoc], list[str]]:
    bundle = content_files.ContentBundle()
    instruments = {}
    for path in sorted((BUNDLED_CONTENT_DIR / "instruments").glob("*.y*ml")):
        doc = content_files.parse_instrument(path.name, path.read_text("utf-8"), bundle)
        if doc is not None:
            instruments[doc.slug] = doc
    terms = content_files.read_explicit_terms(BUNDLED_CONTENT_DIR / "explicit-terms.txt")
    return instruments, terms


def bundled_instrument_docs() -> dict[str, content_files.InstrumentDoc]:
    """The bundled instruments as their files define them (applicability checks included),
    limited to those loaded in the database."""
    docs, _terms = _bundled_files()
    loaded = set(
        Instrument.objects.filter(owner__isnull=True, current_version__isnull=False).values_list(
            "slug", flat=True
        )
    )
    return {slug: doc for slug, doc in docs.items() if slug in loaded}


def explicit_terms() -> list[str]:
    return _bundled_files()[1]


def _now(now):
    return now or timezone.now()


def _require_author(organization: Organization, user) -> None:
    if not Membership.objects.filter(
        organization=organization, user=user, role__in=EXPERT_ROLES
    ).exists():
        raise PermissionDenied(_("Only instructors and organisation admins author content."))


def _require_private(vignette: Vignette, organization: Organization) -> None:
    if vignette.owner_id is None:
        raise PermissionDenied(_("Bundled content is read-only."))
    if vignette.owner_id != organization.pk:
        raise PermissionDenied(_("That vignette belongs to another organisation."))


def _revision_fields(*, title, case_types, difficulty, hard_because, body) -> dict:
    return {
        "title": " ".join((title or "").split()),
        "case_types": list(case_types or []),
        "difficulty": difficulty,
        "hard_because": (hard_because or "").strip(),
        "body": (body or "").replace("\r\n", "\n").strip() + "\n",
    }


def _revision_hash(fields: dict) -> str:
    # The same hash as VignetteDoc.revision_hash, so packs and the app agree on "changed".
    return content_files.content_hash(
        {**fields, "case_types": sorted(fields["case_types"])}
    )


def _validate_vignette_fields(*, slug, pool, fields, organization, vignette=None) -> None:
    errors: dict[str, list[str]] = {}
    if not content_files.SLUG_RE.match(slug or ""):
        errors["slug"] = [_("Use lowercase letters, digits and hyphens, e.g. 'daniel-r-csem'.")]
    elif (
        Vignette.objects.filter(owner=organization, slug=slug)
        .exclude(pk=getattr(vignette, "pk", None))
        .exists()
    ):
        errors["slug"] = [_("Your organisation already has a vignette with that slug.")]
    if pool not in content_files.POOLS:
        errors["pool"] = [_("Choose practice, exam or recalibration.")]
    if not fields["title"]:
        errors["title"] = [_("Give the vignette a title.")]
    elif len(fields["title"]) > 200:
        errors["title"] = [_("Keep the title under 200 characters.")]
    if not fields["case_types"] or any(
        c not in content_files.CASE_TYPES for c in fields["case_types"]
    ):
        errors["case_types"] = [_("Choose one or more case types.")]
    if fields["difficulty"] not in content_files.DIFFICULTIES:
        errors["difficulty"] = [_("Choose a difficulty.")]
    elif fields["difficulty"] == "hard" and not fields["hard_because"]:
        errors["hard_because"] = [_("Say what makes a hard vignette hard.")]
    if len(fields["body"]) > 20_000:
        errors["body"] = [_("The case file is too long (20,000 characters at most).")]
    if errors:
        raise ValidationError(errors)


# --- vignettes -----------------------------------------------------------------------------


@transaction.atomic
def vignette_create(
    *,
    organization: Organization,
    actor,
    slug: str,
    pool: str,
    title: str,
    case_types: list[str],
    difficulty: str,
    hard_because: str = "",
    body: str,
    now: dt.datetime | None = None,
) -> Vignette:
    _require_author(organization, actor)
    fields = _revision_fields(
        title=title, case_types=case_types, difficulty=difficulty,
        hard_because=hard_because, body=body,
    )
    _validate_vignette_fields(slug=slug, pool=pool, fields=fields, organization=organization)
    vignette = Vignette.objects.create(
        slug=slug, owner=organization, pool=pool, status=ContentStatus.DRAFT
    )
    revision = VignetteRevision.objects.create(
        vignette=vignette, number=1, content_hash=_revision_hash(fields), **fields
    )
    vignette.current_revision = revision
    vignette.save(update_fields=["current_revision"])
    audit_record(
        actor=actor, organization=organization, obj=vignette, action="vignette.create",
        after={"pool": pool, "revision": 1, "title": fields["title"]}, now=now,
    )
    return vignette


@transaction.atomic
def vignette_update(
    *,
    vignette: Vignette,
    organization: Organization,
    actor,
    pool: str,
    title: str,
    case_types: list[str],
    difficulty: str,
    hard_because: str = "",
    body: str,
    now: dt.datetime | None = None,
) -> VignetteRevision:
    """Edit a draft: a new revision only when the content hash changes."""
    _require_private(vignette, organization)
    _require_author(organization, actor)
    vignette = Vignette.objects.select_for_update().get(pk=vignette.pk)
    if vignette.status != ContentStatus.DRAFT:
        raise Conflict(_("Only a draft can be edited; return it to draft first."))
    fields = _revision_fields(
        title=title, case_types=case_types, difficulty=difficulty,
        hard_because=hard_because, body=body,
    )
    _validate_vignette_fields(
        slug=vignette.slug, pool=pool, fields=fields, organization=organization, vignette=vignette
    )
    before = {"pool": vignette.pool, "revision": vignette.current_revision.number}
    revision = vignette.current_revision
    new_hash = _revision_hash(fields)
    if revision.content_hash != new_hash:
        number = (vignette.revisions.aggregate(n=Max("number"))["n"] or 0) + 1
        revision = VignetteRevision.objects.create(
            vignette=vignette, number=number, content_hash=new_hash, **fields
        )
        vignette.current_revision = revision
    vignette.pool = pool
    vignette.save(update_fields=["current_revision", "pool"])
    after = {"pool": vignette.pool, "revision": revision.number}
    if after != before:
        audit_record(
            actor=actor, organization=organization, obj=vignette, action="vignette.edit",
            before=before, after=after, now=now,
        )
    return revision


def vignette_doc(vignette: Vignette, *, status: str | None = None) -> content_files.VignetteDoc:
    """The vignette as its content file would describe it (current revision, current
    references)."""
    revision = vignette.current_revision
    refs = current_references(revision)
    references = {}
    for slug, ref in refs.items():
        if ref.applicable:
            items = {
                s.item.code: (s.value, s.rationale)
                for s in ref.item_scores.select_related("item").order_by("item__order")
            }
            references[slug] = content_files.ReferenceDoc(slug, True, items=items)
        else:
            references[slug] = content_files.ReferenceDoc(
                slug, False, reason=ref.not_applicable_reason
            )
    latest = max(refs.values(), key=lambda r: (r.agreed_on, r.pk), default=None)
    return content_files.VignetteDoc(
        path=f"vignettes/{vignette.slug}.md",
        slug=vignette.slug,
        title=revision.title,
        case_types=list(revision.case_types),
        difficulty=revision.difficulty,
        hard_because=revision.hard_because,
        pool=vignette.pool,
        status=status or vignette.status,
        panel=latest.panel if latest else "",
        agreed_on=latest.agreed_on if latest else None,
        body=revision.body,
        references=references,
    )


def current_references(revision: VignetteRevision) -> dict[str, ReferenceScoring]:
    """The latest reference per instrument (bundled instruments' current versions)."""
    out: dict[str, ReferenceScoring] = {}
    qs = (
        ReferenceScoring.objects.filter(vignette_revision=revision)
        .select_related("instrument_version__instrument")
        .order_by("instrument_version__instrument__slug", "-instrument_version__number", "-number")
    )
    for ref in qs:
        out.setdefault(ref.instrument_version.instrument.slug, ref)
    return out


def publish_problems(vignette: Vignette) -> list[str]:
    """What stops the vignette from being published: the checks of load_content --check."""
    bundle = content_files.ContentBundle()
    doc = vignette_doc(vignette, status="published")
    content_files.check_vignette_against_instruments(doc, bundled_instrument_docs(), bundle)
    content_files.check_vignette_text(doc, bundle, explicit_terms())
    return [f"{p.field}: {p.message}" for p in bundle.problems]


_TRANSITIONS = {
    "submit_for_review": (ContentStatus.DRAFT, ContentStatus.IN_REVIEW),
    "return_to_draft": (ContentStatus.IN_REVIEW, ContentStatus.DRAFT),
    "publish": (ContentStatus.IN_REVIEW, ContentStatus.PUBLISHED),
    "retire": (ContentStatus.PUBLISHED, ContentStatus.RETIRED),
}


@transaction.atomic
def vignette_transition(
    *,
    vignette: Vignette,
    organization: Organization,
    actor,
    action: str,
    now: dt.datetime | None = None,
) -> Vignette:
    """draft -> in_review -> published -> retired (and back to draft from review).

    Publishing runs the content checks first; on any problem nothing changes and the
    ValidationError lists every problem."""
    _require_private(vignette, organization)
    _require_author(organization, actor)
    if action not in _TRANSITIONS:
        raise ValidationError({"action": _("Unknown action.")})
    vignette = Vignette.objects.select_for_update().get(pk=vignette.pk)
    source, target = _TRANSITIONS[action]
    if vignette.status != source:
        raise Conflict(
            _("The vignette is %(status)s; this needs it to be %(source)s.")
            % {"status": vignette.get_status_display(), "source": source.label}
        )
    if action == "publish":
        problems = publish_problems(vignette)
        if problems:
            raise ValidationError({"publish": problems})
    vignette.status = target
    vignette.save(update_fields=["status"])
    audit_record(
        actor=actor, organization=organization, obj=vignette, action=f"vignette.{action}",
        before={"status": source}, after={"status": target,
                                           "revision": vignette.current_revision.number},
        now=now,
    )
    return vignette


# --- sets and exam pools -------------------------------------------------------------------


@transaction.atomic
def vignette_set_save(
    *,
    organization: Organization,
    actor,
    slug: str,
    title: str,
    kind: str,
    instrument_slug: str | None,
    vignette_slugs: list[str],
    vignette_set: VignetteSet | None = None,
    now: dt.datetime | None = None,
) -> VignetteSet:
    """Create or replace an organisation's practice set or exam pool (ordered)."""
    _require_author(organization, actor)
    if vignette_set is not None and vignette_set.owner_id != organization.pk:
        raise PermissionDenied(_("Bundled sets are read-only."))
    errors: dict[str, list[str]] = {}
    if not content_files.SLUG_RE.match(slug or ""):
        errors["slug"] = [_("Use lowercase letters, digits and hyphens.")]
    elif (
        VignetteSet.objects.filter(owner=organization, slug=slug)
        .exclude(pk=getattr(vignette_set, "pk", None))
        .exists()
    ):
        errors["slug"] = [_("Your organisation already has a set with that slug.")]
    if not (title or "").strip():
        errors["title"] = [_("Give the set a title.")]
    if kind not in content_files.SET_KINDS:
        errors["kind"] = [_("Choose a practice set or an exam pool.")]
    instrument = None
    if instrument_slug:
        instrument = Instrument.objects.filter(slug=instrument_slug, owner__isnull=True).first()
        if instrument is None:
            errors["instrument"] = [_("Unknown instrument.")]
    by_slug = {v.slug: v for v in Vignette.objects.filter(owner=organization,
                                                          slug__in=vignette_slugs)}
    wrong = [s for s in vignette_slugs if s not in by_slug]
    if wrong:
        errors["vignettes"] = [_("Not your organisation's vignettes: %s") % ", ".join(wrong)]
    elif not vignette_slugs:
        errors["vignettes"] = [_("Choose at least one vignette.")]
    else:
        want = Pool.EXAM if kind == "exam" else Pool.PRACTICE
        mismatched = [s for s in vignette_slugs if by_slug[s].pool != want]
        if mismatched:
            errors["vignettes"] = [
                _("An exam pool holds only exam vignettes and a practice set only practice "
                  "vignettes: %s") % ", ".join(mismatched)
            ]
    if errors:
        raise ValidationError(errors)
    doc = content_files.SetDoc("", slug, title.strip(), kind,
                               instrument_slug or None, list(vignette_slugs))
    created = vignette_set is None
    if created:
        vignette_set = VignetteSet(owner=organization)
    vignette_set.slug, vignette_set.title, vignette_set.kind = slug, doc.title, kind
    vignette_set.instrument, vignette_set.content_hash = instrument, doc.content_hash
    vignette_set.save()
    vignette_set.members.all().delete()
    VignetteSetMember.objects.bulk_create(
        VignetteSetMember(vignette_set=vignette_set, vignette=by_slug[s], order=i)
        for i, s in enumerate(vignette_slugs, start=1)
    )
    audit_record(
        actor=actor, organization=organization, obj=vignette_set,
        action="set.create" if created else "set.edit",
        after={"kind": kind, "vignettes": list(vignette_slugs)}, now=now,
    )
    return vignette_set


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
    existing = (
        ReferenceScoring.objects.select_for_update()
        .filter(vignette_revision=revision, instrument_version=version)
        .order_by("-number")
        .first()
    )
    reference = ReferenceScoring.objects.create(
        vignette_revision=revision,
        instrument_version=version,
        number=(existing.number + 1) if existing else 1,
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
    instrument = Instrument.objects.filter(
        slug=instrument_slug, owner__isnull=True, current_version__isnull=False
    ).first()
    if instrument is None:
        raise ValidationError({"instrument": [_("Choose a bundled instrument.")]})
    experts = list(
        Membership.objects.filter(
            organization=organization, role__in=EXPERT_ROLES, user_id__in=expert_ids
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


# --- content packs -------------------------------------------------------------------------


def _front_matter(doc: content_files.VignetteDoc) -> dict:
    meta = {
        "slug": doc.slug,
        "title": doc.title,
        "case_types": list(doc.case_types),
        "difficulty": doc.difficulty,
        "hard_because": doc.hard_because,
        "pool": doc.pool,
        "status": doc.status,
    }
    if doc.panel:
        meta["panel"] = doc.panel
    if doc.agreed_on:
        meta["agreed_on"] = doc.agreed_on
    if doc.references:
        refs = {}
        for slug in sorted(doc.references):
            ref = doc.references[slug]
            if ref.applicable:
                refs[slug] = {
                    "applicable": True,
                    "items": {code: {"value": value, "rationale": rationale}
                              for code, (value, rationale) in ref.items.items()},
                }
            else:
                refs[slug] = {"applicable": False, "reason": ref.reason}
        meta["references"] = refs
    return meta


def vignette_file_text(vignette: Vignette) -> str:
    doc = vignette_doc(vignette)
    front = content_files.dump_yaml(_front_matter(doc))
    return f"---\n{front}---\n\n{doc.body}"


def set_file_text(vignette_set: VignetteSet) -> str:
    data = {
        "slug": vignette_set.slug,
        "title": vignette_set.title,
        "kind": vignette_set.kind,
    }
    if vignette_set.instrument_id:
        data["instrument"] = vignette_set.instrument.slug
    data["vignettes"] = [m.vignette.slug for m in vignette_set.members.select_related("vignette")]
    return content_files.dump_yaml(data)


def pack_export(
    *, organization: Organization, vignette_slugs: list[str] | None = None,
    set_slugs: list[str] | None = None,
) -> bytes:
    """The organisation's content (or a subset) as a .zip in the vignettes/content/ format.

    Instruments are bundled, so a pack holds vignettes and sets; a set whose vignettes are not
    all in the pack is left out. The archive is deterministic: the same content gives the same
    bytes."""
    vignettes = Vignette.objects.filter(
        owner=organization, current_revision__isnull=False
    ).select_related("current_revision").order_by("slug")
    if vignette_slugs is not None:
        vignettes = vignettes.filter(slug__in=vignette_slugs)
    sets = VignetteSet.objects.filter(owner=organization).select_related("instrument")
    sets = sets.order_by("slug")
    if set_slugs is not None:
        sets = sets.filter(slug__in=set_slugs)
    included = {v.slug for v in vignettes}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        def write(name: str, text: str) -> None:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, text.encode("utf-8"))

        for vignette in vignettes:
            write(f"vignettes/{vignette.slug}.md", vignette_file_text(vignette))
        for vignette_set in sets:
            members = set(vignette_set.members.values_list("vignette__slug", flat=True))
            if members <= included:
                write(f"sets/{vignette_set.slug}.yaml", set_file_text(vignette_set))
    return buffer.getvalue()


# The usual .zip compressions; bzip2 and LZMA are refused (a pack is exported as deflate).
PACK_COMPRESSIONS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
_ZIP_ENCRYPTED = 0x1
# What a damaged archive or entry raises from Python's zipfile and zlib.
_ZIP_DAMAGE = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, ValueError,
               OSError, NotImplementedError, RuntimeError, struct.error)


def _pack_files(data: bytes, bundle: content_files.ContentBundle) -> dict[str, str]:
    """The pack's files by path, after the zip safety checks (problems go to the bundle).

    Refused: more than PACK_MAX_FILES entries (folders count), more than PACK_MAX_TOTAL_BYTES
    unpacked, paths outside vignettes/ and sets/, an entry given twice, encryption, a
    compression other than stored or deflate, an entry larger than PACK_MAX_FILE_BYTES or
    holding another size than its header declares, a checksum (CRC-32) mismatch, compressed
    data that cannot be read."""
    if len(data) > PACK_MAX_BYTES:
        bundle.problem("pack", "-", _("is larger than %(n)d bytes") % {"n": PACK_MAX_BYTES})
        return {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except _ZIP_DAMAGE:
        bundle.problem("pack", "-", _("is not a .zip file"))
        return {}
    if len(entries) > PACK_MAX_FILES:
        bundle.problem("pack", "-", _("has more than %(n)d files") % {"n": PACK_MAX_FILES})
        return {}
    if sum(info.file_size for info in entries) > PACK_MAX_TOTAL_BYTES:
        bundle.problem("pack", "-", _("unpacks to more than %(n)d bytes")
                       % {"n": PACK_MAX_TOTAL_BYTES})
        return {}
    files: dict[str, str] = {}
    seen: set[str] = set()
    for info in entries:
        if info.is_dir():
            continue
        name = info.filename
        path = PurePosixPath(name)
        if (
            name.startswith(("/", "\\")) or "\\" in name or ".." in path.parts
            or ":" in name or len(path.parts) != 2
            or path.parts[0] not in ("vignettes", "sets")
        ):
            bundle.problem(name, "-", _("only vignettes/<slug>.md and sets/<slug>.yaml belong "
                                        "in a pack"))
            continue
        if (path.parts[0], path.suffix) not in (("vignettes", ".md"), ("sets", ".yaml"),
                                                ("sets", ".yml")):
            bundle.problem(name, "-", _("only .md vignettes and .yaml sets are allowed"))
            continue
        if name in seen:
            bundle.problem(name, "-", _("appears twice in the pack"))
            continue
        seen.add(name)
        if info.flag_bits & _ZIP_ENCRYPTED:
            bundle.problem(name, "-", _("is encrypted; a pack must be a plain .zip file"))
            continue
        if info.compress_type not in PACK_COMPRESSIONS:
            bundle.problem(name, "-", _(
                "uses compression method %(method)d; only stored and deflate (the usual .zip) "
                "are read") % {"method": info.compress_type})
            continue
        if info.file_size > PACK_MAX_FILE_BYTES:
            bundle.problem(name, "-", _("is larger than %(n)d bytes") % {"n": PACK_MAX_FILE_BYTES})
            continue
        try:
            with archive.open(info) as handle:
                raw = handle.read(PACK_MAX_FILE_BYTES + 1)
        except zipfile.BadZipFile as exc:
            if "CRC" in str(exc):
                bundle.problem(name, "-", _("is damaged: its checksum (CRC-32) does not match "
                                            "its contents"))
            else:
                bundle.problem(name, "-", _("is damaged: %(what)s") % {"what": exc})
            continue
        except _ZIP_DAMAGE:
            bundle.problem(name, "-", _("is damaged: its compressed data cannot be read"))
            continue
        if len(raw) != info.file_size:
            bundle.problem(name, "-", _(
                "is damaged: its header declares %(declared)d bytes but it holds %(actual)d")
                % {"declared": info.file_size, "actual": len(raw)})
            continue
        try:
            files[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            bundle.problem(name, "-", _("is not UTF-8 text"))
    return files


def pack_read(*, data: bytes, organization: Organization) -> content_files.ContentBundle:
    """Parse and validate a pack with the checks of load_content --check, against the
    bundled instruments. The bundle's `instruments` stays empty: packs never define any."""
    bundle = content_files.ContentBundle()
    files = _pack_files(data, bundle)
    instruments = bundled_instrument_docs()
    bundle.explicit_terms = explicit_terms()
    content_files.add_vignette_files(
        bundle,
        ((name, files[name]) for name in sorted(n for n in files if n.startswith("vignettes/"))),
        instruments,
    )
    known = dict(Vignette.objects.filter(owner=organization).values_list("slug", "pool"))
    known.update({slug: doc.pool for slug, doc in bundle.vignettes.items()})
    check_bundle = content_files.ContentBundle(instruments=instruments)
    for name in sorted(n for n in files if n.startswith("sets/")):
        doc = content_files.parse_set(name, files[name], bundle)
        if doc is None:
            continue
        if doc.slug in bundle.sets:
            bundle.problem(name, "slug", f"{doc.slug!r} is also used by "
                           f"{bundle.sets[doc.slug].path}")
            continue
        content_files.check_set(doc, check_bundle, known)
        bundle.sets[doc.slug] = doc
    bundle.problems.extend(check_bundle.problems)
    if not files and not bundle.problems:
        bundle.problem("pack", "-", _("holds no vignettes or sets"))
    return bundle


@dataclass
class PackChange:
    kind: str  # vignette | set
    slug: str
    change: str  # new | new revision | changed | unchanged


def pack_preview(
    *, bundle: content_files.ContentBundle, organization: Organization
) -> list[PackChange]:
    """What importing the pack would change in the organisation's content."""
    out = []
    existing = {
        v.slug: v for v in Vignette.objects.filter(
            owner=organization, slug__in=list(bundle.vignettes)
        ).select_related("current_revision")
    }
    for slug, doc in sorted(bundle.vignettes.items()):
        vignette = existing.get(slug)
        if vignette is None:
            out.append(PackChange("vignette", slug, _("new")))
            continue
        changes = []
        if vignette.current_revision is None or (
            vignette.current_revision.content_hash != doc.revision_hash
        ):
            changes.append(_("new revision"))
        if (vignette.pool, vignette.status) != (doc.pool, doc.status):
            changes.append(_("pool or status %(old)s -> %(new)s") % {
                "old": f"{vignette.pool}/{vignette.status}", "new": f"{doc.pool}/{doc.status}"})
        if not changes:
            refs = current_references(vignette.current_revision)
            for inst in doc.references:
                ref = refs.get(inst)
                if ref is None or ref.content_hash != doc.reference_hash(inst):
                    changes.append(_("reference on %(inst)s") % {"inst": inst})
        out.append(PackChange("vignette", slug, "; ".join(changes) or _("unchanged")))
    sets = {s.slug: s for s in VignetteSet.objects.filter(owner=organization)}
    for slug, doc in sorted(bundle.sets.items()):
        current = sets.get(slug)
        if current is None:
            change = _("new")
        elif current.content_hash != doc.content_hash:
            change = _("changed")
        else:
            change = _("unchanged")
        out.append(PackChange("set", slug, change))
    return out


@transaction.atomic
def pack_import(
    *, data: bytes, organization: Organization, actor, now: dt.datetime | None = None
) -> LoadReport:
    """Validate and load a pack in one transaction: any problem and nothing is imported."""
    _require_author(organization, actor)
    bundle = pack_read(data=data, organization=organization)
    if bundle.problems:
        raise ContentProblems(bundle.problems)
    report = content_load(bundle=bundle, owner=organization)
    audit_record(
        actor=actor, organization=organization, object_type="vignettes.ContentPack",
        action="pack.import", after={"changes": report.changes[:200]}, now=now,
    )
    return report


# --- corrections on feedback pages ---------------------------------------------------------


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
