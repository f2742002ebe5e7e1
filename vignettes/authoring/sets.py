"""Sets and exam pools of an organisation's own content."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.models import Organization
from vignettes import content_files
from vignettes.authoring.vignettes import _require_author
from vignettes.models import (
    Instrument,
    Pool,
    Vignette,
    VignetteSet,
    VignetteSetMember,
)

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
        instrument = Instrument.objects.bundled().filter(slug=instrument_slug).first()
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
