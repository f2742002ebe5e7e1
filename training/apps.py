from django.apps import AppConfig
from django.db.models.signals import (
    m2m_changed,
    post_delete,
    post_migrate,
    post_save,
    pre_delete,
    pre_save,
)


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
        # Deleting, deactivating and reactivating an account are audited however they happen
        # (the Django admin, a queryset, the shell): see training/audit.py. A new
        # password or a deactivation ends the user's API tokens, however it was made.
        from django.contrib.auth import get_user_model

        from training import audit
        from training.accounts import tokens
        from training.attempts.signals import attempt_sealed
        from training.certification.decisions import exam_sealed

        user_model = get_user_model()
        pre_delete.connect(audit.account_deleted, sender=user_model,
                           dispatch_uid="audit-account-deleted")
        pre_save.connect(audit.account_active_noted, sender=user_model,
                         dispatch_uid="audit-account-active-noted")
        post_save.connect(audit.account_active_changed, sender=user_model,
                          dispatch_uid="audit-account-active-changed")
        # A sealed exam is evaluated against the certification rules.
        attempt_sealed.connect(exam_sealed, dispatch_uid="certification-exam-sealed")
        pre_save.connect(tokens.remember_access_change, sender=user_model,
                         dispatch_uid="calibrate-remember-access-change")
        post_save.connect(tokens.end_access_after_change, sender=user_model,
                          dispatch_uid="calibrate-end-access-after-change")
        self._connect_snapshot_invalidation(user_model, attempt_sealed)

    @staticmethod
    def _connect_snapshot_invalidation(user_model, attempt_sealed):
        """Whatever changes a cohort snapshot's contents makes it unreachable at once
        (training/teaching/snapshot.py)."""
        from training import models as training_models
        from training.teaching import signals as teaching_signals
        from vignettes import models as content

        def connect(signal, receiver, sender, name):
            signal.connect(receiver, sender=sender, weak=False,
                           dispatch_uid=f"teach-snapshot-{name}-{signal_name(signal)}")

        def signal_name(signal):
            return {id(post_save): "saved", id(post_delete): "deleted",
                    id(pre_delete): "deleting", id(m2m_changed): "m2m"}[id(signal)]

        attempt_sealed.connect(teaching_signals.attempt_sealed,
                               dispatch_uid="teach-snapshot-attempt-sealed")
        for signal in (post_save, post_delete):
            connect(signal, teaching_signals.rating_changed, training_models.Rating, "rating")
            connect(signal, teaching_signals.cohort_changed, training_models.Cohort, "cohort")
            connect(signal, teaching_signals.rule_changed, training_models.CertificationRule,
                    "rule")
            for model in (content.Instrument, content.InstrumentVersion, content.Item,
                          content.ItemValue, content.Band, content.VignetteRevision,
                          content.ReferenceScoring, content.ReferenceItemScore):
                connect(signal, teaching_signals.content_changed, model,
                        f"content-{model.__name__}")
        connect(pre_delete, teaching_signals.attempt_deleted, training_models.Attempt,
                "attempt")
        connect(post_save, teaching_signals.user_changed, user_model, "user")
        connect(pre_delete, teaching_signals.user_deleted, user_model, "user")
        connect(m2m_changed, teaching_signals.trainees_changed,
                training_models.Cohort.trainees.through, "trainees")
