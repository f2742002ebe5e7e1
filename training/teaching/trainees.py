"""Each trainee's agreement with the reference, trend and tendency, for the cohort dashboard and the trainee page."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.utils.translation import gettext_lazy as _
from scipy import special

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


def _group_sums(group: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=size)


def _group_share(group: np.ndarray, hits: np.ndarray, counted: np.ndarray,
                 size: int) -> list[float | None]:
    """Per group: the mean of hits where counted (None where nothing is counted)."""
    n = np.bincount(group, weights=counted.astype(float), minlength=size)
    s = np.bincount(group, weights=np.where(counted, hits, 0.0), minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = s / n
    return [None if c == 0 else float(v) for c, v in zip(n.tolist(), share.tolist(),
                                                        strict=True)]


def _deviations(group: np.ndarray, d: np.ndarray, size: int) -> list[Estimate]:
    """mean_signed_deviation of each group's differences, for every group at once."""
    n = np.bincount(group, minlength=size)
    sums = _group_sums(group, d, size)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums / n
        centred = d - mean[group]
        sd = np.sqrt(_group_sums(group, centred * centred, size) / (n - 1))
        se = sd / np.sqrt(n)
        half = special.stdtrit(np.maximum(n - 1, 1), 0.975) * se
    out = []
    for k in range(size):
        if n[k] < 2:
            # none, or a single difference: the function itself says what it is
            out.append(mean_signed_deviation(d[group == k], np.zeros(int(n[k]))))
            continue
        m, s_, e, h = float(mean[k]), float(sd[k]), float(se[k]), float(half[k])
        out.append(Estimate(
            name="Mean signed deviation (trainee - reference)", value=m,
            ci95=(m - h, m + h), undefined_reason=None, extra={"sd": s_, "se": e},
            ci_method="t, n-1 df", n_units=int(n[k]), n_raters=2, n_pairable=int(n[k])))
    return out


def trainee_rows(data: CohortData, *, now: dt.datetime,
                 tendency: CohortSeverity | None = None) -> list[TraineeRow]:
    """Every trainee's row, computed for all trainees at once (grouped sums over the rating
    arrays, no loop over trainees but the one that builds the rows)."""
    tendency = tendency if tendency is not None else cohort_tendency(data)
    people = sorted(data.trainee_names.items(), key=lambda kv: kv[1])
    size = len(people)
    slot = {user_id: k for k, (user_id, _name) in enumerate(people)}
    # Ratings of users no longer in the cohort belong to no row.
    group = np.array([slot.get(u, -1) for u in data.trainee.tolist()], dtype=np.int64)
    mine = group >= 0
    both = data.both & mine
    times = data.submitted_s if data.n else np.zeros(0)
    recent = times >= (now - dt.timedelta(weeks=8)).timestamp()
    previous = (times >= (now - dt.timedelta(weeks=16)).timestamp()) & ~recent
    g_all, g_both = group[mine], group[both]
    ratings = np.bincount(g_all, minlength=size)
    # Per rating: the items the reference codes, and those the trainee matched (the sums of
    # data.matches() by row, without its ratings x items matrix of floats).
    scored = (~np.isnan(data.ref_codes)).sum(axis=1)[both].astype(float)
    # NaN never equals anything: an unscored item is a miss, an item without reference code
    # is not counted.
    hits = (data.codes == data.ref_codes).sum(axis=1)[both].astype(float)
    item_n = {}
    item_s = {}
    for label, use in (("all", np.ones(int(both.sum()), dtype=bool)),
                       ("recent", recent[both]), ("previous", previous[both])):
        item_n[label] = np.bincount(g_both, weights=scored * use, minlength=size)
        item_s[label] = np.bincount(g_both, weights=hits * use, minlength=size)
    totals, refs = data.total[both], data.ref_total[both]
    ok = ~np.isnan(totals) & ~np.isnan(refs)
    d = (totals - refs)[ok]
    within = _group_share(g_both[ok], (np.abs(d) <= 1).astype(float), np.ones(d.size, bool),
                          size)
    deviations = _deviations(g_both[ok], d, size)
    # Only an instrument with published bands has band agreement (never CPORT's old groupings).
    has_bands = bool(data.bands)
    band_hit = (data.band == data.ref_band)[both].astype(float)
    bands = _group_share(g_both, band_hit, np.ones(band_hit.size, bool), size)
    applicability = _group_share(
        g_all, (data.applicable[mine] == data.ref_applicable[mine]).astype(float),
        np.ones(int(mine.sum()), bool), size)

    def share(label, k):
        return None if item_n[label][k] == 0 else float(item_s[label][k] / item_n[label][k])

    out = []
    for k, (user_id, username) in enumerate(people):
        severity = tendency.of(user_id)
        out.append(
            TraineeRow(
                user_id=user_id,
                username=username,
                ratings=int(ratings[k]),
                item_agreement=share("all", k),
                within_one=within[k],
                band_agreement=bands[k] if has_bands else None,
                applicability_agreement=applicability[k],
                deviation=deviations[k],
                severity=severity,
                tendency=severity.tendency,
                recent_agreement=share("recent", k),
                previous_agreement=share("previous", k),
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
