"""Writes to content. Every write runs in one transaction: all or nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from training.models import Organization
from vignettes import content_files, content_rules
from vignettes.models import (
    Band,
    ContentStatus,
    CorrectionDecision,
    Instrument,
    InstrumentVersion,
    Item,
    ItemValue,
    ReferenceItemScore,
    ReferenceScoring,
    Vignette,
    VignetteRevision,
    VignetteSet,
    VignetteSetMember,
    next_number,
)


@dataclass
class LoadReport:
    changes: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.changes.append(message)

    @property
    def changed(self) -> bool:
        return bool(self.changes)


class ContentProblems(Exception):
    """The content has problems; nothing was written."""

    def __init__(self, problems: list[content_files.ContentProblem]):
        self.problems = problems
        super().__init__(f"{len(problems)} problem(s) in the content")


@transaction.atomic
def content_load(
    *, bundle: content_files.ContentBundle, owner: Organization | None = None,
    now: dt.datetime | None = None,
) -> LoadReport:
    """Load a validated bundle, creating new versions and revisions only for what changed.

    Loading the same files twice changes nothing the second time. Vignettes that were loaded
    before and are no longer in the files are retired, never deleted.
    """
    if bundle.problems:
        raise ContentProblems(bundle.problems)
    report = LoadReport()
    now = now or timezone.now()
    versions: dict[str, InstrumentVersion] = {}
    for doc in bundle.instruments.values():
        versions[doc.slug] = _load_instrument(doc, owner, report)
    # Instruments already in the database that the files do not define (org content packs
    # refer to bundled instruments).
    for slug in {s for v in bundle.vignettes.values() for s in v.references} - set(versions):
        instrument = Instrument.objects.bundled().filter(slug=slug).first()
        if instrument is None or instrument.current_version is None:
            raise ContentProblems(
                [content_files.ContentProblem("-", f"references.{slug}", "unknown instrument")]
            )
        versions[slug] = instrument.current_version

    seen_slugs = set()
    for doc in bundle.vignettes.values():
        seen_slugs.add(doc.slug)
        _load_vignette(doc, owner, versions, report, now)

    if owner is None:
        gone = Vignette.objects.bundled().exclude(slug__in=seen_slugs)
        for vignette in gone.exclude(status=ContentStatus.RETIRED):
            vignette.status = ContentStatus.RETIRED
            vignette.save(update_fields=["status"])
            report.add(f"vignette {vignette.slug}: retired (no longer in the content files)")

    for doc in bundle.sets.values():
        _load_set(doc, owner, report)
    if owner is None:
        rechecks = content_rules.references_to_recheck(bundle.vignettes.values(),
                                                       bundle.instruments)
        if rechecks:
            report.add(f"{len(rechecks)} reference(s) scored under an older coding note are to "
                       "re-check: manage.py content_report lists them")
    return report


def note_change_problems(
    bundle: content_files.ContentBundle, owner: Organization | None = None
) -> list[content_files.ContentProblem]:
    """What loading the bundle's instruments would refuse: a coding note that differs from
    the loaded version's without a new version label and a `coding_note_changes` entry.
    Reads only, so `load_content --check` can say it before anything is written; with no
    database (a bare checkout in CI) there is nothing to compare with."""
    problems = []
    try:
        if Instrument._meta.db_table not in connection.introspection.table_names():
            return problems
    except DatabaseError:  # no database reachable: the files alone are checked
        return problems
    for doc in bundle.instruments.values():
        current = (
            Instrument.objects.filter(slug=doc.slug, owner=owner)
            .values_list("current_version", flat=True).first()
        )
        if current is None:
            continue
        version = InstrumentVersion.objects.get(pk=current)
        if version.content_hash == doc.content_hash:
            continue
        problems.extend(
            content_files.ContentProblem(doc.path, "coding_note_changes", message)
            for message in content_rules.undeclared_note_changes(
                previous_notes=dict(version.items.values_list("code", "coding_notes")),
                previous_label=version.version_label,
                data=doc.data,
            )
        )
    return problems


def _load_instrument(doc, owner, report) -> InstrumentVersion:
    data = doc.data
    instrument, created = Instrument.objects.get_or_create(
        slug=doc.slug,
        owner=owner,
        defaults={"name": data["name"], "short_name": data["short_name"]},
    )
    if not created and (instrument.name, instrument.short_name) != (
        data["name"],
        data["short_name"],
    ):
        instrument.name, instrument.short_name = data["name"], data["short_name"]
        instrument.save(update_fields=["name", "short_name"])
    current = instrument.current_version
    if current is not None and current.content_hash == doc.content_hash:
        return current
    if current is not None:
        problems = content_rules.undeclared_note_changes(
            previous_notes=dict(current.items.values_list("code", "coding_notes")),
            previous_label=current.version_label,
            data=data,
        )
        if problems:
            raise ContentProblems(
                [content_files.ContentProblem(doc.path, "coding_note_changes", p)
                 for p in problems]
            )
    version = InstrumentVersion.objects.create(
        instrument=instrument,
        number=next_number(instrument.versions.all()),
        version_label=str(data["version"]),
        kind=data["kind"],
        description=data["description"].strip(),
        source=data["source"].strip(),
        notice=data["notice"].strip(),
        applicability_rule=data["applicability_rule"].strip(),
        missing_information=dict(data.get("missing_information") or {}),
        rating_period=" ".join(str(data.get("rating_period") or "").split()),
        validity_caveats=[
            {"if_only_case_types": list(c["if_only_case_types"]),
             "text": " ".join(str(c["text"]).split()),
             "source": " ".join(str(c["source"]).split())}
            for c in data.get("validity_caveats") or []
        ],
        content_hash=doc.content_hash,
    )
    for order, item_data in enumerate(data["items"], start=1):
        item = Item.objects.create(
            instrument_version=version,
            code=item_data["code"],
            order=order,
            name=item_data["name"].strip(),
            description=item_data["description"].strip(),
            coding_notes=item_data["coding_notes"].strip(),
            omissible=bool(item_data.get("omissible", False)),
            omission_rule=str(item_data.get("omission_rule") or "").strip(),
        )
        ItemValue.objects.bulk_create(
            ItemValue(item=item, value=v["value"], label=v["label"], order=i)
            for i, v in enumerate(item_data["values"], start=1)
        )
    Band.objects.bulk_create(
        Band(
            instrument_version=version,
            code=b["code"],
            label=b["label"],
            min_total=b["min"],
            max_total=b["max"],
            order=i,
        )
        for i, b in enumerate(data.get("bands") or [], start=1)
    )
    instrument.current_version = version
    instrument.save(update_fields=["current_version"])
    report.add(
        f"instrument {doc.slug}: {'created' if created else 'new'} version {version.number} "
        f"(label {version.version_label})"
    )
    return version


def _rename_former(doc, owner, report) -> None:
    """A file whose `formerly:` names a vignette already loaded renames it in place: the same
    row, so ratings, references, history and certificates stay attached."""
    if not doc.formerly or Vignette.objects.filter(slug=doc.slug, owner=owner).exists():
        return
    old = Vignette.objects.filter(slug__in=doc.formerly, owner=owner).order_by("pk").first()
    if old is None:
        return
    report.add(f"vignette {old.slug}: renamed to {doc.slug}")
    old.former_slugs = sorted({*old.former_slugs, old.slug})
    old.slug = doc.slug
    old.save(update_fields=["slug", "former_slugs"])


def _load_vignette(doc, owner, versions, report, now) -> Vignette:
    _rename_former(doc, owner, report)
    vignette, created = Vignette.objects.get_or_create(
        slug=doc.slug, owner=owner, defaults={"pool": doc.pool, "status": doc.status}
    )
    former = sorted({*vignette.former_slugs, *doc.formerly})
    if former != vignette.former_slugs:
        vignette.former_slugs = former
        vignette.save(update_fields=["former_slugs"])
    if created:
        report.add(f"vignette {doc.slug}: created ({doc.pool}, {doc.status})")
    else:
        for attr in ("pool", "status"):
            old, new = getattr(vignette, attr), getattr(doc, attr)
            if old != new:
                setattr(vignette, attr, new)
                vignette.save(update_fields=[attr])
                report.add(f"vignette {doc.slug}: {attr} {old} -> {new}")
    revision = vignette.current_revision
    if revision is None or revision.content_hash != doc.revision_hash:
        revision = VignetteRevision.objects.create(
            vignette=vignette,
            number=next_number(vignette.revisions.all()),
            title=doc.title,
            case_types=doc.case_types,
            difficulty=doc.difficulty,
            hard_because=doc.hard_because,
            body=doc.body,
            content_hash=doc.revision_hash,
        )
        vignette.current_revision = revision
        vignette.save(update_fields=["current_revision"])
        if not created:
            report.add(f"vignette {doc.slug}: new revision {revision.number}")
    for slug, ref in doc.references.items():
        _load_reference(doc, slug, ref, revision, versions[slug], report, now)
    return vignette


def _load_reference(doc, slug, ref, revision, version, report, now) -> ReferenceScoring:
    content_hash = doc.reference_hash(slug)
    references = ReferenceScoring.objects.filter(
        vignette_revision=revision, instrument_version=version
    )
    existing = references.order_by("-number").first()
    if existing is not None and existing.content_hash == content_hash:
        return existing
    # The reference this one follows: the latest for the vignette on this instrument, under
    # any revision or instrument version. Numbers run on across the vignette's revisions and
    # the instrument's versions, so a corrected reference always has a new number.
    previous = (
        ReferenceScoring.objects.filter(
            vignette_revision__vignette=revision.vignette,
            instrument_version__instrument=version.instrument,
        ).order_by("-created_at", "-pk").first()
    )
    scoring_row = ReferenceScoring.objects.create(
        vignette_revision=revision,
        instrument_version=version,
        number=next_number(ReferenceScoring.objects.filter(
            vignette_revision__vignette=revision.vignette,
            instrument_version__instrument=version.instrument)),
        applicable=ref.applicable,
        not_applicable_reason=ref.reason,
        panel=doc.panel,
        agreed_on=doc.agreed_on,
        content_hash=content_hash,
    )
    if ref.applicable:
        items = {item.code: item for item in version.items.all()}
        ReferenceItemScore.objects.bulk_create(
            ReferenceItemScore(
                reference_scoring=scoring_row, item=items[code], value=value, rationale=rationale
            )
            for code, (value, rationale) in ref.items.items()
        )
    if existing is not None:
        report.add(f"vignette {doc.slug}: corrected reference on {slug} ({scoring_row.number})")
    if previous is not None:
        _record_correction(doc, slug, ref, previous, scoring_row, report, now)
    return scoring_row


def _record_correction(doc, slug, ref, previous, new, report, now) -> None:
    """A bundled reference whose applicability or codes changed gets the correction record an
    organisation's own gets: the file's `correction` says whether past results are
    re-evaluated. Past ratings keep the reference they were compared against."""
    old_codes = previous.item_states() if previous.applicable else {}
    new_codes = ref.item_states() if ref.applicable else {}
    changed = sorted(code for code in set(old_codes) | set(new_codes)
                     if old_codes.get(code, "-") != new_codes.get(code, "-"))
    if previous.applicable != ref.applicable:
        changed = ["applicable", *changed]
    if not changed:
        return
    declared = sorted(str(c) for c in (ref.correction or {}).get("items") or [])
    if ref.correction is None and previous.vignette_revision_id != new.vignette_revision_id:
        return  # the case text changed too: a new case version, not a correction
    if ref.correction is None or declared != changed:
        # A block left from an earlier correction does not cover a new one.
        raise ContentProblems([content_files.ContentProblem(
            doc.path, f"references.{slug}.correction",
            f"the reference changes {', '.join(changed)}: say so and whether past results are "
            f"re-evaluated (correction: {{items: [{', '.join(changed)}], re_evaluate: "
            "true|false, note: \"what changed and why\"})")])
    CorrectionDecision.objects.create(
        old_reference=previous, new_reference=new, decided_by=None,
        re_evaluate=ref.correction["re_evaluate"],
        note=" ".join(str(ref.correction.get("note") or "").split()), at=now,
    )
    report.add(f"vignette {doc.slug}: correction of {slug} reference {previous.number} -> "
               f"{new.number} recorded (re-evaluate: "
               f"{'yes' if ref.correction['re_evaluate'] else 'no'})")


def _load_set(doc, owner, report) -> VignetteSet:
    instrument = (
        Instrument.objects.bundled().filter(slug=doc.instrument).first()
        if doc.instrument
        else None
    )
    vignette_set, created = VignetteSet.objects.get_or_create(
        slug=doc.slug,
        owner=owner,
        defaults={
            "title": doc.title,
            "kind": doc.kind,
            "instrument": instrument,
            "content_hash": doc.content_hash,
        },
    )
    if not created and vignette_set.content_hash == doc.content_hash:
        return vignette_set
    vignette_set.title, vignette_set.kind = doc.title, doc.kind
    vignette_set.instrument, vignette_set.content_hash = instrument, doc.content_hash
    vignette_set.save()
    vignette_set.members.all().delete()
    by_slug = {v.slug: v for v in Vignette.objects.filter(owner=owner, slug__in=doc.vignettes)}
    VignetteSetMember.objects.bulk_create(
        VignetteSetMember(vignette_set=vignette_set, vignette=by_slug[slug], order=i)
        for i, slug in enumerate(doc.vignettes, start=1)
    )
    report.add(f"set {doc.slug}: {'created' if created else 'updated'} "
               f"({len(doc.vignettes)} vignettes)")
    return vignette_set
