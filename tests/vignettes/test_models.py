import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

import vignettes.migrations
from tests.factories import OrganizationFactory
from training.models import Organization
from vignettes.models import (
    Instrument,
    OwnedContent,
    Vignette,
    VignetteRevision,
    VignetteSet,
    next_number,
)


@pytest.mark.parametrize("model", [Instrument, Vignette, VignetteSet])
def test_instruments_vignettes_and_sets_are_owned_content(model):
    assert issubclass(model, OwnedContent)
    assert model._meta.get_field("owner").null


def test_owner_keeps_its_reverse_accessors():
    related = {f.related_model: f.get_accessor_name()
               for f in Organization._meta.related_objects}
    assert related[Instrument] == "instruments"
    assert related[Vignette] == "vignettes"
    assert related[VignetteSet] == "vignette_sets"


def test_visible_to_is_the_bundled_content_and_the_organisations_own(content):
    north, south = OrganizationFactory(), OrganizationFactory()
    own = Vignette.objects.create(slug="own-case", owner=north)
    theirs = Vignette.objects.create(slug="own-case", owner=south)

    visible = set(Vignette.objects.visible_to(north))

    assert own in visible and theirs not in visible
    assert set(Vignette.objects.bundled()) == visible - {own}
    assert set(Vignette.objects.visible_to(None)) == visible - {own}
    assert all(v.is_bundled for v in Vignette.objects.bundled())
    assert not own.is_bundled


# SQLite's schema editor cannot start inside the test's transaction; PostgreSQL's can.
@pytest.mark.django_db(transaction=connection.vendor == "sqlite")
def test_the_owned_content_migration_changes_nothing_in_the_database():
    [migration] = Path(vignettes.migrations.__file__).parent.glob("*_owned_content_abstract_model.py")
    out = io.StringIO()
    call_command("sqlmigrate", "vignettes", migration.stem, stdout=out)
    statements = [line for line in out.getvalue().splitlines()
                  if line.strip() and not line.startswith("--")
                  and line.strip() not in ("BEGIN;", "COMMIT;")]
    assert statements == []


def test_next_number_follows_the_highest_and_starts_at_one(content):
    vignette = Vignette.objects.create(slug="numbered-case", owner=OrganizationFactory())
    assert next_number(vignette.revisions.all()) == 1
    for number in (1, 3):  # a gap is never filled: numbers are never reused
        VignetteRevision.objects.create(vignette=vignette, number=number, title="t",
                                        body="b", content_hash=str(number))
    assert next_number(vignette.revisions.all()) == 4
