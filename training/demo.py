"""Demo data: an organisation and accounts so every page has something to show."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction

from training.models import Organization

DEMO_ORG_SLUG = "demo-probation-service"


@dataclass
class DemoResult:
    organization: Organization
    accounts: list[tuple[str, str]]


@transaction.atomic
def seed_demo(*, password: str) -> DemoResult:
    User = get_user_model()
    org, _ = Organization.objects.get_or_create(
        slug=DEMO_ORG_SLUG,
        defaults={"name": "Demo Probation Service", "time_zone": "Europe/London"},
    )
    accounts = [
        ("demo-staff", "site staff (Django admin)"),
        ("demo-admin", "organisation admin"),
        ("demo-instructor", "instructor"),
        ("demo-trainee", "trainee"),
        ("demo-trainee2", "trainee"),
    ]
    for username, _role in accounts:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.org"}
        )
        user.set_password(password)
        if username == "demo-staff":
            user.is_staff = user.is_superuser = True
        user.save()
    return DemoResult(organization=org, accounts=accounts)
