"""The trainee journey in a real browser: sign in, notice, score with autosave, reload,
submit, read feedback. Fails on any CSP violation or JavaScript error."""

import pytest

from tests.browser.conftest import WatchedPage, sign_in
from tests.conftest import make_member
from tests.training.helpers import PRACTICE, reference_for
from training.models import Attempt, AttemptStatus, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def choose_reference_codes(page, instrument, *, miss=None, only=None):
    ref = reference_for(PRACTICE, instrument)
    form = page.locator(f"#rating-{instrument}")
    form.locator(f"input[name=applicable][value={'yes' if ref.applicable else 'no'}]").check()
    if not ref.applicable:
        return
    for code, value in ref.item_states().items():
        if only is not None and code not in only:
            continue
        if code == miss:
            value = 1 - value if value in (0, 1) else 0
        form.locator(f"input[name='item-{code}'][value='{'omit' if value is None else value}']"
                     ).check()


def wait_saved(page, instrument):
    page.locator(f"#rating-{instrument} .save-status[data-state=saved]").wait_for()


def test_trainee_scores_with_autosave_reloads_submits_and_reads_feedback(
    content, live_server, watched
):
    from django.db import connection

    from training.models import Organization

    org = Organization.objects.create(name="Browser Service", slug="browser")
    make_member(org, Role.TRAINEE, "browser-trainee", notice_seen=False)
    connection.close()
    page = watched.page
    sign_in(page, live_server.url, "browser-trainee", wait_for="**/notice/**")
    watched.shot("1-notice")
    page.click("text=I understand, continue")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{live_server.url}/library/{PRACTICE}/")
    assert page.locator("h2", has_text="Identifying information").count() == 1
    page.click("text=Practise this case")
    page.click("text=Start scoring")
    page.wait_for_url("**/attempts/*/")
    watched.shot("2-scoring-empty")

    # Score CPORT with one deliberate miss; autosave confirms it.
    choose_reference_codes(page, "cport", miss="CPORT-1")
    wait_saved(page, "cport")
    expected = reference_for(PRACTICE, "cport").result().total
    total = page.locator("#rating-cport output.total").inner_text()
    assert abs(int(total) - expected) == 1
    # Half of STABLE, then reload mid-way: nothing confirmed is lost.
    choose_reference_codes(page, "stable-2007", only={"STABLE-1", "STABLE-2", "STABLE-3"})
    wait_saved(page, "stable-2007")
    page.reload()
    assert page.locator("#rating-cport .save-status").inner_text() == "Saved"
    ref_cport = reference_for(PRACTICE, "cport").item_states()
    for code, value in ref_cport.items():
        shown = 1 - value if code == "CPORT-1" else value
        assert page.locator(f"#rating-cport input[name='item-{code}'][value='{shown}']"
                            ).is_checked(), code
    assert page.locator("#rating-stable-2007 input[name='item-STABLE-2']:checked").count() == 1
    watched.shot("3-after-reload")

    choose_reference_codes(page, "stable-2007")
    wait_saved(page, "stable-2007")
    choose_reference_codes(page, "static-99r")
    wait_saved(page, "static-99r")
    page.click("text=Review and submit")
    watched.shot("4-confirm")
    page.click("button:has-text('Submit')")
    page.wait_for_url("**/feedback/")
    watched.shot("5-feedback")
    assert page.locator("tr.miss", has_text="CPORT-1").count() == 1
    assert page.locator(".summary", has_text="6 of 7 items agree").count() == 1
    attempt = Attempt.objects.get(user__username="browser-trainee")
    assert attempt.status == AttemptStatus.SUBMITTED
    watched.assert_clean()


def test_unconfirmed_edits_survive_a_lost_connection(content, live_server, watched):
    from django.db import connection

    from training.models import Organization

    org = Organization.objects.create(name="Offline Service", slug="offline")
    user = make_member(org, Role.TRAINEE, "offline-trainee")
    connection.close()
    page = watched.page
    sign_in(page, live_server.url, user.username)
    page.goto(f"{live_server.url}/practice/{PRACTICE}/")
    page.click("text=Start scoring")
    page.wait_for_url("**/attempts/*/")
    # The API is unreachable: the page says so and keeps retrying.
    page.route("**/api/v1/attempts/*/ratings/", lambda route: route.abort())
    choose_reference_codes(page, "cport", only={"CPORT-1", "CPORT-2"})
    page.locator("#rating-cport .save-status[data-state=retrying]").wait_for()
    watched.shot("1-retrying")
    # The connection comes back: the retry confirms the work.
    page.unroute("**/api/v1/attempts/*/ratings/")
    wait_saved(page, "cport")
    page.reload()
    assert page.locator("#rating-cport input[name='item-CPORT-2']:checked").count() == 1
    watched.assert_clean()


def test_scoring_form_posts_a_draft_and_submits_without_javascript(content, live_server, browser):
    """The scoring page's own form (the "Save" button a browser without JavaScript uses) posts a
    draft with the Origin Chromium sends; then the trainee submits."""
    from django.db import connection

    from training.models import Organization, Rating

    org = Organization.objects.create(name="Plain Service", slug="plain")
    make_member(org, Role.TRAINEE, "plain-trainee")
    connection.close()
    context = browser.new_context(java_script_enabled=False)
    page = WatchedPage(context.new_page(), "test_scoring_without_javascript").page
    sign_in(page, live_server.url, "plain-trainee")
    page.goto(f"{live_server.url}/practice/{PRACTICE}/")
    page.click("text=Start scoring")
    page.wait_for_url("**/attempts/*/")
    for instrument in ("cport", "stable-2007", "static-99r"):
        choose_reference_codes(page, instrument)
        page.locator(f"#rating-{instrument} button[type=submit]").click()
        page.wait_for_load_state()
    attempt = Attempt.objects.get(user__username="plain-trainee")
    assert Rating.objects.filter(attempt=attempt).count() == 3
    page.click("text=Review and submit")
    page.click("button:has-text('Submit')")
    page.wait_for_url("**/feedback/")
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUBMITTED
    context.close()
