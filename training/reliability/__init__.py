"""Calibrate's reliability engine: agreement statistics on plain arrays, never Django.

Input everywhere is a units x raters array-like (NaN or None = missing) and, optionally, the
declared categories; output is a frozen :class:`Estimate`. See docs/statistics.md.
"""

from .bands import BoundaryConsistency, DecisionConsistency, decision_consistency
from .csvio import RatingsFile, RatingsFileError, RatingsMatrix, read_ratings_csv
from .gtheory import (
    DecisionDependability,
    DStudy,
    VarianceComponents,
    d_study,
    decision_dependability,
    g_coefficient,
    g_study,
    phi_coefficient,
    phi_lambda,
    variance_components_anova,
    variance_components_reml,
)
from .icc import FORM_NAMES, icc, icc_all
from .kappa import (
    FleissKappa,
    brennan_prediger,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac2,
    light_kappa,
    percent_agreement,
    scott_pi,
)
from .krippendorff import LEVELS, krippendorff_alpha, krippendorff_alpha_levels
from .reference import (
    BlandAltman,
    IccPoolCheck,
    applicability_agreement,
    bland_altman,
    clustered_share_interval,
    exact_agreement,
    icc_pool_check,
    mean_signed_deviation,
    reference_report,
    tolerance_agreement,
)
from .report import STATISTICS, item_report
from .result import Estimate
from .specific import positive_negative_agreement, specific_agreement
from .timeseries import Cusum, WindowEstimate, calendar_windows, cusum, rolling_windows

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
