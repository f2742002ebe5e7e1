import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from vignettes import content_files, services
from vignettes.models import (
    ContentStatus,
    Instrument,
    InstrumentVersion,
    ReferenceScoring,
    Vignette,
    VignetteRevision,
)

CONTENT = Path(__file__).resolve().parents[2] / "vignettes" / "content"
SAMPLE = "daniel-r-009"


@pytest.fixture
def content_dir(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    return root


def run(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("load_content", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_second_load_reports_no_changes(content):
    run()
    out, _ = run()
    assert out.strip().endswith("no changes.")


def test_bundled_content_is_loaded(content):
    assert InstrumentVersion.objects.count() == 3
    daniel = Vignette.objects.get(slug=SAMPLE, owner__isnull=True)
    assert daniel.status == ContentStatus.PUBLISHED
    refs = ReferenceScoring.objects.filter(vignette_revision=daniel.current_revision)
    assert refs.count() == 3
    cport = refs.get(instrument_version__instrument__slug="cport")
    assert cport.applicable
    assert cport.item_scores.count() == 7
    assert cport.result().complete


def test_check_on_a_broken_copy_names_file_and_field_and_writes_nothing(content, content_dir):
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    path.write_text(path.read_text().replace("pool: practice", "pool: nowhere"))
    before = VignetteRevision.objects.count()
    with pytest.raises(CommandError) as exc:
        run("--check", "--path", str(content_dir))
    assert exc.value.returncode == 1
    with pytest.raises(CommandError):
        run("--path", str(content_dir))
    assert VignetteRevision.objects.count() == before


def test_check_exit_status_from_the_shell(content_dir):
    import subprocess
    import sys

    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    path.write_text(path.read_text().replace("CPORT-7:", "CPORT-9:"))
    proc = subprocess.run(
        [sys.executable, "manage.py", "load_content", "--check", "--path", str(content_dir)],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert proc.returncode == 1
    assert f"vignettes/{SAMPLE}.md: references.cport.items.CPORT-9:" in proc.stderr


def test_edit_creates_a_new_revision_and_keeps_the_old(content, content_dir):
    run("--path", str(content_dir))
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    path.write_text(path.read_text().replace("## Current situation\n", "## Current situation\n\n"
                                             "He has since moved to a new address.\n"))
    old = Vignette.objects.get(slug=SAMPLE).current_revision
    old_refs = set(ReferenceScoring.objects.filter(vignette_revision=old).values_list("pk", "content_hash"))
    out, _ = run("--path", str(content_dir))
    assert f"vignette {SAMPLE}: new revision {old.number + 1}" in out
    vignette = Vignette.objects.get(slug=SAMPLE)
    assert vignette.current_revision.number == old.number + 1
    old.refresh_from_db()
    assert "new address" not in old.body
    assert set(ReferenceScoring.objects.filter(vignette_revision=old).values_list("pk", "content_hash")) == old_refs
    assert ReferenceScoring.objects.filter(vignette_revision=vignette.current_revision).count() == 3


def test_whitespace_only_edit_is_not_a_change(content, content_dir):
    run("--path", str(content_dir))
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    front, body = path.read_text().split("\n---\n", 1)
    path.write_text(front + "\n---\n" + body.replace(". ", ".   ", 3) + "\n\n")
    out, _ = run("--path", str(content_dir))
    assert out.strip().endswith("no changes.")


def test_a_renamed_vignette_keeps_its_row_ratings_and_references(content, content_dir):
    """`formerly:` renames in place: the vignette loaded under its old slug (as an older
    release had it) becomes the new one, with the same primary key and references."""
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    text = path.read_text()
    old = Vignette.objects.get(slug=SAMPLE, owner__isnull=True)
    former = old.former_slugs[0]
    # The database as an older release left it: the old slug, no former slugs.
    Vignette.objects.filter(pk=old.pk).update(slug=former, former_slugs=[])
    references = set(ReferenceScoring.objects.filter(
        vignette_revision__vignette=old).values_list("pk", flat=True))
    out, _ = run("--path", str(content_dir))
    assert f"vignette {former}: renamed to {SAMPLE}" in out
    renamed = Vignette.objects.get(slug=SAMPLE, owner__isnull=True)
    assert renamed.pk == old.pk and renamed.former_slugs == [former]
    assert set(ReferenceScoring.objects.filter(
        vignette_revision__vignette=renamed).values_list("pk", flat=True)) == references
    assert not Vignette.objects.filter(slug=former).exists()
    # A former slug that is some other file's current slug is refused, naming both.
    path.write_text(text.replace(f"formerly: [{former}]", "formerly: [adrian-k-001]"))
    with pytest.raises(CommandError):
        run("--check", "--path", str(content_dir))


def test_trainee_visible_text_may_not_name_a_case_type_or_give_an_item_away(content_dir):
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    text = path.read_text()
    front, body = text.split("\n---\n", 1)
    path.write_text(front.replace('title: "Daniel R. (case 009)"',
                                  'title: "Daniel R.: CSEM, police operation"')
                    + "\n---\n" + body.replace(
                        "## Current situation\n",
                        "## Current situation\nThis is a csem-exclusive case. No source describes "
                        "it as taking up significant time.\n"))
    found = [str(p) for p in content_files.read_content_dir(content_dir).problems]
    assert any("title: 'Daniel R.: CSEM, police operation' is not a neutral title" in p
               for p in found), found
    assert any("names a case type ('csem-exclusive')" in p for p in found), found
    assert any("gives away an item's code" in p and "significant time" in p for p in found)


def test_reference_correction_creates_a_new_reference(content, content_dir):
    run("--path", str(content_dir))
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    text = path.read_text()
    marker = 'rationale: "'
    i = text.index(marker, text.index("CPORT-1"))
    path.write_text(text[: i + len(marker)] + "Corrected wording. " + text[i + len(marker):])
    bundle = content_files.read_content_dir(content_dir)
    assert bundle.problems == []
    report = services.content_load(bundle=bundle)
    assert report.changes == [f"vignette {SAMPLE}: corrected reference on cport (2)"]
    numbers = ReferenceScoring.objects.filter(
        vignette_revision__vignette__slug=SAMPLE, instrument_version__instrument__slug="cport"
    ).values_list("number", flat=True)
    assert sorted(numbers)[-2:] == [1, 2]


def test_removed_vignette_is_retired_not_deleted(content, content_dir):
    (content_dir / "vignettes" / f"{SAMPLE}.md").unlink()
    for set_file in (content_dir / "sets").glob("*.yaml"):
        set_file.write_text(set_file.read_text().replace(f"  - {SAMPLE}\n", ""))
    out, err = run("--path", str(content_dir))
    assert f"vignette {SAMPLE}: retired" in out, err
    assert Vignette.objects.get(slug=SAMPLE).status == ContentStatus.RETIRED


def test_failure_half_way_writes_nothing(content, content_dir, monkeypatch):
    path = content_dir / "vignettes" / f"{SAMPLE}.md"
    path.write_text(path.read_text().replace("## Current situation\n", "## Current situation\n\n"
                                             "He now lives alone.\n"))
    bundle = content_files.read_content_dir(content_dir)
    calls = {"n": 0}
    real = services._load_vignette

    def flaky(doc, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk gone")
        return real(doc, *args, **kwargs)

    monkeypatch.setattr(services, "_load_vignette", flaky)
    before = VignetteRevision.objects.count()
    with pytest.raises(RuntimeError):
        services.content_load(bundle=bundle)
    assert VignetteRevision.objects.count() == before


OLD_CPORT_BANDS = """bands:
  - {code: lower, label: "Lower (0-1)", min: 0, max: 1}
  - {code: middle, label: "Middle (2-3)", min: 2, max: 3}
  - {code: higher, label: "Higher (4-7)", min: 4, max: 7}
"""


def test_dropping_invented_bands_loads_a_new_version_and_keeps_the_old(db, content_dir):
    # A database loaded when CPORT still carried the project's own bands.
    cport_file = content_dir / "instruments" / "cport.yaml"
    cport_file.write_text(cport_file.read_text() + OLD_CPORT_BANDS)
    run("--path", str(content_dir))
    old = Instrument.objects.get(slug="cport", owner__isnull=True).current_version
    assert old.instrument.has_bands
    old_refs = set(ReferenceScoring.objects.filter(instrument_version=old).values_list(
        "pk", "content_hash"))

    out, _ = run()  # the bundled files, without bands
    assert f"instrument cport: new version {old.number + 1}" in out
    new = InstrumentVersion.objects.get(instrument=old.instrument, number=old.number + 1)
    assert new.instrument.current_version == new
    assert not new.bands.exists() and not new.instrument.has_bands
    assert new.instrument.published_bands == ()
    # The old version and its references are untouched (ratings and certificates point at
    # them); its bands are no longer shown, since the instrument has none.
    old.refresh_from_db()
    assert old.bands.count() == 3
    assert set(ReferenceScoring.objects.filter(instrument_version=old).values_list(
        "pk", "content_hash")) == old_refs
    assert old.shown_bands == ()
    ref = ReferenceScoring.objects.filter(instrument_version=new).first()
    assert ref.result().complete and ref.result().band is None
    static = Instrument.objects.get(slug="static-99r", owner__isnull=True).current_version
    assert [b.code for b in static.shown_bands] == ["I", "II", "III", "IVa", "IVb"]
    out, _ = run()
    assert out.strip().endswith("no changes.")
