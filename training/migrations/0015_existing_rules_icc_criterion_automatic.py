from django.db import migrations


def to_automatic(apps, schema_editor):
    """Every existing rule required ICC(A,1); it now follows the exam pool (empty =
    automatic): required where the pool's reference totals vary enough to judge a candidate."""
    apps.get_model("training", "CertificationRule").objects.update(icc_a1_required=None)


def to_always(apps, schema_editor):
    """Back to the old behaviour: ICC(A,1) required on every rule."""
    apps.get_model("training", "CertificationRule").objects.update(icc_a1_required=True)


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0014_rule_icc_automatic_and_short_exam_acceptance"),
    ]

    operations = [migrations.RunPython(to_automatic, to_always)]
