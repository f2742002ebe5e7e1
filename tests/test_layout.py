"""Shared test steps live in conftest.py, factories.py and helpers.py modules: a test module
never imports another test module (which would run its fixtures' autouse and couple them)."""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


def test_no_test_module_imports_another():
    offenders = [
        f"{path.relative_to(TESTS)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imported_modules(ast.parse(path.read_text()))
        if module.startswith("tests.") and module.rsplit(".", 1)[-1].startswith("test_")
    ]
    assert offenders == []
