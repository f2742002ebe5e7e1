"""Screenshots of the demo's key pages at 1280 px and 390 px wide, for reviewers.

    .venv/bin/python scripts/screenshots.py [BASE_URL]

Needs the demo running (`make demo`, or `manage.py runserver` on a database seeded with
`manage.py seed_demo`) and Debian's Chromium. Signs in as the demo instructor and the demo
organisation admin, checks that no page scrolls sideways, and writes PNGs to
artifacts/screenshots/.
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
PASSWORD = "calibrate-demo"
PAGES = {
    "demo-instructor": [("dashboard", "/teach/", "cohort-dashboard")],
    "demo-admin": [("rule", "/certification/manage/", "rule-page")],
}


def sign_in(page, username):
    page.goto(f"{BASE}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    if "notice" in page.url:
        page.get_by_role("button", name="I understand, continue").click()
        page.wait_for_load_state("networkidle")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                     args=["--headless", "--no-sandbox"])
        for user, pages in PAGES.items():
            for width in (1280, 390):
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.set_default_timeout(120_000)
                sign_in(page, user)
                for kind, start, name in pages:
                    page.goto(f"{BASE}{start}")
                    if kind == "dashboard":
                        page.locator("a[href*='/teach/cohorts/']").first.click()
                        page.goto(page.url.split("?")[0] + "?instrument=stable-2007")
                    else:
                        page.locator("a[href*='/certification/manage/rules/']:not([href$='/new/'])").first.click()
                    page.wait_for_load_state("networkidle")
                    overflow = page.evaluate(
                        "document.documentElement.scrollWidth - window.innerWidth")
                    if overflow > 0:
                        problems.append(f"{name} at {width} px scrolls sideways by {overflow} px")
                    path = OUT / f"{name}-{width}.png"
                    page.screenshot(path=str(path), full_page=True)
                    print(f"wrote {path.relative_to(OUT.parents[1])} ({page.url})")
                context.close()
        browser.close()
    for problem in problems:
        print("OVERFLOW:", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
