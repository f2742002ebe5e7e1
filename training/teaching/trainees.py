"""Each trainee's agreement with the reference, trend and tendency, for the cohort dashboard and the trainee page."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext_lazy as _

from training.reliability import (
    Estimate,
    bland_altman,
    calendar_windows,
    mean_signed_deviation,
)
from training.reliability.result import undefined
from training.reliability.severity import (
    FEWER_VIGNETTES,
    FLAGGED,
    INCLUDES_MARGIN,
    MIN_VIGNETTES,
    NO_INTERVAL,
    NO_RATINGS,
    NOT_CONFIRMED,
    CohortSeverity,
    TraineeSeverity,
    cohort_severity,
    margin_for_tolerance,
)
from training.teaching.data import CohortData
from training.teaching.items import _label

# --- per trainee ---------------------------------------------------------------------------


@dataclass
class TraineeRow:
    user_id: int
    username: str
    ratings: int
    item_agreement: float | None
    within_one: float | None
    band_agreement: float | None  # None also where the instrument has no published bands
    applicability_agreement: float | None
    deviation: Estimate  # mean signed deviation over every submitted rating (descriptive)
    severity: TraineeSeverity  # the crossed model on first ratings: the one source of tendency
    tendency: str  # "severe" / "lenient" / "": severity.tendency
    recent_agreement: float | None  # last 8 weeks
    previous_agreement: float | None  # the 8 weeks before

    @property
    def tendency_note(self) -> str:
        return tendency_note(self.severity)


_NOTES = {
    FLAGGED: _("flagged: interval beyond the margin after false-discovery control"),
    FEWER_VIGNETTES.format(n=MIN_VIGNETTES): _("not flagged: fewer than 10 vignettes"),
    INCLUDES_MARGIN: _("not flagged: interval includes the margin"),
    NOT_CONFIRMED: _("not flagged: not confirmed after false-discovery control across the "
                     "cohort"),
    NO_RATINGS: _("no first rating with a total on both sides"),
    NO_INTERVAL: _("not flagged: a single rating gives no interval"),
}


def tendency_note(severity: TraineeSeverity) -> str:
    """Why a trainee is flagged or not, in the reader's language."""
    return str(_NOTES.get(severity.reason, severity.reason))


def _share(mask_hits: np.ndarray) -> float | None:
    mask_hits = mask_hits[~np.isnan(mask_hits)] if mask_hits.dtype.kind == "f" else mask_hits
    return float(np.mean(mask_hits)) if mask_hits.size else None


def cohort_tendency(data: CohortData) -> CohortSeverity:
    """Every trainee's severity or leniency: the crossed model of training.reliability.severity
    on first ratings where trainee and reference both judged the instrument applicable, with
    the margin half the organisation's total tolerance for the instrument (0.5 without a
    rule). The table, "at a glance", the trainee page, the API and the CSV all read this."""
    use = data.first & data.both & ~np.isnan(data.total) & ~np.isnan(data.ref_total)
    return cohort_severity(
        data.total[use] - data.ref_total[use],
        trainees=data.trainee[use],
        vignettes=data.revision[use],
        margin=margin_for_tolerance(data.total_tolerance),
        all_trainees=sorted(data.trainee_names),
    )


def trainee_rows(data: CohortData, *, now: dt.datetime,
                 tendency: CohortSeverity | None = None) -> list[TraineeRow]:
    tendency = tendency if tendency is not None else cohort_tendency(data)
    matches = data.matches()
    both = data.both
    times = np.array([t.timestamp() for t in data.submitted_at]) if data.n else np.zeros(0)
    recent_start = (now - dt.timedelta(weeks=8)).timestamp()
    previous_start = (now - dt.timedelta(weeks=16)).timestamp()
    # Group the ratings by trainee once (a stable sort keeps time order within a trainee).
    order = np.argsort(data.trainee, kind="stable")
    ids, starts = np.unique(data.trainee[order], return_index=True)
    groups = dict(zip(ids.tolist(), np.split(order, starts[1:]), strict=True)) if data.n else {}
    band_hit = np.array([b == r for b, r in zip(data.band, data.ref_band, strict=True)],
                        dtype=bool)
    # Only an instrument with published bands has band agreement (never CPORT's old groupings).
    has_bands = bool(data.bands)
    recent_mask = times >= recent_start
    previous_mask = (times >= previous_start) & ~recent_mask
    out = []
    empty = np.zeros(0, dtype=np.int64)
    for user_id, username in sorted(data.trainee_names.items(), key=lambda kv: kv[1]):
        mine = groups.get(user_id, empty)
        sel = mine[both[mine]]
        totals = data.total[sel]
        refs = data.ref_total[sel]
        ok = ~np.isnan(totals) & ~np.isnan(refs)
        deviation = mean_signed_deviation(totals[ok], refs[ok])
        severity = tendency.of(user_id)
        out.append(
            TraineeRow(
                user_id=user_id,
                username=username,
                ratings=int(mine.size),
                item_agreement=_nanmean(matches[sel]),
                within_one=float(np.mean(np.abs(totals[ok] - refs[ok]) <= 1)) if ok.any()
                else None,
                band_agreement=float(np.mean(band_hit[sel])) if sel.size and has_bands
                else None,
                applicability_agreement=float(np.mean(
                    data.applicable[mine] == data.ref_applicable[mine])) if mine.size else None,
                deviation=deviation,
                severity=severity,
                tendency=severity.tendency,
                recent_agreement=_nanmean(matches[sel[recent_mask[sel]]]),
                previous_agreement=_nanmean(matches[sel[previous_mask[sel]]]),
            )
        )
    return out


def _nanmean(values: np.ndarray) -> float | None:
    if values.size == 0 or np.isnan(values).all():
        return None
    return float(np.nanmean(values))


# --- one trainee ----------------------------------------------------------------------------


def trainee_detail(data: CohortData, user_id: int, *, tz: str = "UTC"):
    sel = (data.trainee == user_id) & data.both
    idx = np.nonzero(sel)[0]
    matches = data.matches()
    curve = calendar_windows(
        [data.submitted_at[i] for i in idx], idx,
        lambda sub: _agreement_estimate(matches[sub]), period="month", tz=tz,
        include_empty=False,
    ) if idx.size else []
    ok = idx[~np.isnan(data.total[idx]) & ~np.isnan(data.ref_total[idx])]
    ba = bland_altman(data.total[ok], data.ref_total[ok]) if ok.size >= 2 else None
    points = [
        ((data.total[i] + data.ref_total[i]) / 2, data.total[i] - data.ref_total[i]) for i in ok
    ]
    missed = []
    for j, code in enumerate(data.item_codes):
        hits = matches[idx, j]
        hits = hits[~np.isnan(hits)]
        if hits.size and hits.mean() < 1:
            wrong = Counter(
                _label(v) for v, r in zip(data.codes[idx, j], data.ref_codes[idx, j],
                                          strict=True) if v != r
            )
            missed.append((code, data.item_names[code], int((hits == 0).sum()), int(hits.size),
                           wrong.most_common(1)[0][0] if wrong else ""))
    missed.sort(key=lambda m: (-m[2] / m[3], m[0]))
    return {"curve": curve, "bland_altman": ba, "points": points, "missed": missed}


def _agreement_estimate(hits: np.ndarray) -> Estimate:
    hits = hits[~np.isnan(hits)]
    if hits.size == 0:
        return undefined("item agreement with the reference", "no scored items")
    return Estimate(name="item agreement with the reference", value=float(hits.mean()),
                    ci95=None, undefined_reason=None, n_units=int(hits.size), n_raters=2,
                    n_pairable=int(hits.size))
