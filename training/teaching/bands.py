"""Band agreement and decision consistency, only for instruments with published bands.

One shape for the cohort dashboard, its API and CSV, and certification decisions: either
``{"applicable": False, "reason": ...}`` or the shares of
:func:`training.reliability.decision_consistency`, each with its interval and n."""

from __future__ import annotations

from django.utils.translation import gettext as _

from training.reliability import Estimate, decision_consistency
from training.teaching.data import CohortData


def no_bands_reason(instrument) -> str:
    return _("Not applicable: %(i)s has no published risk bands.") % {
        "i": instrument.short_name}


def _share(est: Estimate) -> dict:
    return {"name": est.name, "value": est.value, "ci95": list(est.ci95) if est.ci95 else None,
            "n": est.n_units, "undefined_reason": est.undefined_reason}


def consistency_payload(trainee_totals, reference_totals, bands, instrument) -> dict:
    """Decision consistency of aligned totals on the instrument's published `bands`
    ((code, min, max); none: not applicable)."""
    if not bands:
        return {"applicable": False, "reason": no_bands_reason(instrument)}
    dc = decision_consistency(trainee_totals, reference_totals, bands)
    return {
        "applicable": True, "reason": "", "near": dc.near,
        "band_agreement": _share(dc.band_agreement),
        "disagreements_changing_band": _share(dc.disagreements_changing_band),
        "boundaries": [
            {"lower": b.lower, "upper": b.upper, "cut": b.cut, "crossed": _share(b.crossed),
             "from_below": _share(b.from_below), "from_above": _share(b.from_above)}
            for b in dc.boundaries
        ],
    }


def cohort_band_consistency(data: CohortData) -> dict:
    """On each trainee's first rating per vignette, where trainee and reference both judged the
    instrument applicable (what judges a cohort never counts repeats)."""
    sel = data.first & data.both
    return consistency_payload(data.total[sel], data.ref_total[sel], data.bands,
                               data.instrument)


def published_bands(instrument) -> list[tuple[str, int, int]]:
    return [(b.code, b.min_total, b.max_total) for b in instrument.published_bands]


def consistency_csv_rows(payload: dict) -> list[list]:
    """Rows of the statistics CSV (section, name, statistic, value, ci_low, ci_high, n)."""
    if not payload["applicable"]:
        return [["bands", "", "band_agreement", "not applicable", "", "", 0],
                ["bands", "", "decision_consistency", "not applicable", "", "", 0]]

    def row(name, statistic, share):
        ci = share["ci95"] or ("", "")
        return ["bands", name, statistic, share["value"], ci[0], ci[1], share["n"]]

    rows = [row("", "band_agreement", payload["band_agreement"]),
            row("", "disagreements_changing_band", payload["disagreements_changing_band"])]
    for b in payload["boundaries"]:
        name = f"{b['lower']}/{b['upper']}@{b['cut']}"
        rows += [row(name, "boundary_crossed", b["crossed"]),
                 row(name, "boundary_crossed_from_below", b["from_below"]),
                 row(name, "boundary_crossed_from_above", b["from_above"])]
    return rows
