from django.conf import settings
from django.db import migrations, models


def fill_name_snapshots(apps, schema_editor):
    """Events recorded before the snapshots existed get the names their people have now (the
    names they had then are not known any more). Members erased from an organisation whose
    account lives on elsewhere appear there under their pseudonym, as the pages show them."""
    AuditEvent = apps.get_model("training", "AuditEvent")
    Erasure = apps.get_model("training", "Erasure")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    for column in ("actor", "subject"):
        ids = set(
            AuditEvent.objects.filter(**{f"{column}__isnull": False})
            .values_list(f"{column}_id", flat=True).distinct()
        )
        for pk, username in User.objects.filter(pk__in=ids).values_list("pk", "username"):
            AuditEvent.objects.filter(**{f"{column}_id": pk}).update(
                **{f"{column}_username": username})
        for erasure in Erasure.objects.filter(original_user__isnull=False).select_related(
                "pseudonym"):
            AuditEvent.objects.filter(
                organization_id=erasure.organization_id, at__lte=erasure.erased_at,
                **{f"{column}_id": erasure.original_user_id},
            ).update(**{f"{column}_username": erasure.pseudonym.username})


def clear_name_snapshots(apps, schema_editor):
    AuditEvent = apps.get_model("training", "AuditEvent")
    AuditEvent.objects.exclude(actor_username="", subject_username="").update(
        actor_username="", subject_username="")


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0009_api_tokens_hashed_and_expiring"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="actor_username",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="auditevent",
            name="subject_username",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.RunPython(fill_name_snapshots, clear_name_snapshots),
    ]
