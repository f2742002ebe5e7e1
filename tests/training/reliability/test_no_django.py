"""training/reliability is pure Python + NumPy/SciPy: importing it must not import Django."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_package_never_imports_django():
    code = ("import sys, training.reliability; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] == 'django'); "
            "assert not bad, bad")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr
