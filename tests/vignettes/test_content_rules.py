"""Rules across files: references to re-check after a coding note changes, who counts as a
child victim, validity caveats (pure: no database)."""

import shutil
from pathlib import Path

import pytest

from tests.vignettes.helpers import declare_stable_note_change, edit
from vignettes import content_files, content_rules

CONTENT = Path(__file__).resolve().parents[2] / "vignettes" / "content"
CSEM = "frank-d-013"
SEXTORTION = "nathan-c-029"
ADULT_SEXTORTION = "cosmo-n-103"


@pytest.fixture
def content_dir(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT / "instruments", root / "instruments")
    (root / "vignettes").mkdir()
    (root / "sets").mkdir()
    for slug in (CSEM, SEXTORTION, ADULT_SEXTORTION):
        shutil.copy(CONTENT / "vignettes" / f"{slug}.md", root / "vignettes" / f"{slug}.md")
    shutil.copy(CONTENT / "explicit-terms.txt", root / "explicit-terms.txt")
    return root


def read(root):
    return content_files.read_content_dir(root)


def rechecks(root):
    bundle = read(root)
    assert [str(p) for p in bundle.problems] == []
    return content_rules.references_to_recheck(bundle.vignettes.values(), bundle.instruments)


@pytest.mark.parametrize(("a", "b"), [("1", "1.1"), ("1.1", "1.2"), ("1.2", "1.10"),
                                      ("1.10", "2")])
def test_version_labels_compare_as_numbers(a, b):
    assert content_rules.version_key(a) < content_rules.version_key(b)


def test_the_bundled_library_has_nothing_left_to_recheck():
    bundle = read(CONTENT)
    assert content_rules.references_to_recheck(bundle.vignettes.values(),
                                               bundle.instruments) == []


def test_a_changed_note_lists_every_reference_agreed_before_it(content_dir):
    assert rechecks(content_dir) == []
    declare_stable_note_change(content_dir)
    found = rechecks(content_dir)
    assert {(r.vignette, r.instrument, r.items) for r in found} == {
        (CSEM, "stable-2007", ("STABLE-5",)),
        (SEXTORTION, "stable-2007", ("STABLE-5",)),
        (ADULT_SEXTORTION, "stable-2007", ("STABLE-5",)),
    }
    assert "STABLE-5 changed in version 1.3" in str(found[0])
    # Confirming one under the new version takes it off the list.
    edit(content_dir / "vignettes" / f"{CSEM}.md", 'checked_under: "1.2"\n    applicable: true\n    items:\n      STABLE-1',
         'checked_under: "1.3"\n    applicable: true\n    items:\n      STABLE-1')
    assert {r.vignette for r in rechecks(content_dir)} == {SEXTORTION, ADULT_SEXTORTION}


def test_a_reworded_note_lists_nothing(content_dir):
    stable = content_dir / "instruments" / "stable-2007.yaml"
    edit(stable, 'version: "1.2"', 'version: "1.3"')
    edit(stable, "items:\n  - code: STABLE-1", """  - version: "1.3"
    date: 2027-01-10
    recheck: []
    reworded: [STABLE-5]
items:
  - code: STABLE-1""")
    assert rechecks(content_dir) == []


def test_checked_under_a_version_that_does_not_exist_yet_is_refused(content_dir):
    edit(content_dir / "vignettes" / f"{CSEM}.md", 'checked_under: "1.2"', 'checked_under: "1.9"')
    assert any("checked_under: '1.9' is later than the instrument's version '1.2'" in str(p)
               for p in read(content_dir).problems)


def test_note_changes_name_real_items_oldest_first(content_dir):
    stable = content_dir / "instruments" / "stable-2007.yaml"
    edit(stable, "recheck: [STABLE-3]", "recheck: [STABLE-99]")
    found = [str(p) for p in read(content_dir).problems]
    assert any("'STABLE-99' is not an item of this instrument" in p for p in found), found


def test_undeclared_note_change_is_named():
    data = {"version": "1.3", "items": [{"code": "X-1", "coding_notes": "New words."}],
            "coding_note_changes": []}
    problems = content_rules.undeclared_note_changes(
        previous_notes={"X-1": "Old words."}, previous_label="1.2", data=data)
    assert problems and "X-1" in problems[0] and "recheck" in problems[0]
    same_label = content_rules.undeclared_note_changes(
        previous_notes={"X-1": "Old words."}, previous_label="1.3", data=data)
    assert "new version label" in same_label[0]
    data["coding_note_changes"] = [{"version": "1.3", "date": __import__("datetime").date(
        2027, 1, 1), "recheck": ["X-1"]}]
    assert content_rules.undeclared_note_changes(
        previous_notes={"X-1": "Old words."}, previous_label="1.2", data=data) == []


# --- child victims ---------------------------------------------------------------------------


def test_sextortion_of_a_minor_must_score_stable3(content_dir):
    path = content_dir / "vignettes" / f"{SEXTORTION}.md"
    text = path.read_text()
    start = text.index("STABLE-3: {value: ") + len("STABLE-3: {value: ")
    path.write_text(text[:start] + "null" + text[start + 1:])
    found = [str(p) for p in read(content_dir).problems]
    assert any("STABLE-3: may not be omitted for case type sextortion" in p for p in found), found


def test_sextortion_of_adults_says_child_victim_false_and_omits_stable3(content_dir):
    path = content_dir / "vignettes" / f"{ADULT_SEXTORTION}.md"
    assert read(content_dir).problems == []
    edit(path, "child_victim: false\n", "")
    found = [str(p) for p in read(content_dir).problems]
    assert any("may not be omitted for case type sextortion" in p for p in found), found


def test_child_victim_false_requires_stable3_omitted(content_dir):
    path = content_dir / "vignettes" / f"{SEXTORTION}.md"
    edit(path, "case_types: [sextortion]\n", "case_types: [sextortion]\nchild_victim: false\n")
    found = [str(p) for p in read(content_dir).problems]
    assert any("STABLE-3: must be omitted: child_victim is false" in p for p in found), found


def test_child_victim_false_cannot_override_a_csem_conviction(content_dir):
    path = content_dir / "vignettes" / f"{CSEM}.md"
    edit(path, "case_types: [csem-contact-conviction]\n",
         "case_types: [csem-contact-conviction]\nchild_victim: false\n")
    found = [str(p) for p in read(content_dir).problems]
    assert any("child_victim: case type csem-contact-conviction always has a child victim" in p
               for p in found), found


def test_child_victim_must_be_true_or_false(content_dir):
    path = content_dir / "vignettes" / f"{CSEM}.md"
    edit(path, "case_types: [csem-contact-conviction]\n",
         "case_types: [csem-contact-conviction]\nchild_victim: maybe\n")
    assert any("child_victim: must be true or false" in str(p)
               for p in read(content_dir).problems)


# --- validity caveats ------------------------------------------------------------------------


@pytest.mark.parametrize(("case_types", "expected"), [
    (["ncii-adult"], 1), (["sextortion", "ncii-adult"], 1), (["luring-real-child"], 1),
    (["luring-decoy"], 1), (["contact-only"], 0), (["luring-real-child", "contact-only"], 0),
    (["csem-exclusive", "sextortion"], 0), ([], 0),
])
def test_static99r_caveat_only_where_every_case_type_is_non_contact(case_types, expected):
    data = read(CONTENT).instruments["static-99r"].data
    found = content_rules.validity_caveats(data["validity_caveats"], case_types)
    assert len(found) == expected
    if found:
        assert "ATSA" in found[0]["source"]


def test_a_caveat_without_a_source_is_refused(content_dir):
    edit(content_dir / "instruments" / "static-99r.yaml", "    source: >-\n      Association",
         "    note: >-\n      Association")
    assert any("validity_caveats[1].source: is missing" in str(p)
               for p in read(content_dir).problems)
