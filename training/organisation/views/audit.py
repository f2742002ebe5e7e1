"""The organisation's audit trail page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from training.audit import audit_display
from training.models import (
    AuditEvent,
    Erasure,
    Role,
)
from training.tenancy import with_membership

AUDIT_PAGE_SIZE = 50


# --- Audit trail ---------------------------------------------------------------------------


def _audit_actor_choices(events, organization) -> list[tuple[str, str]]:
    """Filter choices for the actor: people by their current name, members erased from this
    organisation by their pseudonym (events up to the erasure), deleted accounts by the name
    their events kept ("n:<name>"), "system" for the rest."""

    choices = []
    if events.filter(actor__isnull=True, actor_username="").exists():
        choices.append(("system", _("system")))
    deleted = events.filter(actor__isnull=True).exclude(actor_username="")
    choices += [(f"n:{name}", name) for name in
                deleted.order_by("actor_username").values_list("actor_username", flat=True)
                .distinct()]
    ids = set(events.exclude(actor__isnull=True).values_list("actor_id", flat=True).distinct())
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    erasures = Erasure.objects.filter(organization=organization, original_user_id__in=ids)
    for erasure in erasures.select_related("pseudonym"):
        choices.append((f"e{erasure.pk}", erasure.pseudonym.get_username()))
        if not events.filter(actor_id=erasure.original_user_id,
                             at__gt=erasure.erased_at).exists():
            names.pop(erasure.original_user_id, None)
    choices += [(str(pk), name) for pk, name in names.items()]
    return sorted(choices, key=lambda c: c[1].lower())


def _audit_filter_actor(events, organization, actor: str):

    if actor == "system":
        return events.filter(actor__isnull=True, actor_username="")
    if actor.startswith("n:") and len(actor) > 2:
        return events.filter(actor__isnull=True, actor_username=actor[2:])
    if actor.startswith("e") and actor[1:].isdigit():
        erasure = Erasure.objects.filter(organization=organization, pk=int(actor[1:])).first()
        if erasure is None or erasure.original_user_id is None:
            return events.none()
        return events.filter(actor_id=erasure.original_user_id, at__lte=erasure.erased_at)
    if actor.isdigit():
        events = events.filter(actor_id=int(actor))
        erasure = Erasure.objects.filter(organization=organization,
                                         original_user_id=int(actor)).order_by("-erased_at")
        if erasure.exists():
            events = events.filter(at__gt=erasure.first().erased_at)
        return events
    return events.none()


@never_cache
@with_membership(Role.ORG_ADMIN)
def audit(request):
    organization = request.organization
    events = AuditEvent.objects.filter(organization=organization)
    actions = list(events.order_by("action").values_list("action", flat=True).distinct())
    actors = _audit_actor_choices(events, organization)
    action = request.GET.get("action", "")
    actor = request.GET.get("actor", "")
    if action:
        events = events.filter(action=action)
    if actor:
        events = _audit_filter_actor(events, organization, actor)
    page = Paginator(events.order_by("-at", "-pk"), AUDIT_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        {"event": view.event, "view": view, "before": view.dumps("before"),
         "after": view.dumps("after")}
        for view in audit_display(page.object_list, organization=organization)
    ]
    filters = {k: v for k, v in (("action", action), ("actor", actor)) if v}
    return render(
        request,
        "training/manage/audit.html",
        {
            "organization": organization,
            "page": page,
            "rows": rows,
            "actions": actions,
            "actors": actors,
            "action": action,
            "actor": actor,
            "filter_query": urlencode(filters),
        },
    )
