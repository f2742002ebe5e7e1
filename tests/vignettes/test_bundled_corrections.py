"""Loading a changed coding note or a corrected bundled reference: nothing changes silently."""

import datetime as dt
import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import api_for, browser_for
from tests.training.helpers import rating_put, reference_body
from tests.vignettes.helpers import declare_stable_note_change, edit
from vignettes import content_files, services
from vignettes.models import CorrectionDecision, InstrumentVersion, ReferenceScoring

CONTENT = Path(__file__).resolve().parents[2] / "vignettes" / "content"
CASE = "frank-d-013"
NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def content_dir(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    return root


def load(root):
    bundle = content_files.read_content_dir(root)
    assert [str(p) for p in bundle.problems] == []
    return services.content_load(bundle=bundle, now=NOW)


def stable_refs(slug=CASE):
    return ReferenceScoring.objects.filter(
        vignette_revision__vignette__slug=slug, vignette_revision__vignette__owner=None,
        instrument_version__instrument__slug="stable-2007",
    ).order_by("pk")


def test_a_changed_note_without_a_new_version_or_declaration_is_refused(content, content_dir):
    stable = content_dir / "instruments" / "stable-2007.yaml"
    edit(stable, "      Score 0 when he has people he feels close to;",
         "      Score 0 only when he has people he feels close to;")
    before = InstrumentVersion.objects.count()
    with pytest.raises(services.ContentProblems) as exc:
        load(content_dir)
    assert "STABLE-5 changed: give the instrument a new version label" in str(
        exc.value.problems[0])
    edit(stable, 'version: "1.2"', 'version: "1.3"')
    with pytest.raises(services.ContentProblems) as exc:
        load(content_dir)
    assert "list them in coding_note_changes under recheck" in str(exc.value.problems[0])
    assert InstrumentVersion.objects.count() == before


def test_a_declared_note_change_loads_and_asks_for_recheck(content, content_dir):
    declare_stable_note_change(content_dir)
    report = load(content_dir)
    assert any("scored under an older coding note are to re-check" in c for c in report.changes)
    # The references moved to the new version unchanged: numbered on, no correction record.
    numbers = list(stable_refs().values_list("number", flat=True))
    assert numbers == [1, 2]
    assert not CorrectionDecision.objects.exists()


def test_a_corrected_bundled_reference_is_recorded_like_an_organisations(content, content_dir,
                                                                          trainee):
    api = api_for(trainee)
    attempt = api.post("/api/v1/attempts/", {"vignette": CASE, "instrument": "stable-2007"},
                       format="json").json()
    assert rating_put(api, attempt["id"], reference_body(CASE, "stable-2007")).status_code == 200
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    old = stable_refs().last()

    path = content_dir / "vignettes" / f"{CASE}.md"
    edit(path, "STABLE-13: {value: 1,", "STABLE-13: {value: 2,")
    edit(path, "    total: 17\n    band: high\n", "    total: 18\n    band: high\n")
    with pytest.raises(services.ContentProblems) as exc:
        load(content_dir)
    assert "references.stable-2007.correction: the reference changes STABLE-13" in str(
        exc.value.problems[0])
    assert stable_refs().count() == 1

    edit(path, "      items: [STABLE-12]\n      re_evaluate: true\n",
         "      items: [STABLE-13]\n      re_evaluate: false\n")
    edit(path, "STABLE-12 corrected from 1 to 0", "STABLE-13 corrected from 1 to 2")
    report = load(content_dir)
    new = stable_refs().last()
    assert new.number == old.number + 1
    decision = CorrectionDecision.objects.get(old_reference=old, new_reference=new)
    assert decision.decided_by is None and decision.re_evaluate is False
    assert "STABLE-13 corrected from 1 to 2" in decision.note
    assert decision.at == NOW
    assert any("correction of stable-2007 reference" in c for c in report.changes)

    # The past rating keeps its reference; its feedback says a correction was made.
    feedback = api.get(f"/api/v1/attempts/{attempt['id']}/feedback/").json()[0]
    assert feedback["reference_number"] == old.number
    assert all(i["match"] for i in feedback["items"])
    page = browser_for(trainee).get(f"/attempts/{attempt['id']}/feedback/").content.decode()
    assert "correction-note" in page and "STABLE-13 corrected from 1 to 2" in page
    assert "Your result stays compared with the original reference." in page


def test_check_names_an_undeclared_note_change_before_anything_is_written(content, content_dir):
    edit(content_dir / "instruments" / "cport.yaml", "Exactly\n      35 scores 1; 36 scores 0.",
         "Exactly\n      35 scores 1; 36 and older score 0.")
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("load_content", "--check", "--path", str(content_dir), stderr=err,
                     stdout=StringIO())
    assert ("instruments/cport.yaml: coding_note_changes: the coding notes of CPORT-1 changed"
            in err.getvalue())


def test_content_report_lists_references_to_recheck(content_dir):
    edit(content_dir / "instruments" / "cport.yaml", 'version: "1.1"', 'version: "1.2"')
    edit(content_dir / "instruments" / "cport.yaml", "items:\n  - code: CPORT-1", """  - version: "1.2"
    date: 2027-02-01
    recheck: [CPORT-6]
    reworded: []
items:
  - code: CPORT-1""")
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("content_report", "--path", str(content_dir), stdout=out, stderr=StringIO())
    assert "reference(s) to re-check" in str(exc.value)
    assert f"  - {CASE} cport: CPORT-6 changed in version 1.2; reference checked under 1.1" in (
        out.getvalue())
