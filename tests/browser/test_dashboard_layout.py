"""The cohort dashboard fits the screen: no horizontal page overflow at 1280 px or 390 px (wide
tables and the chart scroll inside their own box), its chart drawn inside its frame with the
gate's gaps, bands and n. Screenshots: artifacts/screenshots/dashboard-1280.png and -390.png."""

import pytest

from tests.browser.conftest import SCREENSHOTS, assert_line_chart_drawn, sign_in, taught_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"
INSIDE_FRAME = """fig => {
  const svg = fig.querySelector('.chart-svg svg');
  const frame = svg.querySelector('rect[fill="none"]').getBBox();
  const out = [];
  for (const el of svg.querySelectorAll('path, g > circle, g > rect, g > polygon')) {
    const b = el.getBBox();
    if (b.y < frame.y - 7 || b.y + b.height > frame.y + frame.height + 7) {
      out.push(el.outerHTML.slice(0, 80));
    }
  }
  return out;
}"""


def _no_page_overflow(page):
    scroll_width, inner_width = page.evaluate(OVERFLOW)
    assert scroll_width <= inner_width, (scroll_width, inner_width)


def test_dashboard_fits_1280_and_390_pixels(content, live_server, watched):
    _org, cohort, _instructor = taught_cohort(
        "fit", "Layout cohort", "fit-instructor", trainees=8, vignettes=26, months=3, seed=11)
    page = watched.page
    sign_in(page, live_server.url, "fit-instructor")
    page.goto(f"{live_server.url}/teach/cohorts/{cohort.pk}/?instrument=stable-2007")
    # Choose count windows on the page's own form, as a person would.
    page.select_option("select[name=window]", "units")
    page.fill("input[name=size]", "10")
    page.locator("form.filters", has=page.locator("select[name=window]")).locator(
        "button").click()
    page.wait_for_url("**window=units**")
    figure = page.locator("figure.chart-figure").first
    chart = assert_line_chart_drawn(figure, x_label="Window", y_label="Coefficient")
    assert chart["bands"] >= 1, "intervals are drawn as shaded bands"
    assert any(text.startswith("n=") for text in chart["texts"]), "n beside the points"
    assert figure.evaluate(INSIDE_FRAME) == []
    assert page.locator("#gate-note").is_visible()
    _no_page_overflow(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-1280.png"), full_page=True)
    watched.shot("1280")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    figure.wait_for()
    _no_page_overflow(page)
    # The wide tables scroll inside their own box instead of widening the page.
    box = page.locator("#trainee-table").evaluate(
        "t => [t.parentElement.clientWidth, t.parentElement.scrollWidth, "
        "getComputedStyle(t.parentElement).overflowX]")
    assert box[2] == "auto" and box[0] <= 390
    page.screenshot(path=str(SCREENSHOTS / "dashboard-390.png"), full_page=True)
    watched.shot("390")
    watched.assert_clean()
