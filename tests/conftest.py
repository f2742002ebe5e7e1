import pytest
from django.core.management import call_command

from vignettes.models import Vignette


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    # The bundled content is loaded once per test database; tests run inside transactions
    # that roll back, so they all see it unchanged.
    with django_db_blocker.unblock():
        call_command("load_content", verbosity=0)


@pytest.fixture
def content(db):
    """The bundled content. Transactional tests flush the database, so reload if needed."""
    if not Vignette.objects.exists():
        call_command("load_content", verbosity=0)
    return Vignette.objects.filter(owner__isnull=True)
