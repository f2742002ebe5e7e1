"""Instructor pages: cohort dashboards, item, vignette and trainee analytics, calibration
sessions, comments and exports. Thin: authorise, call analytics, render."""

from __future__ import annotations

import numpy as np
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from training import charts
from training.models import Rating
from training.reliability.sufficiency import (
    DECISION_GRADE_UNITS,
    INDICATIVE_NOTE,
    MIN_PAIRABLE,
    MIN_UNITS,
    ci_note,
)
from training.teaching import bands as band_stats
from training.teaching import data as teaching_data
from training.teaching import items as item_stats
from training.teaching import reliability as cohort_reliability
from training.teaching import rounds as round_stats
from training.teaching import snapshot
from training.teaching import trainees as trainee_stats
from training.teaching.comments import can_teach, rating_comment_add
from training.teaching.exports import cohort_export_rows, csv_lines
from training.teaching.serializers import (
    DEFAULT_SIZE,
    DEFAULT_WINDOW,
    ReliabilityWindowSerializer,
)
from training.tenancy import STAFF_ROLES, not_found_in, with_membership
from vignettes.models import Instrument


def _instrument(request, cohort) -> Instrument:
    instruments = list(teaching_data.instruments_rated(cohort))
    slug = request.GET.get("instrument") or (instruments[0].slug if instruments else "")
    for instrument in instruments:
        if instrument.slug == slug:
            return instrument
    raise Http404


def _context(request, cohort_id):
    cohort = teaching_data.cohort_get(membership=request.membership, cohort_id=cohort_id)
    instrument = _instrument(request, cohort)
    return cohort, instrument, {
        "cohort": cohort,
        "instrument": instrument,
        "instruments": teaching_data.instruments_rated(cohort),
        "tz": request.organization.time_zone,
    }


@with_membership(*STAFF_ROLES)
def cohorts(request):
    return render(request, "training/teach/cohorts.html", {
        "cohorts": teaching_data.instructor_cohorts_counted(membership=request.membership),
    })


def _pct(value):
    return None if value is None else 100 * value


def window_label(w, window: str) -> str:
    """How a window is named in the chart's table and the reliability table."""
    local = timezone.get_current_timezone()
    if window == "month":
        return w.start.astimezone(local).strftime("%Y-%m")
    if window == "week":
        return w.start.astimezone(local).strftime("%Y-%m-%d")
    return _("vignettes %(first)s–%(last)s (to %(day)s)") % {
        "first": w.first_unit, "last": w.last_unit,
        "day": w.end.astimezone(local).strftime("%Y-%m-%d")}


def _window_at(w, window: str):
    """Where a window sits on the time axis: the middle of a calendar period; for a count
    window, when its last vignette got its second rating."""
    if window in ("month", "week"):
        return w.start + (w.end - w.start) / 2
    return w.end


def _point(label, at, estimate) -> charts.TimePoint:
    n = estimate.extra.get("gate_units")
    return charts.TimePoint(
        label=label, at=at, value=estimate.value, ci95=estimate.ci95,
        n=int(n) if n is not None else (estimate.n_units or None),
        note=_("not enough data") if estimate.extra.get("units_needed") else "",
    )


def _curve_points(curve) -> list[charts.TimePoint]:
    """A learning curve's months, with a gap for each run of months without ratings."""
    points: list[charts.TimePoint] = []
    for k, w in enumerate(curve):
        if k and w.start > curve[k - 1].end:
            gap = curve[k - 1].end
            points.append(charts.TimePoint(label=gap.strftime("%Y-%m"),
                                           at=gap + (w.start - gap) / 2, value=None,
                                           note=_("no ratings")))
        est = w.estimate
        points.append(charts.TimePoint(
            label=w.start.strftime("%Y-%m"), at=w.start + (w.end - w.start) / 2,
            value=_pct(est.value),
            ci95=tuple(_pct(v) for v in est.ci95) if est.ci95 else None,
            n=est.n_units if est.value is not None else None))
    return points


def reliability_chart(title, windows, labels, window) -> charts.Chart:
    """Reliability among trainees over time: gated values only (a gap below the gate), the
    95 % intervals as shaded bands, n (vignettes) beside each point, time to scale."""
    ats = [_window_at(w, window) for w in windows]
    series = [
        (_("Krippendorff's alpha, totals"), "alpha_total"),
        (_("ICC(2,1), crossed subset"), "icc_crossed"),
        (_("Fleiss' kappa, items"), "fleiss_crossed"),
        (_("Gwet's AC1, items"), "ac1_crossed"),
    ]
    drawn = [
        (name, [_point(label, at, getattr(w, attr))
                for label, at, w in zip(labels, ats, windows, strict=True)])
        for name, attr in series
    ]
    values = [p.value for _n, pts in drawn for p in pts if p.value is not None]
    low = -0.2 if min(values, default=0.0) >= -0.2 else -1.0
    return charts.time_chart(
        title=title, x_label=_("Window"), y_label=_("Coefficient"), series=drawn,
        y_range=(low, 1.0),
    )


def _specific_by_item(overall) -> dict:
    """code -> [(code value, estimate)] of the specific-agreement entries (PA/NA)."""
    return {code: [(name.removeprefix("specific_agreement_"), est)
                   for name, est in stats.items() if name.startswith("specific_agreement_")]
            for code, stats in overall.items()}


@never_cache
@with_membership(*STAFF_ROLES)
def dashboard(request, cohort_id):
    cohort, instrument, context = _context(request, cohort_id)
    # The API's rule for window and size. A value it refuses answers 400 here too, with the
    # same message, and the page still shows the defaults so the form can be corrected.
    query = ReliabilityWindowSerializer(data=request.GET)
    status = 200
    if query.is_valid():
        window, size = query.validated_data["window"], query.validated_data["size"]
    else:
        window, size, status = DEFAULT_WINDOW, DEFAULT_SIZE, 400
        context["query_errors"] = query.errors
    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    tendency = trainee_stats.cohort_tendency(data)
    rows = trainee_stats.trainee_rows(data, now=timezone.now(), tendency=tendency)
    windows = cohort_reliability.reliability_over_time(data, window=window, size=size, tz=context["tz"])
    labels = [window_label(w, window) for w in windows]
    chart = reliability_chart(
        _("%(inst)s: reliability among trainees over time") % {"inst": instrument.short_name},
        windows, labels, window)
    overall = cohort_reliability.overall_item_reliability(data)
    rounds = round_stats.round_reliability(
        data, round_stats.cohort_rounds(cohort=cohort, instrument=instrument))
    item_windows = [
        (code, [w.alpha_items.get(code) for w in windows]) for code in data.item_codes
    ]
    hardest = min(
        (r for r in item_stats.item_agreements(data) if r.agreement is not None),
        key=lambda r: r.agreement, default=None,
    )
    # "At a glance" reads the same severity as the table: who is flagged, and the extremes.
    defined = [r for r in rows if r.severity.estimate is not None]
    lenient = min(defined, key=lambda r: r.severity.estimate, default=None)
    severe = max(defined, key=lambda r: r.severity.estimate, default=None)
    context.update({
        "band_consistency": band_stats.cohort_band_consistency(data),
        "item_specific": _specific_by_item(overall),
        "tendency": tendency,
        "flagged_lenient": [r for r in rows if r.tendency == "lenient"],
        "flagged_severe": [r for r in rows if r.tendency == "severe"],
        "rows": rows, "windows": list(zip(labels, windows, strict=True)), "chart": chart,
        "window": window, "size": size, "overall": overall, "hardest": hardest,
        "item_windows": item_windows, "labels": labels,
        "most_lenient": lenient, "most_severe": severe, "ratings": data.n,
        "rounds": rounds, "rounds_chart": _rounds_chart(instrument, rounds),
        "min_units": MIN_UNITS, "min_pairable": MIN_PAIRABLE,
        "decision_units": DECISION_GRADE_UNITS,
    })
    return render(request, "training/teach/dashboard.html", context, status=status)


def _rounds_chart(instrument, rounds):
    """Reliability among trainees per calibration round, at the middle of each round's
    period (time to scale), gated like every other value, n (vignettes) beside each point."""
    if not rounds:
        return None
    series = [(_("Krippendorff's alpha, totals"), "alpha_total"), (_("ICC(2,1)"), "icc_crossed")]
    drawn = [
        (name, [_point(r.title, r.opens_at + ((r.closes_at or r.opens_at) - r.opens_at) / 2,
                       getattr(r.reliability, attr)) for r in rounds])
        for name, attr in series
    ]
    values = [p.value for _n, pts in drawn for p in pts if p.value is not None]
    return charts.time_chart(
        title=_("%(inst)s: reliability among trainees per calibration round") % {
            "inst": instrument.short_name},
        x_label=_("Calibration round"), y_label=_("Coefficient"), series=drawn,
        y_range=(-0.2 if min(values, default=0.0) >= -0.2 else -1.0, 1.0),
    )


@never_cache
@with_membership(*STAFF_ROLES)
def items(request, cohort_id):
    cohort, instrument, context = _context(request, cohort_id)
    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    selected = request.GET.get("item") or ""
    if selected and selected not in data.item_codes:
        raise Http404
    rows = item_stats.item_rows(data, with_notes_for=selected or None)
    context.update({
        "rows": rows,
        "selected": next((r for r in rows if r.code == selected), None),
    })
    return render(request, "training/teach/items.html", context)


@never_cache
@with_membership(*STAFF_ROLES)
def vignettes(request, cohort_id):
    cohort, instrument, context = _context(request, cohort_id)
    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    context["rows"] = sorted(
        item_stats.vignette_rows(data),
        key=lambda v: (not v.flagged, v.exact_total if v.exact_total is not None else 2),
    )
    return render(request, "training/teach/vignettes.html", context)


@never_cache
@with_membership(*STAFF_ROLES)
def trainee(request, cohort_id, user_id):
    cohort, instrument, context = _context(request, cohort_id)
    if not cohort.trainees.filter(pk=user_id).exists():
        raise Http404
    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    detail = trainee_stats.trainee_detail(data, int(user_id), tz=context["tz"])
    # Agreement with the reference is not gated, but each month says how many item codes
    # it rests on; months without ratings are gaps on an axis proportional to time.
    curve = charts.time_chart(
        title=_("Learning curve: item agreement with the reference, by month"),
        x_label=_("Month"), y_label=_("Items agreeing (%)"),
        series=[(_("Item agreement"), _curve_points(detail["curve"]))],
        y_range=(0, 100),
    )
    ba = detail["bland_altman"]
    ba_chart = None
    if ba is not None and ba.bias.value is not None:
        ba_chart = charts.scatter_chart(
            title=_("Bland-Altman: totals against the reference"),
            x_label=_("Mean of trainee and reference total"),
            y_label=_("Trainee - reference"),
            points=detail["points"],
            hlines=[(_("bias"), ba.bias.value), (_("lower limit"), ba.lower_limit.value),
                    (_("upper limit"), ba.upper_limit.value)],
        )
    ratings = teaching_data.trainee_ratings_with_comments(
        cohort=cohort, instrument=instrument, user_id=int(user_id))
    tendency = trainee_stats.cohort_tendency(data)
    row = next(r for r in trainee_stats.trainee_rows(data, now=timezone.now(), tendency=tendency)
               if r.user_id == int(user_id))
    context.update({
        "trainee_row": row, "tendency": tendency, "curve": curve, "ba": ba, "ba_chart": ba_chart,
        "missed": detail["missed"], "ratings": ratings,
    })
    return render(request, "training/teach/trainee.html", context)


@never_cache
@with_membership(*STAFF_ROLES)
def session(request, cohort_id):
    """Calibration session: one vignette, the cohort's codes per item beside the reference."""
    cohort, instrument, context = _context(request, cohort_id)
    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    revisions = sorted(data.revisions.items(), key=lambda kv: kv[1][1])
    slug = request.GET.get("vignette") or (revisions[0][1][0] if revisions else "")
    rev_ids = [rid for rid, (s, _t, _n) in revisions if s == slug]
    named = request.GET.get("named") == "1"
    table, raters = [], []
    if rev_ids:
        rid = rev_ids[-1]
        # Each trainee's latest submitted rating of this vignette revision.
        idx = {}
        for i in np.nonzero((data.revision == rid) & data.both)[0]:
            idx[int(data.trainee[i])] = i
        order = sorted(idx, key=lambda u: data.trainee_names.get(u, ""))
        raters = [
            data.trainee_names.get(u, "?") if named else _("Rater %(n)s") % {"n": chr(65 + k)}
            if k < 26 else f"R{k + 1}"
            for k, u in enumerate(order)
        ]
        for j, code in enumerate(data.item_codes):
            codes = [item_stats._label(data.codes[idx[u], j]) for u in order]
            ref = item_stats._label(data.ref_codes[idx[order[0]], j]) if order else ""
            table.append({
                "code": code, "name": data.item_names[code], "codes": codes,
                "reference": ref, "agree": sum(c == ref for c in codes),
                "rationale": data.rationale.get((int(data.reference_ids[idx[order[0]]]), code),
                                                "") if order else "",
            })
    context.update({
        "revisions": revisions, "slug": slug, "named": named, "raters": raters, "table": table,
    })
    return render(request, "training/teach/session.html", context)


@with_membership(*STAFF_ROLES)
@require_POST
def comment(request, rating_id):
    rating = Rating.objects.filter(
        pk=rating_id, attempt__organization=request.organization
    ).select_related("attempt").first()
    if rating is None:
        raise not_found_in(Rating, organization=request.organization,
                           via="attempt__organization", pk=rating_id)
    if not can_teach(request.membership, rating.attempt.user_id):
        raise Http404
    try:
        rating_comment_add(membership=request.membership, rating=rating,
                           text=request.POST.get("text", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied:
        raise Http404 from None
    else:
        messages.success(request, _("Comment saved; the trainee sees it with the feedback."))
    target = request.POST.get("next") or reverse("teach:cohorts")
    if not target.startswith("/teach/"):
        target = reverse("teach:cohorts")
    return redirect(target)


@with_membership(*STAFF_ROLES)
def export_csv(request, cohort_id):
    cohort = teaching_data.cohort_get(membership=request.membership, cohort_id=cohort_id)
    instrument = None
    if request.GET.get("instrument"):
        instrument = _instrument(request, cohort)
    return _csv_response(
        cohort_export_rows(cohort=cohort, instrument=instrument),
        f"calibrate-{cohort.organization.slug}-cohort-{cohort.pk}-ratings.csv",
    )


@with_membership(*STAFF_ROLES)
def statistics_csv(request, cohort_id):
    cohort, instrument, context = _context(request, cohort_id)
    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    # Reliability among trainees is gated (docs/statistics.md, "How much data a value needs"):
    # below the gate `value` is empty, `sufficient` 0 and `note` says how many more vignettes
    # are needed. Trainee rows (agreement with the reference) are not gated; `n` is ratings.
    rows = [["section", "name", "statistic", "value", "ci_low", "ci_high", "n", "sufficient",
             "pairable", "units_needed", "decision_grade", "note"]]
    has_bands = bool(data.bands)
    for r in trainee_stats.trainee_rows(data, now=timezone.now()):
        for name, value in [("ratings", r.ratings), ("item_agreement", r.item_agreement),
                            ("totals_within_1", r.within_one),
                            ("band_agreement",
                             r.band_agreement if has_bands else "not applicable"),
                            ("applicability_agreement", r.applicability_agreement)]:
            rows.append(["trainee", r.username, name, value, "", "", r.ratings,
                         "", "", "", "", ""])
        ci = r.deviation.ci95 or ("", "")
        rows.append(["trainee", r.username, "mean_signed_deviation", r.deviation.value,
                     ci[0], ci[1], r.deviation.n_units, "", "", "", "",
                     r.deviation.undefined_reason or ""])
        sev = r.severity
        ci = sev.ci95 or ("", "")
        pad = ["", "", "", "", ""]
        rows.append(["trainee", r.username, "severity", sev.estimate, ci[0], ci[1],
                     sev.n_vignettes, *pad])
        rows.append(["trainee", r.username, "tendency", sev.tendency or "none", "", "",
                     sev.n_vignettes, *pad])
        rows.append(["trainee", r.username, "tendency_reason", sev.reason, "", "",
                     sev.n_vignettes, *pad])
    for w in cohort_reliability.reliability_over_time(data, tz=context["tz"]):
        if w.empty:
            continue
        label = w.start.date().isoformat()
        for name, est in [("krippendorff_alpha_interval_totals", w.alpha_total),
                          ("icc_2_1_crossed", w.icc_crossed),
                          ("fleiss_kappa_crossed_mean", w.fleiss_crossed),
                          ("gwet_ac1_crossed_mean", w.ac1_crossed)]:
            rows.append(["window", label, name, *_gated_cells(est)])
    for code, stats in cohort_reliability.overall_item_reliability(data).items():
        for name, est in stats.items():
            rows.append(["item", code, name, *_gated_cells(est)])
    rows += [row + [""] * 5 for row in
             band_stats.consistency_csv_rows(band_stats.cohort_band_consistency(data))]
    return _csv_response(
        rows, f"calibrate-{cohort.organization.slug}-cohort-{cohort.pk}-{instrument.slug}"
              "-statistics.csv")


def _gated_cells(est) -> list:
    """value, ci_low, ci_high, n, sufficient, pairable, units_needed, decision_grade, note."""
    ci = est.ci95 or ("", "")
    extra = est.extra
    units = int(extra["gate_units"]) if "gate_units" in extra else est.n_units
    needed = int(extra["units_needed"]) if "units_needed" in extra else ""
    sufficient = needed == 0 and est.value is not None
    note = est.undefined_reason or ""
    if est.value is not None and not extra.get("decision_grade"):
        note = INDICATIVE_NOTE
    if est.value is not None and ci_note(est):
        note = "; ".join(filter(None, [note, ci_note(est)]))
    return [est.value, ci[0], ci[1], units, int(sufficient),
            int(extra["gate_pairable"]) if "gate_pairable" in extra else "", needed,
            int(bool(extra.get("decision_grade"))) if est.value is not None else 0, note]


def _csv_response(rows, filename):
    response = StreamingHttpResponse(csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
