"""Every kind of content problem gets one line naming file, field and what is wrong."""

import re
import shutil
from pathlib import Path

import pytest

from vignettes import content_files

CONTENT = Path(__file__).resolve().parents[2] / "vignettes" / "content"
SAMPLE = "daniel-r-009"


@pytest.fixture
def content_dir(tmp_path):
    """A copy of the bundled instruments and one vignette, to break in each test."""
    root = tmp_path / "content"
    shutil.copytree(CONTENT / "instruments", root / "instruments")
    (root / "vignettes").mkdir()
    (root / "sets").mkdir()
    shutil.copy(CONTENT / "vignettes" / f"{SAMPLE}.md", root / "vignettes" / f"{SAMPLE}.md")
    shutil.copy(CONTENT / "explicit-terms.txt", root / "explicit-terms.txt")
    return root


def vignette_path(root, slug=SAMPLE):
    return root / "vignettes" / f"{slug}.md"


def edit(path: Path, old: str, new: str, count=1):
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, count))


def problems(root):
    return [str(p) for p in content_files.read_content_dir(root).problems]


def only_problem(root):
    found = problems(root)
    assert len(found) == 1, found
    return found[0]


def test_bundled_content_has_no_problems():
    bundle = content_files.read_content_dir(CONTENT)
    assert [str(p) for p in bundle.problems] == []
    assert set(bundle.instruments) == {"cport", "static-99r", "stable-2007"}
    assert len(bundle.vignettes) >= 6


def test_sample_copy_is_clean(content_dir):
    assert problems(content_dir) == []


def test_malformed_front_matter_yaml(content_dir):
    edit(vignette_path(content_dir), "pool: practice", "pool: [practice")
    line = only_problem(content_dir)
    assert line.startswith(f"vignettes/{SAMPLE}.md: front matter: malformed YAML at line")


def test_missing_front_matter(content_dir):
    path = vignette_path(content_dir)
    path.write_text(path.read_text().split("\n---\n", 1)[1])
    assert "front matter: the file must start with YAML front matter" in only_problem(content_dir)


def test_malformed_instrument_yaml(content_dir):
    path = content_dir / "instruments" / "cport.yaml"
    path.write_text(path.read_text().replace("slug: cport", "slug: [cport", 1))
    found = problems(content_dir)
    assert found[0].startswith("instruments/cport.yaml: -: malformed YAML at line 3")
    # The vignette's CPORT reference then names an unknown instrument: reported, not crashed.
    assert any("references.cport: unknown instrument 'cport'" in p for p in found)


def test_unknown_instrument(content_dir):
    edit(vignette_path(content_dir), "  cport:\n", "  cport-x:\n")
    found = problems(content_dir)
    assert f"vignettes/{SAMPLE}.md: references.cport-x: unknown instrument 'cport-x'" in found
    assert any("references.cport: is missing" in p for p in found)


def test_unknown_item(content_dir):
    edit(vignette_path(content_dir), "CPORT-7:", "CPORT-8:")
    found = problems(content_dir)
    assert any(
        "references.cport.items.CPORT-8: CPORT-8 is not an item of cport" in p for p in found
    )
    assert any("references.cport.items.CPORT-7: CPORT-7 is not scored" in p for p in found)


def test_disallowed_value(content_dir):
    path = vignette_path(content_dir)
    text = re.sub(r"(CPORT-2:\s*\{?\s*value:\s*)\d", r"\g<1>2", path.read_text(), count=1)
    path.write_text(text)
    found = problems(content_dir)
    assert any(
        "references.cport.items.CPORT-2: CPORT-2: 2 is not an allowed value (allowed: 0, 1)" in p
        for p in found
    ), found


def test_missing_rationale(content_dir):
    path = vignette_path(content_dir)
    text = re.sub(
        r"(STABLE-4:\s*\n?\s*\{?\s*value:\s*\d,?\s*\n?\s*rationale:\s*)(\".*?\"|.+)",
        r'\g<1>""',
        path.read_text(),
        count=1,
    )
    path.write_text(text)
    assert only_problem(content_dir).endswith(
        "references.stable-2007.items.STABLE-4.rationale: is missing"
    )


def test_missing_section(content_dir):
    edit(vignette_path(content_dir), "## Substance use and mental health", "## Substance use")
    found = problems(content_dir)
    assert f"vignettes/{SAMPLE}.md: body: missing section(s): Substance use and mental health" in (
        found
    )
    assert f"vignettes/{SAMPLE}.md: body: unexpected section(s): Substance use" in found


def test_sections_out_of_order(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    text = text.replace("## Index offence", "## TMP").replace(
        "## Sources reviewed", "## Index offence"
    ).replace("## TMP", "## Sources reviewed")
    path.write_text(text)
    assert only_problem(content_dir).endswith(
        "body: sections are not in the order of CONTENT.md"
    )


def test_stated_total_contradicted_by_scoring_function(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    block = text[text.index("  cport:"):text.index("  static-99r:")]
    stated = int(re.search(r"total:\s*(-?\d+)", block).group(1))
    text = text.replace(block, block.replace(f"total: {stated}", f"total: {stated + 1}"))
    path.write_text(text)
    assert only_problem(content_dir).endswith(
        f"references.cport.total: says {stated + 1} but the items add up to {stated}"
    )


def test_stated_band_contradicted(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    block = text[text.index("  stable-2007:"):]
    band = re.search(r"band:\s*(\w+)", block).group(1)
    wrong = "high" if band != "high" else "low"
    text = text.replace(block, block.replace(f"band: {band}", f"band: {wrong}", 1))
    path.write_text(text)
    assert f"references.stable-2007.band: says '{wrong}'" in only_problem(content_dir)


def test_a_band_for_an_instrument_without_bands_is_refused(content_dir):
    path = vignette_path(content_dir)
    edit(path, "    total: ", "    band: middle\n    total: ")
    assert only_problem(content_dir).endswith(
        "references.cport.band: CPORT has no bands; remove the band line")


def test_an_instrument_may_have_no_bands_but_not_a_malformed_list(content_dir):
    cport = content_dir / "instruments" / "cport.yaml"
    assert "\nbands:" not in cport.read_text()
    assert problems(content_dir) == []
    cport.write_text(cport.read_text() + "bands: lower\n")
    assert "cport.yaml: bands: must be a list" in problems(content_dir)[0]


def test_applicability_contradicting_the_rule(content_dir):
    # A CSEM-exclusive case: CPORT applies under its rule, so 'not applicable' is wrong.
    path = vignette_path(content_dir)
    text = path.read_text()
    start, end = text.index("  cport:"), text.index("  static-99r:")
    text = text[:start] + "  cport:\n    applicable: false\n    reason: Testing. Two sentences.\n" + text[end:]
    path.write_text(text)
    assert "references.cport.applicable: CPORT applies to case type csem-exclusive" in (
        only_problem(content_dir)
    )


def test_static99r_applicable_to_csem_only_case_is_rejected(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    start, end = text.index("  static-99r:"), text.index("  stable-2007:")
    items = "".join(
        f"      S99R-{i}: {{value: 0, rationale: Testing. Two sentences.}}\n" for i in range(1, 11)
    )
    text = text[:start] + f"  static-99r:\n    applicable: true\n    items:\n{items}" + text[end:]
    path.write_text(text)
    assert "references.static-99r.applicable: Static-99R does not apply to case type" in (
        only_problem(content_dir)
    )


def test_omission_not_allowed_for_child_victim_case(content_dir):
    path = vignette_path(content_dir)
    text = re.sub(r"(STABLE-3:\s*\n?\s*\{?\s*value:\s*)\d", r"\g<1>null", path.read_text(), count=1)
    path.write_text(text)
    found = problems(content_dir)
    assert any(
        "references.stable-2007.items.STABLE-3: may not be omitted for case type csem-exclusive"
        in p
        for p in found
    ), found


def test_word_count_bounds(content_dir):
    path = vignette_path(content_dir)
    path.write_text(path.read_text() + "\n" + "Further padding text. " * 700)
    assert re.search(r"body: has \d+ words; a case file has 400 to 2000$", only_problem(content_dir))


def test_explicit_term_is_rejected(content_dir):
    edit(vignette_path(content_dir), "## Current situation\n", "## Current situation\n\nNude.\n")
    assert only_problem(content_dir).endswith("body: uses the term 'nude' from the explicit-terms list")


def test_name_must_be_first_name_and_initial(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    title = re.search(r"^title: (.*)$", text, re.M).group(1)
    path.write_text(text.replace(f"title: {title}", 'title: "Mr Daniel Roberts, possession"'))
    found = [str(p) for p in problems(content_dir)]
    assert any("title: must name the person by an invented first name and initial" in p
               for p in found), found


def test_hard_case_needs_what_makes_it_hard(content_dir):
    path = vignette_path(content_dir)
    text = re.sub(r"^difficulty: \w+", "difficulty: hard", path.read_text(), flags=re.M)
    text = re.sub(r"^hard_because:.*$", 'hard_because: ""', text, flags=re.M)
    path.write_text(text)
    assert only_problem(content_dir).endswith("hard_because: is missing")


def test_slug_must_match_file_name(content_dir):
    path = vignette_path(content_dir)
    path.rename(content_dir / "vignettes" / "someone-else.md")
    assert "slug: 'daniel-r-009' must match the file name (someone-else.md)" in (
        only_problem(content_dir)
    )


def test_shared_paragraph_between_two_vignettes(content_dir):
    source = CONTENT / "vignettes" / "gordon-h-017.md"
    shutil.copy(source, vignette_path(content_dir, "gordon-h-017"))
    assert problems(content_dir) == []
    daniel = vignette_path(content_dir).read_text()
    shared = content_files.paragraphs(daniel.split("## Current situation", 1)[1])[0]
    edit(
        vignette_path(content_dir, "gordon-h-017"),
        "## Current situation\n",
        f"## Current situation\n\n{shared}\n\n",
    )
    assert "body: shares a paragraph with daniel-r-009" in only_problem(content_dir)


def test_exam_vignette_in_practice_set(content_dir):
    exam = next(
        p for p in sorted((CONTENT / "vignettes").glob("*.md")) if "\npool: exam" in p.read_text()
    )
    shutil.copy(exam, content_dir / "vignettes" / exam.name)
    (content_dir / "sets" / "practice.yaml").write_text(
        f"slug: cport-practice\ntitle: CPORT practice\nkind: practice\ninstrument: cport\n"
        f"vignettes: [{SAMPLE}, {exam.stem}]\n"
    )
    assert only_problem(content_dir) == (
        f"sets/practice.yaml: vignettes: {exam.stem} is a exam vignette; a practice set holds "
        "only practice vignettes"
    )


def test_unknown_vignette_in_set(content_dir):
    (content_dir / "sets" / "x.yaml").write_text(
        "slug: x\ntitle: X\nkind: practice\nvignettes: [nobody-x-nothing]\n"
    )
    assert only_problem(content_dir) == "sets/x.yaml: vignettes: unknown vignette 'nobody-x-nothing'"


def test_unknown_front_matter_field_and_bad_pool(content_dir):
    edit(vignette_path(content_dir), "pool: practice", "pool: quiz\ncolour: blue")
    assert set(problems(content_dir)) == {
        f"vignettes/{SAMPLE}.md: pool: must be one of practice, exam, recalibration",
        f"vignettes/{SAMPLE}.md: colour: is not a vignette field",
    }


def test_whitespace_only_edits_keep_the_hash(content_dir):
    path = vignette_path(content_dir)
    before = content_files.read_content_dir(content_dir).vignettes[SAMPLE]
    path.write_text(path.read_text().replace(". ", ".  \n", 5))
    after = content_files.read_content_dir(content_dir).vignettes[SAMPLE]
    assert before.revision_hash == after.revision_hash


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("Scored 1: he was 31 (e.g. at the search). Not at sentencing.", 2),
        ("Daniel R. was 31. The item uses age at investigation, i.e. 2021.", 2),
        ("One. Two. Three. Four. Five.", 5),
        ("Scored 0: 2.5 years of cohabitation", 1),
    ],
)
def test_count_sentences(text, count):
    assert content_files.count_sentences(text) == count


def test_no_instrument_is_scored_for_a_woman_or_a_person_under_18(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    path.write_text(text.replace("pool: ", "person: woman\npool: ", 1))
    found = [str(p) for p in problems(content_dir)]
    assert any("is scored only for adult men; this case is about a woman" in p for p in found)
    path.write_text(text.replace("pool: ", "person: teenager\npool: ", 1))
    assert "person: must be one of man, woman, under-18" in " ".join(
        str(p) for p in problems(content_dir))


def test_the_missing_information_rule_is_checked(content_dir):
    path = content_dir / "instruments" / "stable-2007.yaml"
    text = path.read_text()
    path.write_text(text.replace("  max_omitted: 1\n  total: not_computable",
                                 "  max_omitted: 5\n  total: prorated", 1)
                    .replace("[STABLE-1, STABLE-2,", "[STABLE-3, STABLE-99, STABLE-2,", 1))
    found = " ".join(str(p) for p in problems(content_dir))
    assert "missing_information.items: 'STABLE-99' is not an item" in found
    assert "STABLE-3 is already omissible by its own rule" in found
    assert "missing_information.total: must be one of without_item, not_computable" in found


def test_a_bundled_rationale_teaches_in_two_sentences(content_dir):
    path = vignette_path(content_dir)
    text = path.read_text()
    start = text.index('rationale: "', text.index("CPORT-1")) + len('rationale: "')
    end = text.index('"}', start)
    path.write_text(text[:start] + "Scored from the file." + text[end:])
    assert "a bundled rationale teaches in two sentences or more" in " ".join(
        str(p) for p in problems(content_dir))
