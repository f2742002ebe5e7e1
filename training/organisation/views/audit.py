"""The organisation's audit trail page."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from training.audit import audit_display
from training.models import (
    AuditEvent,
    Erasure,
    Role,
)
from training.organisation.forms import AuditFilterForm
from training.paging import list_page
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
    """The trail as sentences, newest first, 50 a page, with filters that the pages keep."""
    organization = request.organization
    events = AuditEvent.objects.filter(organization=organization)
    actions = list(events.order_by("action").values_list("action", flat=True).distinct())
    object_types = list(
        events.order_by("object_type").values_list("object_type", flat=True).distinct())
    actors = _audit_actor_choices(events, organization)
    form = AuditFilterForm(request.GET)
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        if data["action"]:
            events = events.filter(action=data["action"])
        if data["actor"]:
            events = _audit_filter_actor(events, organization, data["actor"])
        if data["object_type"]:
            events = events.filter(object_type=data["object_type"])
        if data["object_id"]:
            events = events.filter(object_id=data["object_id"])
        start, until = form.window(organization)
        if start:
            events = events.filter(at__gte=start)
        if until:
            events = events.filter(at__lt=until)
    else:
        # A filter that cannot be read filters nothing: the page says what is wrong.
        status = 400
    listing = list_page(request, events.order_by("-at", "-pk"), per_page=AUDIT_PAGE_SIZE,
                        keep=AuditFilterForm.FIELDS)
    rows = [
        {"event": view.event, "view": view, "before": view.dumps("before"),
         "after": view.dumps("after")}
        for view in audit_display(listing.rows, organization=organization)
    ]
    return render(
        request,
        "training/manage/audit.html",
        {
            "organization": organization,
            "form": form,
            "listing": listing,
            "page": listing.page,
            "rows": rows,
            "actions": actions,
            "object_types": object_types,
            "actors": actors,
            "action": request.GET.get("action", ""),
            "actor": request.GET.get("actor", ""),
            "object_type": request.GET.get("object_type", ""),
        },
        status=status,
    )
