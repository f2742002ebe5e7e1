"""What makes a cohort snapshot out of date (training/teaching/snapshot.py), connected in
training/apps.py: each receiver replaces the token of the organisation concerned, or the
content token when shared content changes."""

from __future__ import annotations

from training.teaching import snapshot


def attempt_sealed(sender, attempt, **kwargs):
    snapshot.forget_organization(attempt.organization_id)


def _organization_of_rating(rating) -> int | None:
    attempt = rating._state.fields_cache.get("attempt")
    if attempt is not None:
        return attempt.organization_id
    from training.models import Attempt

    return Attempt.objects.filter(pk=rating.attempt_id).values_list(
        "organization_id", flat=True).first()


def rating_changed(sender, instance, **kwargs):
    """A submitted rating saved or deleted (sealing also sends attempt_sealed; this catches
    every other way, e.g. the admin or a data fix)."""
    if instance.submitted_at is None:
        return
    organization_id = _organization_of_rating(instance)
    if organization_id is not None:
        snapshot.forget_organization(organization_id)


def cohort_changed(sender, instance, **kwargs):
    snapshot.forget_organization(instance.organization_id)


def trainees_changed(sender, instance, action, **kwargs):
    if action not in ("post_add", "post_remove", "post_clear", "pre_clear"):
        return
    from training.models import Cohort

    if isinstance(instance, Cohort):
        snapshot.forget_organization(instance.organization_id)
    else:  # changed from the user's side
        for organization_id in set(Cohort.objects.filter(pk__in=kwargs.get("pk_set") or ())
                                   .values_list("organization_id", flat=True)):
            snapshot.forget_organization(organization_id)
        if action in ("post_clear", "pre_clear"):
            user_changed(sender, instance)


def rule_changed(sender, instance, **kwargs):
    snapshot.forget_organization(instance.organization_id)


def user_changed(sender, instance, **kwargs):
    """A renamed, erased or deleted account: its name is in the snapshots of its
    organisations' cohorts."""
    from training.models import Membership

    if kwargs.get("created"):
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "username" not in update_fields:
        return
    for organization_id in set(Membership.objects.filter(user_id=instance.pk)
                               .values_list("organization_id", flat=True)):
        snapshot.forget_organization(organization_id)


def content_changed(sender, **kwargs):
    snapshot.forget_content()


def user_deleted(sender, instance, **kwargs):
    user_changed(sender, instance)


def attempt_deleted(sender, instance, **kwargs):
    snapshot.forget_organization(instance.organization_id)
