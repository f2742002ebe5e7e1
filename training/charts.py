"""Charts: SVG drawn on the server.

The one chart approach of the application (DESIGN.md): no JavaScript and nothing from a CDN,
so charts work offline and under the strict Content-Security-Policy (presentation attributes
only, no style attributes). Every chart has labelled axes, uses the Okabe-Ito colour-blind-safe
palette with distinct markers, carries a <title> and <desc> for screen readers, and comes with
its numbers as a table that the templates render beside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
MARKERS = ("circle", "square", "diamond", "triangle")
WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 56


@dataclass
class Chart:
    title: str
    svg: SafeString
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return str(value)


def _nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    if high <= low:
        high = low + 1
    span = high - low
    raw = span / count
    magnitude = 10 ** int(f"{raw:e}".split("e")[1])
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw),
               default=magnitude * 10)
    start = (low // step) * step
    ticks = []
    value = start
    while value <= high + step * 0.001:
        if value >= low - step * 0.001:
            ticks.append(round(value, 10))
        value += step
    return ticks


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "square":
        return (f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{colour}"/>')
    if kind == "diamond":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y:.1f} {x:.1f},{y + 5:.1f} '
                f'{x - 5:.1f},{y:.1f}" fill="{colour}"/>')
    if kind == "triangle":
        return (f'<polygon points="{x:.1f},{y - 5:.1f} {x + 5:.1f},{y + 4:.1f} '
                f'{x - 5:.1f},{y + 4:.1f}" fill="{colour}"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>'


def _clipped_marker(x: float, y: float, up: bool, colour: str) -> str:
    """A value beyond the frame: an open triangle at the frame's edge pointing out."""
    tri = (f"{x:.1f},{y - 6:.1f} {x + 6:.1f},{y + 3:.1f} {x - 6:.1f},{y + 3:.1f}" if up else
           f"{x:.1f},{y + 6:.1f} {x + 6:.1f},{y - 3:.1f} {x - 6:.1f},{y - 3:.1f}")
    return (f'<polygon class="clipped" points="{tri}" fill="#ffffff" stroke="{colour}" '
            f'stroke-width="1.5"><title>beyond the chart\'s range, drawn at its edge</title>'
            f'</polygon>')


def _frame(title, x_label, y_label, y_ticks, y_to_px, desc) -> list[str]:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'class="chart" aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(desc)}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold" fill="#1d232b">'
        f"{escape(title)}</text>",
    ]
    for tick in y_ticks:
        y = y_to_px(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="#d4d9df" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#55606e">{_fmt(tick)}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" '
                 f'stroke="#1d232b"/>')
    parts.append(f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" '
                 f'y2="{HEIGHT - BOTTOM}" stroke="#1d232b"/>')
    parts.append(f'<text x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{HEIGHT - 10}" font-size="12" '
                 f'text-anchor="middle" fill="#1d232b">{escape(x_label)}</text>')
    mid = (TOP + HEIGHT - BOTTOM) / 2
    parts.append(f'<text x="16" y="{mid:.0f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 16 {mid:.0f})" fill="#1d232b">{escape(y_label)}</text>')
    return parts


def line_chart(
    *,
    title: str,
    x_label: str,
    y_label: str,
    series: list[tuple[str, list[tuple[str, float | None]]]],
    y_range: tuple[float, float] | None = None,
    bands: list[tuple[str, list[tuple[float, float] | None]]] | None = None,
) -> Chart:
    """Series over categorical x values (periods); None = no value in that period.
    `bands` optionally draws a shaded interval (e.g. a 95 % CI) per series."""
    xs: list[str] = []
    for _name, points in series:
        for x, _y in points:
            if x not in xs:
                xs.append(x)
    values = [y for _n, pts in series for _x, y in pts if y is not None]
    if y_range is None:
        low = min(values, default=0.0)
        high = max(values, default=1.0)
        pad = (high - low) * 0.1 or 1
        y_range = (low - pad, high + pad)
    y_low, y_high = y_range
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x_to_px(i: int) -> float:
        return LEFT + (plot_w * (i + 0.5) / max(len(xs), 1))

    def y_to_px(v: float) -> float:
        v = max(y_low, min(y_high, v))  # drawn inside the frame; beyond it is marked
        return TOP + plot_h * (1 - (v - y_low) / ((y_high - y_low) or 1))

    desc = "; ".join(
        f"{name}: " + ", ".join(f"{x} {_fmt(y)}" for x, y in pts) for name, pts in series
    )
    parts = _frame(title, x_label, y_label, _nice_ticks(y_low, y_high), y_to_px, desc)
    step = max(1, len(xs) // 12)
    for i, x in enumerate(xs):
        if i % step == 0:
            parts.append(f'<text x="{x_to_px(i):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" '
                         f'text-anchor="middle" fill="#55606e">{escape(x)}</text>')
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if bands and index < len(bands):
            for x, interval in zip(xs, bands[index][1], strict=False):
                if interval is None:
                    continue
                i = xs.index(x)
                lo, hi = (y_to_px(v) for v in interval)
                x = x_to_px(i)
                parts.append(
                    f'<path class="band" d="M{x - 5:.1f},{hi:.1f} L{x + 5:.1f},{hi:.1f} '
                    f'L{x + 5:.1f},{lo:.1f} L{x - 5:.1f},{lo:.1f} Z" fill="{colour}" '
                    f'fill-opacity="0.2" stroke="none"/>'
                )
        by_x = dict(points)
        path = []
        for i, x in enumerate(xs):
            y = by_x.get(x)
            if y is None:
                continue
            path.append(f"{'M' if not path else 'L'}{x_to_px(i):.1f},{y_to_px(y):.1f}")
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" '
                         f'stroke-width="2"/>')
        for i, x in enumerate(xs):
            y = by_x.get(x)
            if y is not None and not (y_low <= y <= y_high):
                parts.append(_clipped_marker(x_to_px(i), y_to_px(y), y > y_high, colour))
            elif y is not None:
                parts.append(_marker(MARKERS[index % len(MARKERS)], x_to_px(i), y_to_px(y),
                                     colour))
        lx = LEFT + 8 + index * 150
        parts.append(_marker(MARKERS[index % len(MARKERS)], lx, TOP - 6, colour))
        parts.append(f'<text x="{lx + 9}" y="{TOP - 2}" font-size="11" fill="#1d232b">'
                     f"{escape(name)}</text>")
    parts.append("</svg>")
    columns = [x_label] + [name for name, _p in series]
    def cell(y):
        beyond = y is not None and not (y_low <= y <= y_high)
        return _fmt(y) + (" (beyond the chart)" if beyond else "")

    rows = [[x] + [cell(dict(pts).get(x)) for _n, pts in series] for x in xs]
    return Chart(title=title, svg=mark_safe("".join(parts)), columns=columns, rows=rows)  # noqa: S308


def scatter_chart(
    *,
    title: str,
    x_label: str,
    y_label: str,
    points: list[tuple[float, float]],
    hlines: list[tuple[str, float]] | None = None,
    point_label: str = "",
) -> Chart:
    """A scatter with optional labelled horizontal lines (e.g. Bland–Altman bias and limits)."""
    xs = [p[0] for p in points] or [0.0]
    ys = [p[1] for p in points] + [v for _n, v in (hlines or [])] or [0.0]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys), max(ys)
    xpad = (x_high - x_low) * 0.08 or 1
    ypad = (y_high - y_low) * 0.15 or 1
    x_low, x_high, y_low, y_high = x_low - xpad, x_high + xpad, y_low - ypad, y_high + ypad
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x_to_px(v):
        return LEFT + plot_w * (v - x_low) / ((x_high - x_low) or 1)

    def y_to_px(v):
        return TOP + plot_h * (1 - (v - y_low) / ((y_high - y_low) or 1))

    desc = f"{len(points)} points. " + "; ".join(f"{n}: {_fmt(v)}" for n, v in hlines or [])
    parts = _frame(title, x_label, y_label, _nice_ticks(y_low, y_high), y_to_px, desc)
    for tick in _nice_ticks(x_low, x_high):
        parts.append(f'<text x="{x_to_px(tick):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" '
                     f'text-anchor="middle" fill="#55606e">{_fmt(tick)}</text>')
    for index, (name, value) in enumerate(hlines or []):
        colour = PALETTE[(index + 1) % len(PALETTE)]
        y = y_to_px(value)
        dash = "" if index == 0 else ' stroke-dasharray="6 4"'
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="{colour}" stroke-width="2"{dash}/>')
        parts.append(f'<text x="{WIDTH - RIGHT - 4}" y="{y - 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="#1d232b">{escape(name)} {_fmt(value)}</text>')
    for x, y in points:
        parts.append(f'<circle cx="{x_to_px(x):.1f}" cy="{y_to_px(y):.1f}" r="4" '
                     f'fill="{PALETTE[0]}" fill-opacity="0.7"/>')
    parts.append("</svg>")
    rows = [[_fmt(x), _fmt(y)] for x, y in points]
    rows += [[name, _fmt(v)] for name, v in hlines or []]
    return Chart(title=title, svg=mark_safe("".join(parts)),  # noqa: S308
                 columns=[x_label, y_label], rows=rows)


# --- charts over time -------------------------------------------------------------------------


@dataclass
class TimePoint:
    """One value of a series over time: where it sits (``at``), its label in the table, its
    95 % interval (drawn as a shaded band) and how much data it rests on (``n``, drawn beside
    it). ``value`` ``None`` is a gap: the line breaks there, nothing is drawn, never a 0."""

    label: str
    at: datetime
    value: float | None
    ci95: tuple[float, float] | None = None
    n: int | None = None
    note: str = ""  # what the table says about a gap or a mark (e.g. "not enough data")


def monthly_points(months: list[tuple[str, float | None, int]]) -> list[TimePoint]:
    """("YYYY-MM", value, n) per month with data, as points in the middle of each month, with
    a gap point for every run of months without data between them."""
    points: list[TimePoint] = []
    previous = None
    for period, value, n in months:
        year, month = (int(part) for part in period.split("-"))
        start = datetime(year, month, 1, tzinfo=UTC)
        if previous is not None:
            after = datetime(previous.year + previous.month // 12, previous.month % 12 + 1, 1,
                             tzinfo=UTC)
            if after < start:
                points.append(TimePoint(label=after.strftime("%Y-%m"), at=after, value=None,
                                        note="no ratings"))
        points.append(TimePoint(label=period, at=start + timedelta(days=14), value=value,
                                n=n if value is not None else None))
        previous = start
    return points


def _time_ticks(low: datetime, high: datetime) -> list[tuple[datetime, str]]:
    """Calendar ticks between two instants: months (every 1, 2, 3, 6 or 12), weeks or days,
    at most about 7 of them."""
    span_days = max((high - low).total_seconds() / 86400, 1e-9)
    ticks: list[tuple[datetime, str]] = []
    tz = low.tzinfo
    if span_days >= 75:
        months = span_days / 30.4
        step = next((s for s in (1, 2, 3, 6, 12) if months / s <= 7), 24)
        y, m = low.year, low.month
        while True:
            at = datetime(y, m, 1, tzinfo=tz)
            if at > high:
                break
            if at >= low and (m - 1) % step == 0:
                ticks.append((at, at.strftime("%Y-%m")))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        return ticks
    unit = 7 if span_days >= 21 else 1
    step = max(1, math.ceil(span_days / unit / 7)) * unit
    day = datetime(low.year, low.month, low.day, tzinfo=tz)
    if unit == 7:
        day -= timedelta(days=day.weekday())
    while day <= high:
        if day >= low:
            ticks.append((day, day.strftime("%m-%d") if unit == 1 else day.strftime("%Y-%m-%d")))
        day += timedelta(days=step)
    return ticks


def time_chart(
    *,
    title: str,
    x_label: str,
    y_label: str,
    series: list[tuple[str, list[TimePoint]]],
    y_range: tuple[float, float],
) -> Chart:
    """Series over time on an axis proportional to time.

    Drawn inside the frame: a value outside ``y_range`` is drawn at the frame's edge as an
    open triangle pointing out, and marked in the table. A ``None`` value is a gap (the line
    breaks). Intervals are shaded bands, clipped to the frame. ``n`` is written beside each
    point (once per position when several series share it). The table beside has one row per
    label, each cell "value (n = …)".
    """
    y_low, y_high = y_range
    height = HEIGHT + 28
    bottom = BOTTOM + 28
    plot_w = WIDTH - LEFT - RIGHT - 24  # room for the n beside the last point
    plot_h = height - TOP - bottom
    stamps = [p.at for _n, pts in series for p in pts]
    t_low = min(stamps, default=None)
    t_high = max(stamps, default=None)
    span = (t_high - t_low).total_seconds() if stamps else 0.0

    def x_to_px(at: datetime) -> float:
        if not span:
            return LEFT + plot_w / 2
        return LEFT + 24 + (plot_w - 48) * (at - t_low).total_seconds() / span

    def y_to_px(v: float) -> float:
        v = max(y_low, min(y_high, v))
        return TOP + plot_h * (1 - (v - y_low) / ((y_high - y_low) or 1))

    desc = "; ".join(
        f"{name}: " + ", ".join(
            f"{p.label} {_fmt(p.value)}" + (f" (n = {p.n})" if p.n is not None else "")
            for p in pts)
        for name, pts in series
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'class="chart" aria-label="{escape(title, {chr(34): "&quot;"})}">',
        f"<title>{escape(title)}</title>", f"<desc>{escape(desc)}</desc>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold" fill="#1d232b">'
        f"{escape(title)}</text>",
    ]
    right = LEFT + plot_w
    for tick in _nice_ticks(y_low, y_high):
        y = y_to_px(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     f'stroke="#d4d9df" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                     f'fill="#55606e">{_fmt(tick)}</text>')
    base = TOP + plot_h
    parts.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" '
                 f'fill="none" stroke="#1d232b" stroke-width="1"/>')
    if stamps:
        for at, text in _time_ticks(t_low, t_high):
            x = x_to_px(at)
            parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" '
                         f'stroke="#1d232b" stroke-width="1"/>')
            parts.append(f'<text x="{x:.1f}" y="{base + 16}" font-size="11" '
                         f'text-anchor="middle" fill="#55606e">{escape(text)}</text>')
    parts.append(f'<text x="{(LEFT + right) / 2:.0f}" y="{base + 34}" font-size="12" '
                 f'text-anchor="middle" fill="#1d232b">{escape(x_label)}</text>')
    mid = (TOP + base) / 2
    parts.append(f'<text x="16" y="{mid:.0f}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 16 {mid:.0f})" fill="#1d232b">{escape(y_label)}</text>')

    def segments(points: list[TimePoint]) -> list[list[TimePoint]]:
        runs, run = [], []
        for p in points:
            if p.value is None:
                if run:
                    runs.append(run)
                run = []
            else:
                run.append(p)
        if run:
            runs.append(run)
        return runs

    # Bands first, under every line.
    for index, (_name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        for run in segments(points):
            run = [p for p in run if p.ci95 is not None]
            if not run:
                continue
            if len(run) == 1:
                p = run[0]
                x = x_to_px(p.at)
                d = (f"M{x - 5:.1f},{y_to_px(p.ci95[1]):.1f} L{x + 5:.1f},{y_to_px(p.ci95[1]):.1f} "
                     f"L{x + 5:.1f},{y_to_px(p.ci95[0]):.1f} L{x - 5:.1f},{y_to_px(p.ci95[0]):.1f} Z")
            else:
                upper = [f"{x_to_px(p.at):.1f},{y_to_px(p.ci95[1]):.1f}" for p in run]
                lower = [f"{x_to_px(p.at):.1f},{y_to_px(p.ci95[0]):.1f}" for p in reversed(run)]
                d = "M" + " L".join(upper + lower) + " Z"
            parts.append(f'<path class="band" d="{d}" fill="{colour}" fill-opacity="0.16" '
                         f'stroke="none"/>')
    labelled: set[tuple[str, int]] = set()
    for index, (name, points) in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        path = []
        for run in segments(points):
            path += [f"{'M' if k == 0 else 'L'}{x_to_px(p.at):.1f},{y_to_px(p.value):.1f}"
                     for k, p in enumerate(run)]
        if path:
            parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" '
                         f'stroke-width="2"/>')
        for p in points:
            if p.value is None:
                continue
            x, y = x_to_px(p.at), y_to_px(p.value)
            tip = f"{name}, {p.label}: {_fmt(p.value)}" + (
                f" (n = {p.n})" if p.n is not None else "")
            if p.value < y_low or p.value > y_high:
                tip += " — beyond the chart's range, drawn at its edge"
                marker = _clipped_marker(x, y, p.value > y_high, colour)
            else:
                marker = _marker(MARKERS[index % len(MARKERS)], x, y, colour)
            parts.append(f"<g><title>{escape(tip)}</title>{marker}</g>")
            key = (f"{x:.0f}", p.n if p.n is not None else -1)
            if p.n is not None and key not in labelled:
                labelled.add(key)
                parts.append(f'<text class="n-label" x="{x + 6:.1f}" y="{y - 6:.1f}" '
                             f'font-size="9" fill="#55606e">n={p.n}</text>')
    # Where no series has a value (a window below the gate, an empty period) a grey dash on
    # the axis says so, with the n it had: the gap is shown, never drawn as a 0.
    by_label: dict[str, list[TimePoint]] = {}
    for _name, points in series:
        for p in points:
            by_label.setdefault(p.label, []).append(p)
    for label, same in by_label.items():
        if any(p.value is not None for p in same):
            continue
        p = same[0]
        x = x_to_px(p.at)
        why = next((q.note for q in same if q.note), "no value")
        n = f"no value, n={p.n}" if p.n is not None else "no value"
        parts.append(
            f'<g class="gap"><title>{escape(label)}: {escape(why)}</title>'
            f'<text x="{x:.1f}" y="{base - 6}" font-size="9" text-anchor="middle" '
            f'fill="#8a939e">{escape(n)}</text></g>')
    # Legend under the axis, wrapped to the width.
    lx, ly = LEFT, height - 14
    for index, (name, _points) in enumerate(series):
        width = 22 + 6.2 * len(name)
        if lx + width > WIDTH - RIGHT and lx > LEFT:
            lx, ly = LEFT, ly + 14
        colour = PALETTE[index % len(PALETTE)]
        parts.append(_marker(MARKERS[index % len(MARKERS)], lx, ly - 4, colour))
        parts.append(f'<text x="{lx + 9}" y="{ly}" font-size="11" fill="#1d232b">'
                     f"{escape(name)}</text>")
        lx += width
    parts.append("</svg>")
    if ly > height - 14:  # the legend wrapped: grow the canvas
        grown = ly + 10
        parts[0] = parts[0].replace(f"viewBox=\"0 0 {WIDTH} {height}\"",
                                    f"viewBox=\"0 0 {WIDTH} {grown}\"")
        parts[3] = f'<rect x="0" y="0" width="{WIDTH}" height="{grown}" fill="#ffffff"/>'
    labels: list[str] = []
    cells: dict[tuple[str, int], str] = {}
    for index, (_name, points) in enumerate(series):
        for p in points:
            if p.label not in labels:
                labels.append(p.label)
            text = _fmt(p.value)
            if p.value is not None and not (y_low <= p.value <= y_high):
                text += " (beyond the chart)"
            if p.n is not None:
                text += f" (n = {p.n})"
            if p.value is None and p.note:
                text += f" {p.note}"
            cells[(p.label, index)] = text
    columns = [x_label] + [name for name, _p in series]
    rows = [[label] + [cells.get((label, i), "–") for i in range(len(series))]
            for label in labels]
    return Chart(title=title, svg=mark_safe("".join(parts)), columns=columns, rows=rows)  # noqa: S308
