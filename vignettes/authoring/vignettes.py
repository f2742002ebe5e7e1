"""Authoring an organisation's own vignettes: create, edit (a new revision only when the content changes), the review workflow, and what stops publication."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.exceptions import Conflict
from training.models import Membership, Organization
from training.tenancy import STAFF_ROLES
from vignettes import content_checks, content_files
from vignettes.models import (
    ContentStatus,
    Instrument,
    ReferenceScoring,
    Vignette,
    VignetteRevision,
    next_number,
)

BUNDLED_CONTENT_DIR = Path(settings.BASE_DIR) / "vignettes" / "content"


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
        Instrument.objects.bundled()
        .filter(current_version__isnull=False)
        .values_list("slug", flat=True)
    )
    return {slug: doc for slug, doc in docs.items() if slug in loaded}


def explicit_terms() -> list[str]:
    return _bundled_files()[1]


def _now(now):
    return now or timezone.now()


def _require_author(organization: Organization, user) -> None:
    if not Membership.objects.filter(
        organization=organization, user=user, role__in=STAFF_ROLES
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
        errors["slug"] = [_("Use lowercase letters, digits and hyphens, e.g. 'daniel-r-009'.")]
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
    else:
        errors.update({"title": list(content_checks.title_problems(fields["title"],
                                                                   bundled=False))})
    giveaways = list(content_checks.body_problems(fields["body"]))
    if giveaways:
        errors["body"] = [_("The case file is read before scoring: %(problem)s")
                          % {"problem": giveaways[0]}]
    errors = {field: messages for field, messages in errors.items() if messages}
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
        revision = VignetteRevision.objects.create(
            vignette=vignette, number=next_number(vignette.revisions.all()),
            content_hash=new_hash, **fields
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


def draft_only_reason(vignette: Vignette) -> str:
    """Why editing and starting a panel are unavailable (empty for a draft)."""
    return {
        ContentStatus.DRAFT: "",
        ContentStatus.IN_REVIEW: _("In review: return it to draft to edit it or start a "
                                   "panel (review then starts again)."),
        ContentStatus.PUBLISHED: _("Published: the text stays as trainees rated it; correct "
                                   "a reference below, or retire it and write a new vignette."),
        ContentStatus.RETIRED: _("Retired: it is kept for the record and no longer changes."),
    }.get(vignette.status, "")


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
    if action in ("publish", "submit_for_review"):
        # Review and publishing both need the content checks to pass: a case sent for review
        # while they fail could not be published.
        problems = publish_problems(vignette)
        if problems and action == "publish":
            raise ValidationError({"publish": problems})
        if problems:
            raise ValidationError([_("Not sent for review: the content checks fail.")] + problems)
    vignette.status = target
    vignette.save(update_fields=["status"])
    audit_record(
        actor=actor, organization=organization, obj=vignette, action=f"vignette.{action}",
        before={"status": source}, after={"status": target,
                                           "revision": vignette.current_revision.number},
        now=now,
    )
    return vignette
