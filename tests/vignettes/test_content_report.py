import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

CONTENT = Path(__file__).resolve().parents[2] / "vignettes" / "content"


def report(*args):
    out, err = StringIO(), StringIO()
    call_command("content_report", *args, stdout=out, stderr=err)
    return out.getvalue()


def test_bundled_library_has_no_gaps():
    out = report()
    assert "No gaps" in out
    assert "static-99r   S99R-1          -3" in out


def test_gap_is_flagged_with_non_zero_exit(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    # Remove every practice vignette where Static-99R's age item is -3 but one.
    removed = 0
    for path in sorted((root / "vignettes").glob("*.md")):
        text = path.read_text()
        if "\npool: practice" in text and "S99R-1: {value: -3" in text:
            removed += 1
            if removed > 1:
                path.unlink()
                for set_file in (root / "sets").glob("*.yaml"):
                    set_file.write_text(set_file.read_text().replace(f"  - {path.stem}\n", ""))
    assert removed >= 3
    out = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("content_report", "--path", str(root), stdout=out, stderr=StringIO())
    assert exc.value.returncode == 1
    assert "static-99r S99R-1 = -3: 1 practice vignette(s)" in out.getvalue()


def test_content_problem_fails_the_report(tmp_path):
    root = tmp_path / "content"
    shutil.copytree(CONTENT, root)
    path = root / "vignettes" / "daniel-r-009.md"
    path.write_text(path.read_text().replace("## Index offence", "## The offence"))
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("content_report", "--path", str(root), stdout=StringIO(), stderr=err)
    assert "daniel-r-009.md: body: missing section(s): Index offence" in err.getvalue()
