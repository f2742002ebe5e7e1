"""Shared steps for attempt tests: complete ratings from the reference, with a deliberate miss."""

from vignettes.models import ReferenceScoring, Vignette

PRACTICE = "daniel-r-csem"


def reference_for(slug: str, instrument: str) -> ReferenceScoring:
    vignette = Vignette.objects.get(slug=slug, owner__isnull=True)
    return (
        ReferenceScoring.objects.filter(
            vignette_revision=vignette.current_revision,
            instrument_version__instrument__slug=instrument,
        )
        .order_by("-number")
        .first()
    )


def reference_body(slug: str, instrument: str, *, miss: str | None = None, revision: int = 0):
    """A rating body that copies the reference, except item `miss` (flipped)."""
    ref = reference_for(slug, instrument)
    body = {"vignette": slug, "instrument": instrument, "revision": revision,
            "applicable": ref.applicable}
    if ref.applicable:
        items = ref.item_states()
        if miss and miss in items:
            values = [v.value for v in ref.instrument_version.items.get(code=miss)
                      .allowed_values.all()]
            items[miss] = next(v for v in values if v != items[miss])
        body["items"] = items
    return body


def reference_secrets(slug: str) -> list[str]:
    """Strings that only reference data contains: rationales, reasons, the panel."""
    vignette = Vignette.objects.get(slug=slug, owner__isnull=True)
    out = []
    for ref in ReferenceScoring.objects.filter(vignette_revision=vignette.current_revision):
        out.append(ref.panel)
        if ref.not_applicable_reason:
            out.append(ref.not_applicable_reason[:50])
        out.extend(s.rationale[:50] for s in ref.item_scores.all())
    return out
