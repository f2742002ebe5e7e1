"""Server-side SVG charts: drawn inside their frame, gaps for missing values, time to scale,
intervals as bands, n beside each point."""

import datetime as dt
import re

from training.charts import HEIGHT, TOP, TimePoint, line_chart, time_chart

T0 = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)



def _frame(svg: str) -> tuple[float, float]:
    match = re.search(r'<rect x="64" y="(\d+)" width="\d+" height="(\d+)" fill="none"', svg)
    top, height = float(match[1]), float(match[2])
    return top, top + height


def _points(svg: str) -> list[tuple[float, float]]:
    path = re.search(r'<path d="([^"]+)" fill="none"', svg)[1]
    return [tuple(map(float, p[1:].split(","))) for p in path.split()]


def test_time_axis_is_proportional_to_time_and_gaps_break_the_line():
    points = [
        TimePoint("a", T0, 0.5, n=10),
        TimePoint("b", T0 + dt.timedelta(days=10), 0.6, n=12),
        TimePoint("c", T0 + dt.timedelta(days=20), None, n=3, note="not enough data"),
        TimePoint("d", T0 + dt.timedelta(days=100), 0.7, n=11),
    ]
    chart = time_chart(title="t", x_label="Window", y_label="Coefficient",
                       series=[("alpha", points)], y_range=(-0.2, 1.0))
    svg = str(chart.svg)
    path = re.search(r'<path d="([^"]+)" fill="none"', svg)[1]
    assert path.count("M") == 2 and path.count("L") == 1  # a gap, not a 0
    xs = [p[0] for p in _points(svg)]
    # 10 days against 100 days: the spacing follows time.
    assert abs((xs[1] - xs[0]) / (xs[2] - xs[0]) - 0.1) < 0.01
    assert "n=10" in svg and "n=12" in svg and "n=11" in svg
    # The gap is marked on the axis with its n and why, not drawn as a point.
    gap = re.search(r'<g class="gap"><title>c: not enough data</title><text[^>]*>no value, n=3</text>', svg)
    assert gap and svg.count("n=3") == 1
    assert chart.rows[2] == ["c", "– (n = 3) not enough data"]
    assert chart.rows[0] == ["a", "0.50 (n = 10)"]


def test_out_of_range_points_and_bands_stay_inside_the_frame_and_are_marked():
    points = [
        TimePoint("a", T0, -0.9, ci95=(-1.0, -0.5), n=10),
        TimePoint("b", T0 + dt.timedelta(days=30), 0.8, ci95=(0.6, 0.95), n=10),
        TimePoint("c", T0 + dt.timedelta(days=60), 0.9, ci95=(0.7, 1.0), n=10),
    ]
    chart = time_chart(title="t", x_label="Window", y_label="Coefficient",
                       series=[("alpha", points)], y_range=(-0.2, 1.0))
    svg = str(chart.svg)
    top, bottom = _frame(svg)
    assert 'class="clipped"' in svg
    assert "(beyond the chart)" in chart.rows[0][1]
    for _x, y in _points(svg):
        assert top <= y <= bottom
    for band in re.findall(r'class="band" d="([^"]+)"', svg):
        for pair in re.findall(r"[\d.]+,([\d.]+)", band):
            assert top - 0.01 <= float(pair) <= bottom + 0.01
    assert svg.count('class="band"') == 1  # one shaded band along the unbroken line


def test_line_chart_draws_out_of_range_values_at_its_edge():
    chart = line_chart(title="t", x_label="x", y_label="y",
                       series=[("s", [("1", 0.5), ("2", -3.0), ("3", 1.7)])], y_range=(0, 1))
    svg = str(chart.svg)
    assert svg.count('class="clipped"') == 2
    plot_bottom = HEIGHT - 56
    coords = [float(v.split(",")[1]) for v in re.findall(r"[ML]([\d.]+,[\d.]+)", svg)]
    assert all(TOP <= c <= plot_bottom for c in coords)
    assert chart.rows[1] == ["2", "-3.00 (beyond the chart)"]


def test_monthly_points_put_a_gap_where_months_have_no_data():
    from training.charts import monthly_points

    points = monthly_points([("2026-11", 50.0, 4), ("2027-02", 75.0, 8), ("2027-03", None, 0)])
    assert [p.label for p in points] == ["2026-11", "2026-12", "2027-02", "2027-03"]
    assert points[1].value is None and points[0].n == 4 and points[3].n is None
    assert points[2].at.month == 2 and points[2].at.day == 15
