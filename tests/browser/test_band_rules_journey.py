"""The rule form in a real browser: band agreement is refused for CPORT (no published bands),
saved empty, shown as not applicable when the rule is edited, and kept for STABLE-2007. Fails
on any CSP violation, JavaScript error, CSRF refusal or server error."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from training.models import CertificationRule, Organization, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_band_agreement_only_for_an_instrument_with_bands(content, live_server, watched):
    org = Organization.objects.create(name="Band Rules", slug="band-rules")
    make_member(org, Role.ORG_ADMIN, "bands-admin")
    page = watched.page
    sign_in(page, live_server.url, "bands-admin")
    page.goto(f"{live_server.url}/certification/manage/rules/new/")
    page.get_by_label("Instrument").select_option("cport")
    band = page.get_by_label("Band agreement at least (0-1)")
    assert band.input_value() == "0.8"
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("CPORT has no published risk bands").first.wait_for()
    watched.shot("band-rule-refused")
    assert not CertificationRule.objects.filter(organization=org).exists()
    page.get_by_label("Band agreement at least (0-1)").fill("")
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("Certification rule saved.").wait_for()
    rule = CertificationRule.objects.get(organization=org)
    assert rule.band_agreement is None
    # Editing: the field is disabled and says why.
    assert page.get_by_label("Band agreement at least (0-1)").is_disabled()
    page.get_by_text("Not applicable: CPORT has no published risk bands.").wait_for()
    page.get_by_label("Validity (months)").fill("30")
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("Certification rule saved.").wait_for()
    rule.refresh_from_db()
    assert (rule.validity_months, rule.band_agreement) == (30, None)

    page.goto(f"{live_server.url}/certification/manage/rules/new/")
    page.get_by_label("Instrument").select_option("stable-2007")
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("Certification rule saved.").wait_for()
    assert CertificationRule.objects.get(
        organization=org, instrument__slug="stable-2007").band_agreement == 0.8
    page.goto(f"{live_server.url}/certification/manage/")
    page.get_by_text("not applicable (no published bands)").wait_for()
    watched.shot("band-rules-list")
