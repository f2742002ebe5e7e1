"""Content packs: an organisation's content exported as a zip of content files and imported elsewhere, with a preview. The zip reader refuses anything unusual with a problem line."""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.db import transaction
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.models import Organization
from vignettes import content_files
from vignettes.authoring.vignettes import (
    _require_author,
    bundled_instrument_docs,
    current_references,
    explicit_terms,
    vignette_doc,
)
from vignettes.models import (
    Vignette,
    VignetteSet,
)
from vignettes.services import ContentProblems, LoadReport, content_load

PACK_MAX_BYTES = 1_000_000  # the uploaded .zip
PACK_MAX_FILES = 500
PACK_MAX_FILE_BYTES = 200_000  # one uncompressed file
PACK_MAX_TOTAL_BYTES = 10_000_000  # everything uncompressed


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
    report = content_load(bundle=bundle, owner=organization, now=now)
    audit_record(
        actor=actor, organization=organization, object_type="vignettes.ContentPack",
        action="pack.import", after={"changes": report.changes[:200]}, now=now,
    )
    return report
