"""A reference panel covers every instrument of the case, not one: each existing panel keeps
its one instrument (its experts' scorings become scorings of that instrument), so no scoring,
consensus or provenance is lost; panels started from now on cover every bundled instrument."""

import django.db.models.deletion
from django.db import migrations, models


def forwards(apps, schema_editor):
    ReferencePanel = apps.get_model("vignettes", "ReferencePanel")
    PanelScoring = apps.get_model("vignettes", "PanelScoring")
    for panel in ReferencePanel.objects.all():
        panel.instrument_versions.add(panel.instrument_version_id)
        PanelScoring.objects.filter(panel=panel).update(
            instrument_version_id=panel.instrument_version_id)


def backwards(apps, schema_editor):
    ReferencePanel = apps.get_model("vignettes", "ReferencePanel")
    for panel in ReferencePanel.objects.all():
        versions = list(panel.instrument_versions.values_list("pk", flat=True))
        if len(versions) != 1:
            raise RuntimeError(
                f"Panel {panel.pk} covers {len(versions)} instruments; the earlier schema "
                "holds one instrument per panel.")
        panel.instrument_version_id = versions[0]
        panel.save(update_fields=["instrument_version"])


class Migration(migrations.Migration):

    dependencies = [
        ("vignettes", "0006_instrument_rules_bundled_corrections"),
    ]

    operations = [
        migrations.AlterField(
            model_name="referencepanel",
            name="instrument_version",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="+", to="vignettes.instrumentversion"),
        ),
        migrations.AddField(
            model_name="referencepanel",
            name="instrument_versions",
            field=models.ManyToManyField(related_name="panels", to="vignettes.instrumentversion"),
        ),
        migrations.AddField(
            model_name="panelscoring",
            name="instrument_version",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT,
                                    related_name="panel_scorings",
                                    to="vignettes.instrumentversion"),
        ),
        migrations.AlterField(
            model_name="panelscoring",
            name="member",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                    related_name="scorings", to="vignettes.panelmember"),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="panelscoring",
            name="instrument_version",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT,
                                    related_name="panel_scorings",
                                    to="vignettes.instrumentversion"),
        ),
        migrations.RemoveField(
            model_name="referencepanel",
            name="instrument_version",
        ),
        migrations.AddConstraint(
            model_name="panelscoring",
            constraint=models.UniqueConstraint(fields=("member", "instrument_version"),
                                               name="uniq_panel_scoring_per_instrument"),
        ),
    ]
