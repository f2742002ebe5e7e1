"""Browser tests: Debian's Chromium driven by Playwright, against the live test server.

Every page visited is watched for Content-Security-Policy violations and JavaScript errors;
either fails the test. Screenshots go to artifacts/screenshots/.
"""

import os
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
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations
    .filter(v => v.impact === 'serious' || v.impact === 'critical')
    .map(v => v.impact + ' ' + v.id + ': ' + v.help + ' -> ' +
         v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
}"""
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


class WatchedPage:
    """A page that records CSP violations and JS errors on every document it loads."""

    def __init__(self, page, name):
        self.page = page
        self.name = name
        self.console_problems = []
        page.add_init_script(WATCH)
        if not AXE.exists():
            pytest.fail(f"{AXE} is missing: run `make test` (it runs npm ci for axe-core)")
        # Injected by the browser itself (not as a page script), so the strict CSP holds.
        page.add_init_script(path=str(AXE))
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.console_problems.append(f"page error: {exc}"))

    def _console(self, message):
        text = message.text
        if message.type == "error" and ("Content Security Policy" in text or "Refused" in text):
            self.console_problems.append(text)

    def problems(self):
        try:
            found = self.page.evaluate("window.__calibrateProblems || []")
        except Exception:  # page navigating
            found = []
        return list(found) + self.console_problems

    def assert_clean(self):
        problems = self.problems()
        assert not problems, problems

    def accessibility_problems(self):
        return self.page.evaluate(AXE_RUN)

    def shot(self, step, *, accessibility=True):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{step}.png"), full_page=True)
        self.assert_clean()
        if accessibility:
            problems = self.accessibility_problems()
            assert not problems, f"{step}: {problems}"


@pytest.fixture
def watched(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield WatchedPage(page, request.node.name)
    context.close()
