"""Recalibration pages: the holder's requirements and notices; the org admin's drift alerts
with their evidence, acknowledgement and resolution. Thin: services in
training.certification.recalibration."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from training.certification import recalibration
from training.models import AlertStatus, Role
from training.reliability.retest import MIN_PAIRS, MIN_PAIRS_ICC
from training.tenancy import with_membership

HOLDERS_PAGE_SIZE = 50  # live certificates per page of the alerts page


@never_cache
@with_membership()
def mine(request):
    return render(request, "training/recal/mine.html", {
        "rows": recalibration.holder_overview(user=request.user,
                                               organization=request.organization),
        "due_days": recalibration.RECALIBRATION_DUE_DAYS,
    })


@never_cache
@with_membership(Role.ORG_ADMIN)
def alerts(request):
    status = request.GET.get("status", "")
    if status not in AlertStatus.values:
        status = ""
    page = Paginator(recalibration.live_certificates_for_admin(organization=request.organization),
                     HOLDERS_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "training/recal/alerts.html", {
        "alerts": recalibration.alerts_for_admin(organization=request.organization,
                                                  status=status),
        "status": status, "statuses": AlertStatus.choices,
        "holders": recalibration.holders_for_admin(organization=request.organization,
                                                   certificates=page.object_list),
        "page": page, "filter_query": urlencode({"status": status} if status else {}),
        "retest_min_pairs": MIN_PAIRS, "retest_min_pairs_icc": MIN_PAIRS_ICC,
        "retest_min_months": 6,
    })


@never_cache
@with_membership(Role.ORG_ADMIN)
def alert_detail(request, alert_id):
    alert = recalibration.alert_get(organization=request.organization, alert_id=alert_id)
    ev = alert.evidence
    raw = ev.get("raw", ev.get("series", []))
    standardised = ev.get("series", []) if "raw" in ev else [""] * len(raw)
    rows = list(zip(ev.get("rating_ids", []), ev.get("times", []), raw, standardised,
                    ev.get("upper", []), ev.get("lower", []), strict=False))
    return render(request, "training/recal/alert.html", {
        "alert": alert, "chart": recalibration.alert_chart(alert), "rows": rows,
        "alarm_index": ev.get("alarm_index"),
    })


@with_membership(Role.ORG_ADMIN)
@require_POST
def alert_action(request, alert_id):
    try:
        recalibration.alert_transition(
            actor=request.user, organization=request.organization, alert_id=alert_id,
            action=request.POST.get("action", ""), note=request.POST.get("note", ""))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Alert updated."))
    return redirect("recal:alert", alert_id=alert_id)
