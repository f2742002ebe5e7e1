"""The flat, named set of statistics for one item (or one total): what ``manage.py irr`` and
the calibration dashboards show for "do our raters agree among themselves?"."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ._matrix import as_ratings, count_table, weight_matrix
from .result import Estimate

# The kernels are imported inside item_report, each only when a statistic asks for it, so that
# `irr --statistic krippendorff_alpha_nominal` does not load what it does not compute.

STATISTICS: tuple[str, ...] = (
    "icc_1_1", "icc_2_1", "icc_3_1", "icc_1_k", "icc_2_k", "icc_3_k",
    "fleiss_kappa", "cohen_kappa", "cohen_kappa_linear", "cohen_kappa_quadratic", "scott_pi",
    "krippendorff_alpha_nominal", "krippendorff_alpha_ordinal", "krippendorff_alpha_interval",
    "krippendorff_alpha_ratio", "gwet_ac1", "gwet_ac2_linear", "gwet_ac2_quadratic",
    "brennan_prediger", "percent_agreement", "specific_agreement",
)
TWO_RATER_STATISTICS = frozenset(
    {"cohen_kappa", "cohen_kappa_linear", "cohen_kappa_quadratic", "scott_pi"})
_KAPPA_FAMILY = frozenset({
    "fleiss_kappa", "cohen_kappa", "cohen_kappa_linear", "cohen_kappa_quadratic", "scott_pi",
    "gwet_ac1", "gwet_ac2_linear", "gwet_ac2_quadratic", "brennan_prediger",
    "percent_agreement"})


def item_report(
    matrix: object,
    categories: Sequence[float] | None = None,
    statistics: Iterable[str] | None = None,
) -> dict[str, Estimate]:
    """Every statistic of :data:`STATISTICS` for one units x raters matrix, keyed by name.

    The count table and the ICC ANOVA are built once and shared. Two-rater statistics
    (Cohen's kappas, Scott's pi) are only included when the matrix has exactly two raters.
    ``specific_agreement`` comes out as one entry per category, ``specific_agreement_<value>``
    (on a 0/1 item ``specific_agreement_1`` is positive, ``specific_agreement_0`` negative
    agreement). ``statistics`` restricts the output to the names given (unknown names raise ValueError).

    Example::

        >>> r = item_report([[0, 0], [1, 1], [2, 2], [1, 2]], categories=[0, 1, 2])
        >>> round(r["cohen_kappa"].value, 3), round(r["percent_agreement"].value, 2)
        (0.636, 0.75)
    """
    x = as_ratings(matrix)
    wanted = list(STATISTICS) if statistics is None else list(dict.fromkeys(statistics))
    unknown = [name for name in wanted if name not in STATISTICS]
    if unknown:
        raise ValueError(f"unknown statistic {unknown[0]!r}; known: {', '.join(STATISTICS)}")
    if x.shape[1] != 2:
        wanted = [name for name in wanted if name not in TWO_RATER_STATISTICS]
    want = set(wanted)
    table = count_table(x, categories)
    cats = table.categories
    n_raters = x.shape[1]
    out: dict[str, Estimate] = {}
    if want & {name for name in STATISTICS if name.startswith("icc_")}:
        from .icc import icc_all

        out.update(icc_all(x))
    if want & _KAPPA_FAMILY:
        from .kappa import (
            _chance_corrected,
            cohen_kappa,
            fleiss_from_table,
            percent_agreement_from_table,
            scott_pi,
        )
    if "fleiss_kappa" in want:
        out["fleiss_kappa"] = fleiss_from_table(table, n_raters)
    for suffix, weights in (("", None), ("_linear", "linear"), ("_quadratic", "quadratic")):
        if f"cohen_kappa{suffix}" in want:
            out[f"cohen_kappa{suffix}"] = cohen_kappa(x, weights, cats)
    if "scott_pi" in want:
        out["scott_pi"] = scott_pi(x, cats)
    levels = [lv for lv in ("nominal", "ordinal", "interval", "ratio")
              if f"krippendorff_alpha_{lv}" in want]
    if levels:
        from .krippendorff import alpha_from_table

        for level, est in alpha_from_table(table, levels).items():
            out[f"krippendorff_alpha_{level}"] = est
    q = cats.size
    if "gwet_ac1" in want:
        out["gwet_ac1"] = _chance_corrected(table, np.eye(q), "gwet", "Gwet's AC1", n_raters)
    for weights in ("linear", "quadratic"):
        if f"gwet_ac2_{weights}" in want:
            out[f"gwet_ac2_{weights}"] = _chance_corrected(
                table, weight_matrix(cats, weights), "gwet", f"Gwet's AC2 ({weights} weights)",
                n_raters)
    if "brennan_prediger" in want:
        out["brennan_prediger"] = _chance_corrected(table, np.eye(q), "bp", "Brennan-Prediger",
                                                    n_raters)
    if "percent_agreement" in want:
        out["percent_agreement"] = percent_agreement_from_table(table, n_raters)
    result: dict[str, Estimate] = {}
    if "specific_agreement" in want:
        from .specific import specific_agreement
    for name in wanted:
        if name == "specific_agreement":
            for value, est in specific_agreement(x, cats).items():
                result[f"specific_agreement_{value:g}"] = est
        else:
            result[name] = out[name]
    return result
