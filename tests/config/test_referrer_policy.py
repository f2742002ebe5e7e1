"""The referrer policy keeps forms posting in a real browser: Chromium sends `Origin: null` on a
form post from a page whose policy is `no-referrer`, and Django's CSRF check refuses it (the test
client sends no Origin and never meets this)."""

from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# Policies under which a same-origin form post carries the page's real Origin.
POLICIES_THAT_SEND_ORIGIN = {"same-origin", "strict-origin", "strict-origin-when-cross-origin",
                             "origin", "origin-when-cross-origin"}


def test_the_site_policy_sends_origin_on_its_own_forms_and_nothing_to_other_sites():
    assert settings.SECURE_REFERRER_POLICY == "same-origin"
    assert settings.SECURE_REFERRER_POLICY in POLICIES_THAT_SEND_ORIGIN


def test_no_template_overrides_the_referrer_policy():
    templates = [
        path for folder in ("config", "training", "vignettes")
        for path in (ROOT / folder).rglob("templates/**/*.html")
    ]
    assert len(templates) > 20
    overriding = [str(path.relative_to(ROOT)) for path in templates
                  if 'name="referrer"' in path.read_text(encoding="utf-8")
                  or "referrerpolicy" in path.read_text(encoding="utf-8").lower()]
    assert overriding == []
