"""``python -m training.reliability``: irr without Django, as a whole process."""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

from django.core.management import call_command

REPO = Path(__file__).resolve().parents[3]
SF_CSV = REPO / "tests" / "data" / "shrout_fleiss_1979.csv"
ALPHAS = [arg for level in ("nominal", "ordinal", "interval", "ratio")
          for arg in ("--statistic", f"krippendorff_alpha_{level}")]


def _irr(*args):
    return subprocess.run([sys.executable, "-m", "training.reliability", *map(str, args)],
                          capture_output=True, text=True, cwd=REPO)


def _manage(*args):
    out = StringIO()
    call_command("irr", *map(str, args), stdout=out)
    return out.getvalue()


def test_the_entry_point_prints_what_manage_py_irr_prints(tmp_path):
    rows = ["unit,rater,item,value,reference_value,first_rating"] + [
        f"v{u},t{r},S{i},{(u * 3 + r + i) % 4},{u % 4},{'true' if u % 5 else 'false'}"
        for u in range(14) for r in range(5) for i in (1, 2)]
    export = tmp_path / "export.csv"
    export.write_text("\n".join(rows) + "\n")
    for args in ([SF_CSV], [SF_CSV, "--format", "table"], [SF_CSV, *ALPHAS],
                 [export], [export, "--format", "table", "--tolerance", "0"]):
        result = _irr(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout == _manage(*args)
    counts = json.loads(_irr(SF_CSV).stdout)
    assert (counts["units"], counts["ratings"], counts["sufficiency"]["pairable"]) == (6, 24, 24)


def test_a_bad_row_exits_2_naming_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("unit,rater,value\n" + "".join(f"u{i},a,1\n" for i in range(500))
                    + "u9,b,high\n")
    result = _irr(path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "irr: error: bad.csv, row 502, column 'value': 'high' is not a number\n"
    assert _irr(SF_CSV, "--statistic", "kappa").returncode == 2


def test_alpha_alone_loads_neither_django_nor_scipy_stats_nor_g_theory():
    code = ("import sys; from training.reliability.cli import main; "
            f"main([{str(SF_CSV)!r}, *{ALPHAS!r}]); "
            "loaded = [m for m in sys.modules if m.split('.')[0] == 'django' or m in "
            "('scipy.stats', 'scipy.optimize', 'scipy.linalg', 'training.reliability.gtheory',"
            " 'training.reliability.reference', 'pandas')]; "
            "assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr
