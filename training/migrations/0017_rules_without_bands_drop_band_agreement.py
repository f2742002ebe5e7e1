"""No certification rule requires band agreement on an instrument without published bands.

CPORT's lower/middle/higher bands were the project's own groupings of the total; its bundled
definition no longer has bands (load_content makes a new CPORT version; past ratings and
certificates keep the version they were made on). Band agreement cannot be a CPORT criterion,
so every rule on the bundled CPORT, and every rule on an instrument whose current version has
no bands, stops requiring it. Reversing sets the default threshold back (0.80)."""

from django.db import migrations

BUNDLED_WITHOUT_BANDS = ("cport",)


def _rules_without_bands(apps):
    CertificationRule = apps.get_model("training", "CertificationRule")
    Band = apps.get_model("vignettes", "Band")
    with_bands = set(Band.objects.values_list("instrument_version_id", flat=True))
    for rule in CertificationRule.objects.select_related("instrument"):
        instrument = rule.instrument
        if (instrument.owner_id is None and instrument.slug in BUNDLED_WITHOUT_BANDS) or (
                instrument.current_version_id not in with_bands):
            yield rule


def switch_off(apps, schema_editor):
    CertificationRule = apps.get_model("training", "CertificationRule")
    ids = [rule.pk for rule in _rules_without_bands(apps) if rule.band_agreement is not None]
    CertificationRule.objects.filter(pk__in=ids).update(band_agreement=None)


def switch_back(apps, schema_editor):
    CertificationRule = apps.get_model("training", "CertificationRule")
    ids = [rule.pk for rule in _rules_without_bands(apps)]
    CertificationRule.objects.filter(pk__in=ids, band_agreement__isnull=True).update(
        band_agreement=0.80)


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0016_certification_rule_band_agreement_optional"),
        ("vignettes", "0003_owned_content_abstract_model"),
    ]

    operations = [migrations.RunPython(switch_off, switch_back)]
