"""Calibrate's reliability engine: agreement statistics on plain arrays, never Django.

Input everywhere is a units x raters array-like (NaN or None = missing) and, optionally, the
declared categories; output is a frozen :class:`Estimate`. See docs/statistics.md.

The names below are imported on first use (PEP 562), so that ``python -m training.reliability``
and ``from training.reliability.krippendorff import ...`` load only the kernels they need (SciPy's
``stats``, ``linalg`` and ``optimize`` are slow to import and most runs never touch them).
"""

from __future__ import annotations

import importlib
from typing import Any

# Eager: the function icc shares its name with the module icc, and importing the module would
# otherwise leave the module where `from training.reliability import icc` expects the function.
from .icc import FORM_NAMES, icc, icc_all

_WHERE: dict[str, str] = {
    **dict.fromkeys((
        "BoundaryConsistency", "DecisionConsistency", "decision_consistency"
    ), "bands"),
    **dict.fromkeys((
        "RatingsFile", "RatingsFileError", "RatingsMatrix", "read_ratings_csv"
    ), "csvio"),
    **dict.fromkeys((
        "DecisionDependability", "DStudy", "VarianceComponents", "d_study",
        "decision_dependability", "g_coefficient", "g_study", "phi_coefficient", "phi_lambda",
        "variance_components_anova", "variance_components_reml"
    ), "gtheory"),
    **dict.fromkeys((
        "FleissKappa", "brennan_prediger", "cohen_kappa", "conger_kappa", "fleiss_kappa",
        "gwet_ac1", "gwet_ac2", "light_kappa", "percent_agreement", "scott_pi"
    ), "kappa"),
    **dict.fromkeys((
        "LEVELS", "krippendorff_alpha", "krippendorff_alpha_levels"
    ), "krippendorff"),
    **dict.fromkeys((
        "BlandAltman", "IccPoolCheck", "applicability_agreement", "bland_altman",
        "clustered_share_interval", "exact_agreement", "icc_pool_check",
        "mean_signed_deviation", "reference_report", "tolerance_agreement"
    ), "reference"),
    **dict.fromkeys(("STATISTICS", "item_report",), "report"),
    **dict.fromkeys(("Estimate",), "result"),
    **dict.fromkeys(("positive_negative_agreement", "specific_agreement",), "specific"),
    **dict.fromkeys((
        "Cusum", "WindowEstimate", "calendar_windows", "cusum", "rolling_windows"
    ), "timeseries"),
}

__all__ = [
    "FORM_NAMES", "LEVELS", "STATISTICS", "BlandAltman", "BoundaryConsistency", "Cusum",
    "DecisionConsistency", "DecisionDependability", "DStudy", "Estimate", "FleissKappa",
    "IccPoolCheck", "RatingsFile", "RatingsFileError", "RatingsMatrix", "VarianceComponents",
    "WindowEstimate", "applicability_agreement", "bland_altman", "brennan_prediger",
    "calendar_windows", "clustered_share_interval", "cohen_kappa", "conger_kappa", "cusum",
    "d_study", "decision_consistency", "decision_dependability", "exact_agreement",
    "fleiss_kappa", "g_coefficient", "g_study", "gwet_ac1", "gwet_ac2", "icc", "icc_all",
    "icc_pool_check",
    "item_report", "krippendorff_alpha", "krippendorff_alpha_levels", "light_kappa",
    "mean_signed_deviation", "percent_agreement", "phi_coefficient", "phi_lambda",
    "positive_negative_agreement", "read_ratings_csv", "reference_report", "rolling_windows",
    "scott_pi", "specific_agreement",
    "tolerance_agreement", "variance_components_anova", "variance_components_reml",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
