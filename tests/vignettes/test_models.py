import io
from pathlib import Path

import pytest
from django.core.management import call_command

import vignettes.migrations
from tests.factories import OrganizationFactory
from training.models import Organization
from vignettes.models import Instrument, OwnedContent, Vignette, VignetteSet


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


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor refuses an open transaction
def test_the_owned_content_migration_changes_nothing_in_the_database():
    [migration] = Path(vignettes.migrations.__file__).parent.glob("*_owned_content_abstract_model.py")
    out = io.StringIO()
    call_command("sqlmigrate", "vignettes", migration.stem, stdout=out)
    statements = [line for line in out.getvalue().splitlines()
                  if line.strip() and not line.startswith("--")
                  and line.strip() not in ("BEGIN;", "COMMIT;")]
    assert statements == []
