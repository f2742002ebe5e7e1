"""django-rest-knox's own first migration creates its `knox_authtoken` table even though its
token model is swapped for training.ApiToken (KNOX_TOKEN_MODEL). The table stays empty and
unused, yet its foreign key to the users' table stops PostgreSQL from truncating that table
(test flushes, `manage.py flush`). Drop it once every knox migration has run; it is never
needed again. Going back recreates nothing: knox's migrations are the ones to create it.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0010_audit_event_name_snapshots"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS knox_authtoken", migrations.RunSQL.noop),
    ]
