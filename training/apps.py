from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _create_cache_table(sender, using="default", **kwargs):
    # The database cache is the default cache; its table is not a model, so make sure it
    # exists wherever migrations run (fresh installs, test databases).
    from django.core.management import call_command

    call_command("createcachetable", database=using, verbosity=0)


class TrainingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "training"
    verbose_name = "Training"

    def ready(self):
        post_migrate.connect(_create_cache_table, sender=self)
        # A new password or a deactivation ends the user's API tokens, however it was made.
        from django.conf import settings
        from django.db.models.signals import post_save, pre_save

        from training.services import tokens

        pre_save.connect(tokens.remember_access_change, sender=settings.AUTH_USER_MODEL,
                         dispatch_uid="calibrate-remember-access-change")
        post_save.connect(tokens.end_access_after_change, sender=settings.AUTH_USER_MODEL,
                          dispatch_uid="calibrate-end-access-after-change")
