"""Browser tests: Debian's Chromium driven by Playwright, against the live test server.

Every page visited is watched for Content-Security-Policy violations and JavaScript errors;
either fails the test. Every response a watched page receives (navigations, form posts, the
scoring page's fetches) is watched too: a CSRF refusal (403 naming CSRF) or any server error
(5xx) fails the test, even when the page afterwards looks fine. Screenshots go to artifacts/screenshots/; at each screenshot axe-core
checks the page (every rule axe runs by default, the labelling rules among them) and writes
all its findings to artifacts/accessibility/; a serious or critical one fails the test.

Shared helpers for the journeys live here: `sign_in`, the keyboard helpers (`Keyboard`:
Tab through a page checking that every focus stop is visible and follows document order)
and `unlabelled_controls` (every form control has a non-empty accessible name, as the
browser computes it).
"""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the Django ORM calls the tests make
# between browser steps are ordinary synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CALIBRATE_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ACCESSIBILITY = ROOT / "artifacts" / "accessibility"
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  const ran = [].concat(result.violations, result.passes, result.incomplete, result.inapplicable)
    .map(r => r.id);
  return {
    ran: ran,
    violations: result.violations.map(v => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 5).map(n => n.target.join(' '))
    }))
  };
}"""
# The rules that check that every control, button, link and image has an accessible name: the
# run must include them (a configuration that switched them off would pass silently).
LABEL_RULES = {"label", "button-name", "select-name", "link-name", "input-button-name",
               "aria-input-field-name", "image-alt", "svg-img-alt", "form-field-multiple-labels"}
BLOCKING = {"serious", "critical"}
WATCH = """
window.__calibrateProblems = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__calibrateProblems.push('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI);
});
window.addEventListener('error', function (e) {
  window.__calibrateProblems.push('JS error: ' + e.message);
});
"""


@pytest.fixture(scope="session")
def browser():
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium) "
            "or `apt-get install chromium`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


# Every WatchedPage made during the current test; the autouse fixture below checks their
# responses when the test ends, so a test that never calls assert_clean is still covered.
_WATCHED_PAGES = []


def http_problem(status, url, body):
    """Why a response must fail a browser test, or None: the CSRF refusal a real browser meets
    (and the Django test client hides), or any server error."""
    if status >= 500:
        return f"server error {status} at {url}"
    if status == 403 and "csrf" in body.lower():
        text = re.sub(r"\s+", " ", re.sub(r"<(style|script).*?</\1>|<[^>]+>", " ", body, flags=re.S))
        said = re.search(r"[^.]*CSRF[^.]*\.", text, re.I)
        return f"CSRF refused at {url}: {said.group(0).strip() if said else text[:200]}"
    return None


class WatchedPage:
    """A page that records CSP violations and JS errors on every document it loads, and every
    CSRF refusal or server error among the responses it receives."""

    def __init__(self, page, name):
        self.page = page
        self.name = name
        self.console_problems = []
        self.http_problems = []
        page.on("response", self._response)
        _WATCHED_PAGES.append(self)
        page.add_init_script(WATCH)
        if not AXE.exists():
            pytest.fail(f"{AXE} is missing: run `make test` (it runs npm ci for axe-core)")
        # Injected by the browser itself (not as a page script), so the strict CSP holds.
        page.add_init_script(path=str(AXE))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.console_problems.append(f"page error: {exc}"))

    def _response(self, response):
        status = response.status
        if status < 500 and status != 403:
            return
        try:
            body = response.text() if status == 403 else ""
        except Exception:  # the body is gone (the page moved on): only the status is known
            body = ""
        problem = http_problem(status, response.url, body)
        if problem:
            self.http_problems.append(f"{response.request.method} {problem}")

    def _console(self, message):
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused" in text):
            self.console_problems.append(text)

    def problems(self):
        try:
            found = self.page.evaluate("window.__calibrateProblems || []")
        except Exception:  # page navigating
            found = []
        return list(found) + self.console_problems + self.http_problems

    def assert_clean(self):
        problems = self.problems()
        assert not problems, problems

    def accessibility_problems(self, step="page"):
        """axe-core on the current page: every finding is written to artifacts/accessibility/;
        returns the serious and critical ones."""
        result = self.page.evaluate(AXE_RUN)
        missing = LABEL_RULES - set(result["ran"])
        assert not missing, f"axe did not run the labelling rules {sorted(missing)}"
        ACCESSIBILITY.mkdir(parents=True, exist_ok=True)
        (ACCESSIBILITY / f"{self.name}-{step}.json").write_text(
            json.dumps({"url": self.page.url, "violations": result["violations"]}, indent=1),
            encoding="utf-8",
        )
        return [
            f"{v['impact']} {v['id']}: {v['help']} -> {' | '.join(v['targets'][:3])}"
            for v in result["violations"] if v["impact"] in BLOCKING
        ]

    def shot(self, step, *, accessibility=True):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{step}.png"), full_page=True)
        self.assert_clean()
        if accessibility:
            problems = self.accessibility_problems(step)
            assert not problems, f"{step}: {problems}"


@pytest.fixture(autouse=True)
def fail_on_csrf_refusal_or_server_error():
    """After each browser test: no watched page met a CSRF refusal or a server error."""
    _WATCHED_PAGES.clear()
    yield
    problems = [p for watched in _WATCHED_PAGES for p in watched.http_problems]
    _WATCHED_PAGES.clear()
    assert not problems, problems


@pytest.fixture
def watched(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield WatchedPage(page, request.node.name)
    context.close()


def sign_in(page, base, username, *, wait_for="**/dashboard/"):
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")
    if wait_for:
        page.wait_for_url(wait_for)


# --- accessible names ----------------------------------------------------------------------

CONTROLS = ("input:not([type=hidden]), select, textarea, button, "
            "[role=button], [role=radio], [role=checkbox], [role=combobox]")


def unlabelled_controls(page, scope="body"):
    """Every form control in `scope` whose accessible name, as Chromium computes it (label,
    aria-label, aria-labelledby, a button's text...), is empty. Returns their outer HTML
    (an empty list: every control is labelled)."""
    from playwright.sync_api import expect

    controls = page.locator(scope).locator(CONTROLS)
    count = controls.count()
    assert count > 0, f"no form control found in {scope}"
    missing = []
    for i in range(count):
        control = controls.nth(i)
        try:
            expect(control).to_have_accessible_name(re.compile(r"\S"), timeout=500)
        except AssertionError:
            missing.append(control.evaluate("el => el.outerHTML.slice(0, 160)"))
    return missing


# --- keyboard ------------------------------------------------------------------------------

FOCUS_INFO = r"""() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) { return null; }
  const s = getComputedStyle(el);
  const label = el.labels && el.labels.length ? el.labels[0].innerText : '';
  const group = el.closest('fieldset');
  return {
    tag: el.tagName.toLowerCase(), type: el.getAttribute('type') || '', name: el.name || '',
    id: el.id || '', value: el.value === undefined ? '' : String(el.value),
    checked: !!el.checked, href: el.getAttribute('href') || '',
    text: (el.innerText || '').trim().slice(0, 80), label: label.trim().slice(0, 80),
    fieldset: group ? group.id : '',
    order: Array.prototype.indexOf.call(document.getElementsByTagName('*'), el),
    inMain: !!el.closest('main'),
    focusVisible: el.matches(':focus-visible'),
    outlineStyle: s.outlineStyle, outlineWidth: parseFloat(s.outlineWidth) || 0,
    outlineColor: s.outlineColor, boxShadow: s.boxShadow,
    // Contrast of the outline against what surrounds the element (WCAG 1.4.11: 3:1).
    ringContrast: (() => {
      const rgb = c => { const m = /rgba?\(([^)]+)\)/.exec(c || '');
                         return m ? m[1].split(',').map(parseFloat) : null; };
      const lum = c => { const v = c.slice(0, 3).map(x => { x /= 255;
                           return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); });
                         return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
      const ring = rgb(s.outlineColor);
      if (!ring || s.outlineStyle === 'none') { return null; }
      let bg = [255, 255, 255];
      for (let n = el.parentElement; n; n = n.parentElement) {
        const c = rgb(getComputedStyle(n).backgroundColor);
        if (c && (c.length < 4 || c[3] > 0)) { bg = c; break; }
      }
      const a = lum(ring), b = lum(bg);
      return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    })(),
    onScreen: (() => { const r = el.getBoundingClientRect();
                       return r.width > 0 && r.height > 0 && r.right > 0 && r.bottom > 0 &&
                              r.left < innerWidth && r.top < innerHeight; })()
  };
}"""


def describe(info):
    if info is None:
        return "<nothing focused>"
    bits = [info["tag"]]
    for key in ("type", "name", "id", "value"):
        if info[key]:
            bits.append(f"{key}={info[key]!r}")
    text = info["text"] or info["label"]
    if text:
        bits.append(repr(text[:40]))
    return " ".join(bits)


class Keyboard:
    """Drives a page with the keyboard only, checking at every focus stop that the focus is
    visible (the :focus-visible outline, at least 2 px and 3:1 against its surroundings, or a
    box-shadow) and on screen, and that forward Tab stops follow document order (no tabindex
    scrambles the form)."""

    def __init__(self, page):
        self.page = page
        self.stops = []

    def focused(self):
        return self.page.evaluate(FOCUS_INFO)

    def assert_visible(self, info):
        assert info is not None, "focus went nowhere"
        assert info["focusVisible"], f"{describe(info)} is focused without :focus-visible"
        ringed = (info["outlineStyle"] not in ("none", "") and info["outlineWidth"] >= 2) or (
            info["boxShadow"] not in ("none", ""))
        assert ringed, f"no visible focus indicator on {describe(info)}: {info}"
        if info["ringContrast"] is not None:
            assert info["ringContrast"] >= 3, (
                f"focus ring of {describe(info)} has contrast {info['ringContrast']:.2f} < 3")
        assert info["onScreen"], f"{describe(info)} is focused but off screen"

    def press(self, key):
        self.page.keyboard.press(key)
        info = self.focused()
        if key in ("Tab", "Shift+Tab"):
            self.assert_visible(info)
            if key == "Tab" and self.stops and info["order"] <= self.stops[-1]["order"]:
                raise AssertionError(
                    f"tab order goes backwards: {describe(self.stops[-1])} -> {describe(info)}")
            self.stops.append(info)
        return info

    def tab(self, *, back=False):
        return self.press("Shift+Tab" if back else "Tab")

    def tab_to(self, predicate, *, limit=200, what="target"):
        """Press Tab until predicate(focus info) holds (or return at once if the focused
        element already matches); returns that info."""
        info = self.focused()
        if info is not None and predicate(info):
            return info
        for _ in range(limit):
            info = self.tab()
            if predicate(info):
                return info
        raise AssertionError(f"{what} not reached by Tab in {limit} presses; stops: "
                             + "; ".join(describe(s) for s in self.stops[-15:]))

    def skip_to_main(self):
        """The first Tab on a page reaches the skip link, which is then shown (on screen, with
        its focus ring); Enter on it moves the next Tab into <main>. A page whose address
        already ends in #main (a form or redirect keeps the fragment of the page the skip link
        was used on) starts there: its first Tab goes straight into <main>."""
        self.stops = []
        info = self.tab()
        if info["tag"] == "a" and info["href"] == "#main":
            self.page.keyboard.press("Enter")
            self.stops = []
            info = self.tab()
        else:
            assert self.page.evaluate("location.hash") == "#main", (
                f"the first Tab went to {describe(info)}, not to the skip link")
        assert info["inMain"], f"after the skip link, Tab went to {describe(info)}"
        return info

    def choose_radio(self, value):
        """Focus is on a radio of a group: select the one with `value` by arrow keys (or Space
        when the focused radio is the one). Arrow keys move and check within the group."""
        info = self.focused()
        assert info["type"] == "radio", describe(info)
        name = info["name"]
        values = self.page.eval_on_selector_all(
            f"input[type=radio][name='{name}']", "els => els.map(e => e.value)")
        if info["value"] == str(value):
            self.page.keyboard.press("Space")
        else:
            steps = (values.index(str(value)) - values.index(info["value"])) % len(values)
            for _ in range(steps):
                self.page.keyboard.press("ArrowRight")
        info = self.focused()
        assert info["name"] == name and info["value"] == str(value) and info["checked"], info
        self.assert_visible(info)
        return info

    def choose_option(self, value, *, limit=30):
        """Focus is on a <select>: move with the arrow keys until `value` is selected."""
        info = self.focused()
        assert info["tag"] == "select", describe(info)
        for key in ("ArrowDown", "ArrowUp"):
            for _ in range(limit):
                if self.focused()["value"] == value:
                    return self.focused()
                before = self.focused()["value"]
                self.page.keyboard.press(key)
                if self.focused()["value"] == before:
                    break
        raise AssertionError(f"option {value!r} not reachable by arrow keys")


# --- charts --------------------------------------------------------------------------------

CHART_READ = """fig => {
  const svg = fig.querySelector('.chart-svg svg');
  if (!svg) { return null; }
  const box = svg.getBoundingClientRect();
  const table = fig.querySelector('table.chart-table');
  return {
    role: svg.getAttribute('role'), label: svg.getAttribute('aria-label'),
    title: (svg.querySelector('title') || {}).textContent,
    texts: Array.from(svg.querySelectorAll('text')).map(t => t.textContent.trim()),
    paths: Array.from(svg.querySelectorAll('path:not(.band)')).map(p => p.getAttribute('d')),
    bands: svg.querySelectorAll('path.band').length,
    tips: Array.from(svg.querySelectorAll('g > title')).map(t => t.textContent.trim()),
    markers: svg.querySelectorAll('circle, polygon, rect[width="8"]').length,
    hlines: svg.querySelectorAll('line[stroke-dasharray], line[stroke-width="2"]').length,
    width: box.width, height: box.height,
    caption: table ? table.caption.textContent.trim() : null,
    header: table ? Array.from(table.querySelectorAll('thead th')).map(c => c.textContent.trim()) : [],
    rows: table ? Array.from(table.querySelectorAll('tbody tr')).map(
      tr => Array.from(tr.children).map(c => c.textContent.trim())) : []
  };
}"""


def read_chart(figure):
    """What a chart figure (figure.chart-figure) actually drew, and the table beside it."""
    figure.wait_for()
    chart = figure.evaluate(CHART_READ)
    assert chart is not None, "no SVG in the chart figure"
    assert chart["role"] == "img" and chart["label"] and chart["label"] == chart["title"]
    assert chart["width"] > 300 and chart["height"] > 100, chart
    assert chart["caption"] and chart["title"] in chart["caption"], "no data table beside"
    return chart


def assert_line_chart_drawn(figure, *, x_label, y_label, gaps_only_ok=False):
    """The line chart has its axis labels, one path per series with values (broken at gaps),
    and exactly one marker per number in the table beside it (plus one legend marker per
    series); every x value of the table is a label on the axis, or for a chart over time
    named by its point's tooltip (up to 12). Shaded interval bands are not lines."""
    chart = read_chart(figure)
    assert x_label in chart["texts"] and y_label in chart["texts"], chart["texts"]
    series = chart["header"][1:]
    assert chart["header"][0] == x_label and series, chart["header"]
    assert chart["rows"], "the chart's table is empty"
    values = [cell for row in chart["rows"] for cell in row[1:] if not cell.startswith("–")]
    # A chart of reliability among raters on a small cohort may hold gaps only ("not enough
    # data" in every window): then nothing but the legend is drawn.
    assert values or gaps_only_ok, "no value drawn"
    assert chart["markers"] == len(values) + len(series), chart
    points = sum(d.count("M") + d.count("L") for d in chart["paths"])
    assert points == len(values), (chart["paths"], values)
    assert all(d.startswith("M") for d in chart["paths"])
    for name in series:
        assert name in chart["texts"], f"legend lacks {name}"
    # A chart over time has calendar ticks on its axis and names each point in its tooltip;
    # a chart over categories has every x value on the axis (up to 12).
    for row in chart["rows"] if len(chart["rows"]) <= 12 else []:
        drawn = any(not cell.startswith("–") for cell in row[1:])
        if chart["tips"] or not values:
            assert not drawn or any(f", {row[0]}:" in tip for tip in chart["tips"]), row
        else:
            assert row[0] in chart["texts"], f"x label {row[0]} not on the axis"
    return chart


def assert_scatter_chart_drawn(figure, *, x_label, y_label, lines):
    """A scatter (e.g. Bland-Altman): axis labels, one point per table row, and the named
    horizontal lines drawn and listed."""
    chart = read_chart(figure)
    assert x_label in chart["texts"] and y_label in chart["texts"], chart["texts"]
    assert chart["header"] == [x_label, y_label]
    line_rows = [row for row in chart["rows"] if row[0] in lines]
    assert [row[0] for row in line_rows] == list(lines)
    points = len(chart["rows"]) - len(lines)
    assert points >= 1 and chart["markers"] == points, chart
    assert chart["hlines"] == len(lines)
    for name, row in zip(lines, line_rows, strict=True):
        assert f"{name} {row[1]}" in chart["texts"], (name, chart["texts"])
    return chart


def taught_cohort(slug, cohort_name, instructor_username, *, trainees, vignettes, months, seed):
    """An organisation with a cohort that has `months` of simulated STABLE-2007 history and an
    instructor teaching it; the connection is closed so the live server sees the rows."""
    import datetime as dt

    from django.db import connection
    from django.utils import timezone

    from tests.conftest import make_member
    from training.models import Cohort, Organization, Role
    from training.simulation import simulate_cohort

    org = Organization.objects.create(name=slug.replace("-", " ").title(), slug=slug)
    cohort = Cohort.objects.create(organization=org, name=cohort_name)
    simulate_cohort(organization=org, cohort=cohort, trainees=trainees, vignettes=vignettes,
                    months=months, seed=seed, start=timezone.now() - dt.timedelta(days=months * 30 + 1),
                    instruments=["stable-2007"], username_prefix=f"{slug}-")
    instructor = make_member(org, Role.INSTRUCTOR, instructor_username)
    cohort.instructors.add(instructor)
    connection.close()
    return org, cohort, instructor
