"""The worked examples in the docstrings are part of the documentation: they must be right."""

import doctest
import importlib

import pytest

MODULES = ["bands", "csvio", "gtheory", "icc", "kappa", "krippendorff", "reference", "report",
           "severity", "specific", "timeseries"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"training.reliability.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
