"""Every role's main screens, at 1280 px and 390 px wide: one test per role signs in once per
width and visits that role's key pages, writing a screenshot of each to
artifacts/screenshots/role-<role>-<page>-<width>.png. Each page fails the test when it scrolls
sideways (the document wider than the window), on a console error or CSP violation, or on a
serious or critical axe-core finding. At 1280 px the header is one row and the account menu
(the user's name, organisation, password, two-factor sign-in, sign out) opens without
JavaScript."""

import pytest

from tests.browser.conftest import SCREENSHOTS, WatchedPage, sign_in, taught_cohort
from tests.conftest import make_member
from training.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTHS = ((1280, 900), (390, 844))
OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"
# The elements that stick out of the window, to say what widens the page.
WIDEST = """() => Array.from(document.querySelectorAll('main *, header *'))
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
  .filter(el => !el.closest('.table-scroll, .chart-svg, .nav-links'))
  .slice(0, 5).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
    + ' ' + Math.round(el.getBoundingClientRect().right))"""
HEADER = """() => {
  const nav = document.querySelector('.site-header nav');
  const rows = new Set();
  for (const el of nav.querySelectorAll(':scope > a, .nav-links a, .account-menu > summary')) {
    const r = el.getBoundingClientRect();
    rows.add(Math.round(r.top + r.height / 2));
  }
  const links = nav.querySelector('.nav-links');
  return {rows: [...rows], linksOverflow: links ? links.scrollWidth - links.clientWidth : 0};
}"""


def visit(browser, base, username, role, pages):
    """Sign in as `username` at each width and visit `pages` ((name, path) pairs)."""
    for width, height in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            page.set_default_timeout(20000)
            watched = WatchedPage(page, f"role-{role}")
            sign_in(page, base, username)
            for name, path in pages:
                page.goto(base + path)
                page.wait_for_load_state("load")
                page.screenshot(path=str(SCREENSHOTS / f"role-{role}-{name}-{width}.png"),
                                full_page=True)
                scroll_width, inner_width = page.evaluate(OVERFLOW)
                assert scroll_width <= inner_width, (
                    f"{path} at {width} px scrolls sideways: {scroll_width} > {inner_width}; "
                    f"widest: {page.evaluate(WIDEST)}")
                if width == 1280:
                    header = page.evaluate(HEADER)
                    # Every link and the account menu sit on one line, none hidden in the strip.
                    assert max(header["rows"]) - min(header["rows"]) <= 4, (path, header)
                    assert header["linksOverflow"] <= 0, (path, header)
                watched.shot(f"{name}-{width}")
            # The account menu opens (a <details>, no script) and holds the account links.
            page.goto(base + "/dashboard/")
            menu = page.locator("details.account-menu")
            assert menu.locator("summary").inner_text().startswith(username)
            menu.locator("summary").click()
            assert menu.get_by_role("button", name="Sign out").is_visible()
            assert menu.get_by_role("link", name="Account and password").is_visible()
            assert page.evaluate(OVERFLOW)[0] <= width
            watched.shot(f"account-menu-{width}")
            watched.assert_clean()
        finally:
            context.close()


@pytest.fixture
def service(content):
    """An organisation with a cohort with three months of simulated history, its instructor,
    an admin with a certification rule, and a trainee in the cohort."""
    from django.db import connection

    from training.certification import rules

    org, cohort, instructor = taught_cohort(
        "roles", "Spring cohort", "roles-instructor", trainees=6, vignettes=20, months=3, seed=5)
    admin = make_member(org, Role.ORG_ADMIN, "roles-organisation-admin")
    trainee = make_member(org, Role.TRAINEE, "roles-trainee")
    cohort.trainees.add(trainee)
    rule = rules.rule_save(actor=admin, organization=org, instrument_slug="stable-2007",
                           accept_short_exam=True)
    connection.close()
    return {"org": org, "cohort": cohort, "rule": rule}


def test_trainee_screens(service, live_server, browser):
    visit(browser, live_server.url, "roles-trainee", "trainee", [
        ("dashboard", "/dashboard/"),
        ("library", "/library/"),
        ("attempts", "/attempts/"),
        ("progress", "/progress/"),
        ("certificates", "/certification/"),
    ])


def test_instructor_screens(service, live_server, browser):
    cohort = service["cohort"].pk
    visit(browser, live_server.url, "roles-instructor", "instructor", [
        ("dashboard", "/dashboard/"),
        ("cohort-dashboard", f"/teach/cohorts/{cohort}/?instrument=stable-2007"),
        ("items", f"/teach/cohorts/{cohort}/items/?instrument=stable-2007"),
        ("assignments", "/manage/assignments/"),
        ("new-assignment", "/manage/assignments/new/"),
    ])


def test_org_admin_screens(service, live_server, browser):
    visit(browser, live_server.url, "roles-organisation-admin", "admin", [
        ("dashboard", "/dashboard/"),
        ("members", "/manage/members/"),
        ("audit", "/manage/audit/"),
        ("certification", "/certification/manage/"),
        ("rule-dstudy", f"/certification/manage/rules/{service['rule'].pk}/"),
        ("certificate-register", "/certification/manage/certificates/"),
        ("alerts", "/recalibration/alerts/"),
    ])


def test_author_and_expert_screens(content, live_server, browser):
    from django.db import connection

    from tests.vignettes.helpers import make_draft
    from training.models import Organization
    from vignettes.authoring import panels

    org = Organization.objects.create(name="Author Roles", slug="author-roles")
    lead = make_member(org, Role.INSTRUCTOR, "roles-author")
    expert = make_member(org, Role.INSTRUCTOR, "roles-expert")
    vignette = make_draft(org, lead)
    panel = panels.panel_create(vignette=vignette, organization=org, lead=lead,
                                expert_ids=[lead.pk, expert.pk])
    connection.close()
    visit(browser, live_server.url, "roles-author", "author", [
        ("authoring", "/author/"),
        ("draft", f"/author/vignettes/{vignette.pk}/"),
        ("panel", f"/author/panels/{panel.pk}/"),
    ])
    # The author also instructs in a second organisation: the account menu holds the switcher
    # (test_authoring_journey posts it).
    from training.models import Membership

    Membership.objects.create(user=lead, organization=Organization.objects.create(
        name="Second Service", slug="second-service"), role=Role.INSTRUCTOR)
    connection.close()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        watched = WatchedPage(page, "role-author")
        sign_in(page, live_server.url, "roles-author")
        menu = page.locator("details.account-menu")
        menu.locator("summary").click()
        assert menu.get_by_label("Organisation").is_visible()
        assert menu.get_by_role("button", name="Switch").is_visible()
        watched.shot("account-menu-switcher-1280")
    finally:
        context.close()
    visit(browser, live_server.url, "roles-expert", "expert", [
        ("dashboard", "/dashboard/"),
        ("panel", f"/author/panels/{panel.pk}/"),
    ])
