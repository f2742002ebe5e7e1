"""Shared building blocks for content tests: a valid case file, a draft and its agreed
references, and content-pack zips."""

import io
import zipfile
from pathlib import Path

from vignettes.authoring import panels as authoring_panels
from vignettes.authoring import references as authoring_references
from vignettes.authoring import vignettes as authoring_vignettes
from vignettes.content_files import SECTIONS
from vignettes.models import Instrument

WORDS = ("careful", "recorded", "supervision", "officer", "noted", "stable", "review",
         "history", "report", "weekly", "contact", "plan", "work", "housing", "family")

PACK_NAME = "vignettes/a-b-csem.md"
PACK_TEXT = ("---\nslug: a-b-csem\n---\n" + "The case file. " * 40).encode()


def case_body(name: str, seed: str) -> str:
    """A valid 12-section case file naming `name`, unique to `seed`."""
    parts = []
    for n, section in enumerate(SECTIONS):
        filler = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(30))
        parts.append(
            f"## {section}\n\n{name} file {seed} section {n}: the {section.lower()} notes "
            f"for this case were {filler}.\n"
        )
    return "\n".join(parts)


def make_draft(org, author, slug="oliver-t-csem", pool="exam", name="Oliver T."):
    return authoring_vignettes.vignette_create(
        organization=org, actor=author, slug=slug, pool=pool,
        title=f"{name} (case 201)",
        case_types=["csem-exclusive"], difficulty="standard", body=case_body(name, slug),
    )


def scoring_input(version, value_for, rationale="Scored from the case file."):
    codes = {item.code: value_for(item) for item in version.spec.items}
    return authoring_references.ScoringInput(
        applicable=True, codes=codes, rationales=dict.fromkeys(codes, rationale)
    )


def not_applicable():
    return authoring_references.ScoringInput(
        applicable=False, reason="Not scored: his only offence is a CSEM offence."
    )


def lowest(item):
    return min(item.values)


def agree_reference(vignette, instrument, lead, experts, ref_input, *, first=None):
    """Run a panel on one instrument: experts score (the first one may differ), the lead
    records consensus. Returns the panel and the reference."""
    panel, references = agree_references(
        vignette, lead, experts, {instrument: ref_input},
        first={instrument: first} if first else None)
    return panel, references[instrument]


def agree_references(vignette, lead, experts, ref_inputs, *, first=None):
    """Run a panel on the instruments of `ref_inputs` (slug -> input): experts score (the
    first one may give `first`), the lead records the consensus of each."""
    panel = authoring_panels.panel_create(
        vignette=vignette, organization=vignette.owner, lead=lead,
        instrument_slugs=list(ref_inputs), expert_ids=[e.pk for e in experts],
    )
    for i, expert in enumerate(experts):
        authoring_panels.panel_scoring_submit(
            panel=panel, user=expert, ref_inputs=first if (i == 0 and first) else ref_inputs
        )
    return panel, authoring_panels.panel_consensus_record(panel=panel, actor=lead,
                                                          ref_inputs=ref_inputs)


def publish_inputs():
    """Every bundled instrument's reference for a CSEM-only draft (Static-99R does not
    apply)."""
    inputs = {}
    for slug in ("cport", "stable-2007"):
        version = Instrument.objects.bundled().get(slug=slug).current_version
        inputs[slug] = scoring_input(version, lowest)
    inputs["static-99r"] = not_applicable()
    return inputs


def publish_ready(vignette, lead, experts):
    """Agree every bundled instrument's reference for `vignette` in one panel."""
    return agree_references(vignette, lead, experts, publish_inputs())


def zip_of(files: dict[str, str | bytes], method=zipfile.ZIP_DEFLATED) -> bytearray:
    """A zip archive of `files` (name -> content), as bytes a test may damage in place."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return bytearray(buffer.getvalue())


def central_directory(data: bytearray) -> int:
    return data.rfind(b"PK\x01\x02")


def bad_crc() -> bytearray:
    """A one-file pack whose central directory declares the wrong CRC-32."""
    data = zip_of({PACK_NAME: PACK_TEXT})
    data[central_directory(data) + 16] ^= 0xFF
    return data


def edit(path: Path, old: str, new: str):
    """Replace the first `old` in the file at `path` (which must hold it) with `new`."""
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def declare_stable_note_change(content_dir: Path) -> None:
    """STABLE-2007 1.3 rewrites STABLE-5's coding note and declares it for re-check."""
    stable = content_dir / "instruments" / "stable-2007.yaml"
    edit(stable, 'version: "1.2"', 'version: "1.3"')
    edit(stable, "      Score 0 when he has people he feels close to;",
         "      Score 0 only when he has people he feels close to;")
    edit(stable, "items:\n  - code: STABLE-1", """  - version: "1.3"
    date: 2027-01-10
    recheck: [STABLE-5]
    reworded: []
items:
  - code: STABLE-1""")
