import datetime as dt
import os

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import OrganizationFactory, UserFactory
from training.certification import rules
from training.models import ApiToken, Membership, Role
from training.tenancy import profile_for
from vignettes.models import Vignette


def pytest_addoption(parser):
    parser.addoption(
        "--clock", default=os.environ.get("CALIBRATE_TEST_CLOCK") or None, metavar="ISO",
        help="run the suite with the clock moved to this moment (UTC unless an offset is "
             "given), ticking from there; `make test-clock` runs the suite at awkward dates. "
             "Only SQLite follows it: PostgreSQL's own now() is not moved.",
    )


def pytest_configure(config):
    when = config.getoption("--clock")
    if when:
        moment = dt.datetime.fromisoformat(when)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        config._calibrate_clock = time_machine.travel(moment, tick=True)
        config._calibrate_clock.start()


def pytest_report_header(config):
    if config.getoption("--clock"):
        return f"clock moved to {config.getoption('--clock')}"
    return None


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The bundled content is loaded once per test database; tests run inside transactions
    # that roll back, so they all see it unchanged.
    with django_db_blocker.unblock():
        call_command("load_content", verbosity=0)


@pytest.fixture
def certificates_clock():
    """The clock fixed on a day when certificates issued on the tests' fixed 2026 dates are
    still valid: with the real clock (or `--clock`) they have expired by 2028."""
    with time_machine.travel(dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC), tick=True):
        yield


@pytest.fixture
def content(db):
    """The bundled content. Transactional tests flush the database, so reload if needed."""
    if not Vignette.objects.exists():
        call_command("load_content", verbosity=0)
    return Vignette.objects.filter(owner__isnull=True)

def make_member(organization, role, username, *, notice_seen=True):
    user = UserFactory(username=username)
    Membership.objects.get_or_create(user=user, organization=organization, defaults={"role": role})
    profile = profile_for(user)
    profile.active_organization = organization
    if notice_seen:
        profile.content_notice_seen_at = timezone.now()
    profile.save()
    return user


@pytest.fixture
def org(content):
    return OrganizationFactory(name="North Service", slug="north")


@pytest.fixture
def other_org(content):
    return OrganizationFactory(name="South Service", slug="south")


@pytest.fixture
def trainee(org):
    return make_member(org, Role.TRAINEE, "trainee-a")


@pytest.fixture
def trainee2(org):
    return make_member(org, Role.TRAINEE, "trainee-b")


@pytest.fixture
def outsider(other_org):
    return make_member(other_org, Role.TRAINEE, "trainee-south")


@pytest.fixture
def instructor(org):
    return make_member(org, Role.INSTRUCTOR, "instructor-a")


@pytest.fixture
def org_admin(org):
    return make_member(org, Role.ORG_ADMIN, "admin-a")


@pytest.fixture
def admin_b(other_org):
    return make_member(other_org, Role.ORG_ADMIN, "admin-south")


@pytest.fixture
def staff(db):
    """A site staff user (the Django admin), member of no organisation."""
    return UserFactory(username="site-staff", email="staff@example.org", is_staff=True,
                       is_superuser=True)


RULE_SAVED_AT = dt.datetime(2025, 12, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def rule(org, org_admin):
    """North's CPORT certification rule with the defaults, set before any test's exam."""
    return rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                           now=RULE_SAVED_AT)


def api_for(user) -> APIClient:
    client = APIClient()
    _, key = ApiToken.objects.create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def signed_in(user, **defaults) -> Client:
    """A client signed in by force_login; `defaults` are request defaults (REMOTE_ADDR...)."""
    client = Client(**defaults)
    client.force_login(user)
    return client


def browser_for(user) -> Client:
    """A session-authenticated client that enforces CSRF like a browser."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


@pytest.fixture
def api(trainee):
    return api_for(trainee)
