"""Keyboard only: the scoring form, an instructor dashboard and the authoring form are used
with Tab, Shift+Tab, Space, the arrow keys and Enter, never the mouse. At every focus stop the
focus is visible (the :focus-visible ring) and forward Tab follows document order; the skip
link leads into the main content; every form control has an accessible name. Screenshots show
the focus ring; axe-core runs at each (see conftest)."""

import re

import pytest

from tests.browser.conftest import (
    Keyboard,
    assert_line_chart_drawn,
    taught_cohort,
    unlabelled_controls,
)
from tests.conftest import make_member
from tests.training.helpers import PRACTICE, reference_for
from tests.vignettes.helpers import case_body
from training.models import Attempt, AttemptStatus, Organization, RatingComment, Role
from vignettes.models import Vignette

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def is_(tag=None, **attrs):
    def predicate(info):
        if tag and info["tag"] != tag:
            return False
        return all(info.get(k) == v for k, v in attrs.items())
    return predicate


def keyboard_sign_in(page, kb, base, username):
    page.goto(f"{base}/accounts/login/")
    if (kb.focused() or {}).get("id") != "id_username":  # the field has autofocus
        kb.skip_to_main()
    assert kb.focused()["id"] == "id_username"
    page.keyboard.type(username)
    kb.tab_to(is_("input", id="id_password"), limit=3)
    page.keyboard.type("pw-for-tests-1")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dashboard/**")


def test_scoring_form_by_keyboard_only(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Keys Service", slug="keys")
    make_member(org, Role.TRAINEE, "keys-trainee")
    ref = reference_for(PRACTICE, "cport")
    codes = ref.item_states()
    assert ref.applicable and len(codes) >= 5
    connection.close()
    page = watched.page
    kb = Keyboard(page)
    keyboard_sign_in(page, kb, live_server.url, "keys-trainee")

    # Choose CPORT only and start.
    page.goto(f"{live_server.url}/practice/{PRACTICE}/")
    assert unlabelled_controls(page, "main") == []
    info = kb.skip_to_main()
    boxes = 0
    while info["type"] == "checkbox":
        boxes += 1
        if info["value"] != "cport":
            page.keyboard.press("Space")
        info = kb.tab()
    assert boxes == 3
    assert info["tag"] == "button" and info["text"] == "Start scoring"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/attempts/\d+/(#main)?$"))  # a redirect keeps the fragment
    assert page.locator("form.rating-form").count() == 1
    assert unlabelled_controls(page, "main") == []

    # The form in document order: case file, applicability, its rule, then per item the
    # coding note, the value group, the note; the rationale; the save button.
    info = kb.skip_to_main()
    assert info["tag"] == "article", "the scrollable case file is reachable first"
    info = kb.tab()
    assert info["name"] == "applicable" and info["type"] == "radio"
    kb.choose_radio("yes")
    assert kb.tab()["tag"] == "summary"  # "Applicability rule"
    # CPORT's rule on items omitted for lack of information, once for the instrument.
    missing = kb.tab()
    assert missing["tag"] == "summary" and missing["text"] == "Missing information", missing
    for n, (code, value) in enumerate(codes.items()):
        summary = kb.tab()
        assert summary["tag"] == "summary" and summary["text"] == "Coding note", summary
        stop = kb.tab()
        assert stop["type"] == "radio" and stop["name"] == f"item-{code}", stop
        kb.choose_radio("omit" if value is None else value)
        if n == 0:
            watched.shot("1-radio-focused")  # the focus ring on a value
        note = kb.tab()
        assert note["tag"] == "textarea" and note["name"] == f"note-{code}", note
        if n == 0:
            page.keyboard.type("Dates checked against the file.")
    rationale = kb.tab()
    assert rationale["name"] == "rationale"
    page.keyboard.type("Scored from the file by keyboard.")
    save = kb.tab()
    assert save["tag"] == "button" and save["text"] == "Save CPORT"
    # Shift+Tab goes back to the rationale, Tab forward again to the button.
    assert kb.tab(back=True)["name"] == "rationale"
    assert kb.tab()["text"] == "Save CPORT"
    with page.expect_response(lambda r: "/ratings/" in r.url and r.request.method == "PUT"
                              ) as saved:
        page.keyboard.press("Enter")
    assert saved.value.status == 200
    page.locator("#rating-cport .save-status[data-state=saved]").wait_for()
    assert page.locator("#rating-cport output.total").inner_text() == str(ref.result().total)
    watched.shot("2-saved")

    link = kb.tab()
    assert link["tag"] == "a" and link["text"] == "Review and submit"
    page.keyboard.press("Enter")
    page.wait_for_url("**/submit/**")
    assert unlabelled_controls(page, "main") == []
    kb.skip_to_main()
    assert kb.focused()["text"] == "Submit"
    watched.shot("3-confirm")
    page.keyboard.press("Enter")
    page.wait_for_url("**/feedback/**")
    assert page.locator(".summary", has_text=f"{len(codes)} of {len(codes)} items agree"
                        ).count() == 1
    assert "Dates checked against the file." in page.locator("#fb-" + PRACTICE + "-cport"
                                                             ).inner_text()
    watched.shot("4-feedback")
    attempt = Attempt.objects.get(user__username="keys-trainee")
    assert attempt.status == AttemptStatus.SUBMITTED
    rating = attempt.ratings.get()
    assert rating.rationale == "Scored from the file by keyboard."
    assert {i.item.code: i.value for i in rating.items.select_related("item")} == codes
    watched.assert_clean()


def test_dashboard_by_keyboard_only(content, live_server, watched):
    org, cohort, instructor = taught_cohort("keys-teach", "Keyboard cohort", "keys-instructor",
                                            trainees=4, vignettes=4, months=2, seed=5)
    page = watched.page
    kb = Keyboard(page)
    keyboard_sign_in(page, kb, live_server.url, "keys-instructor")

    page.goto(f"{live_server.url}/teach/")
    kb.skip_to_main()
    kb.tab_to(is_("a", text="Keyboard cohort"), limit=5)
    page.keyboard.press("Enter")
    page.wait_for_url("**/teach/cohorts/*/**")
    dashboard = page.url.split("?")[0]

    # The view tabs, then the instrument filter: choose STABLE-2007 and show it.
    kb.skip_to_main()
    kb.tab_to(is_("a", text="Items"), limit=6, what="the Items view tab")
    kb.tab_to(is_("select", name="instrument"), limit=6)
    kb.choose_option("stable-2007")
    assert kb.tab()["text"] == "Show"
    page.keyboard.press("Enter")
    page.wait_for_url("**instrument=stable-2007**")
    assert unlabelled_controls(page, "main") == []
    assert_line_chart_drawn(page.locator("figure.chart-figure").first,
                            x_label="Window", y_label="Coefficient",
                            gaps_only_ok=True)

    # The exports are reached by Tab and work with Enter.
    kb.skip_to_main()
    kb.tab_to(is_("a", text="Export ratings (CSV)"), limit=12)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    with open(download.value.path(), encoding="utf-8") as f:
        assert f.readline().startswith("trainee,vignette,vignette_revision,instrument")
    assert kb.tab()["text"] == "Export these statistics (CSV)"
    watched.shot("1-export-focused")

    # The window selector: a weekly window, then Show.
    kb.tab_to(is_("select", name="window"), limit=30)
    kb.choose_option("week")
    assert kb.tab()["name"] == "size"
    assert kb.tab()["text"] == "Show"
    watched.shot("2-window-chosen")
    page.keyboard.press("Enter")
    page.wait_for_url("**window=week**")
    assert page.url.startswith(dashboard)
    assert_line_chart_drawn(page.locator("figure.chart-figure").first,
                            x_label="Window", y_label="Coefficient",
                            gaps_only_ok=True)
    assert page.locator("select[name=window]").input_value() == "week"

    # A trainee's page: reach the first comment form, write, send with Enter on the button.
    kb.skip_to_main()
    kb.tab_to(lambda i: i["tag"] == "a" and i["text"].startswith("keys-")
              and "/trainees/" in i["href"], limit=40, what="a trainee link")
    page.keyboard.press("Enter")
    page.wait_for_url("**/trainees/**")
    assert unlabelled_controls(page, "main") == []
    kb.skip_to_main()
    kb.tab_to(is_("textarea", name="text"), limit=80, what="the first comment box")
    page.keyboard.type("Compare your S-items with the reference before the session.")
    button = kb.tab()
    assert button["text"] == "Add comment"
    watched.shot("3-comment-focused")
    page.keyboard.press("Enter")
    page.locator(".comment", has_text="Compare your S-items").first.wait_for()
    assert RatingComment.objects.filter(author=instructor).count() == 1
    watched.shot("4-comment-added")
    watched.assert_clean()


def test_authoring_form_by_keyboard_only(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Keys Authors", slug="keys-authors")
    make_member(org, Role.INSTRUCTOR, "keys-author")
    connection.close()
    page = watched.page
    kb = Keyboard(page)
    keyboard_sign_in(page, kb, live_server.url, "keys-author")
    page.goto(f"{live_server.url}/author/")
    kb.skip_to_main()
    kb.tab_to(is_("a", text="New vignette"), limit=5)
    page.keyboard.press("Enter")
    page.wait_for_url("**/author/vignettes/new/")
    assert unlabelled_controls(page, "main") == []
    fields = set(page.eval_on_selector_all(
        "form.author-form input:not([type=hidden]), form.author-form select, "
        "form.author-form textarea, form.author-form button",
        "els => els.map(e => e.name + '=' + (e.type === 'checkbox' ? e.value : ''))"))

    info = kb.skip_to_main()
    reached = []
    values = {
        "slug": "keyboard-k-csem",
        "title": "Kevin K. (case 203)",
        "hard_because": "The dates of the two convictions overlap.",
    }
    while True:
        reached.append(f"{info['name']}={info['value'] if info['type'] == 'checkbox' else ''}")
        if info["name"] in values:
            page.keyboard.type(values[info["name"]])
        elif info["name"] == "pool":
            kb.choose_option("exam")
        elif info["type"] == "checkbox" and info["value"] == "csem-exclusive":
            page.keyboard.press("Space")
        elif info["name"] == "body":
            page.keyboard.insert_text(case_body("Kevin K.", "keyboard"))
        elif info["name"] == "preview":
            break
        info = kb.tab()
    assert info["text"] == "Preview"
    assert fields - {"save="} <= set(reached), fields - set(reached)
    watched.shot("1-form-filled")
    page.keyboard.press("Enter")
    page.locator(".author-preview").wait_for()
    assert page.locator(".author-preview", has_text="Current situation").count() == 1
    assert page.locator("#id_pool").input_value() == "exam"
    assert page.locator("input[name=case_types][value=csem-exclusive]").is_checked()
    watched.shot("2-preview")
    kb.skip_to_main()
    kb.tab_to(is_("button", name="save"), limit=25)
    page.keyboard.press("Enter")
    page.locator("h1", has_text="Kevin K.").wait_for()
    vignette = Vignette.objects.get(owner=org, slug="keyboard-k-csem")
    assert vignette.status == "draft" and vignette.pool == "exam"
    watched.shot("3-saved")
    watched.assert_clean()
