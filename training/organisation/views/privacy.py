"""Data-protection pages: a member's record, their export and erasure, the retention settings."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from training.models import (
    Attempt,
    Certificate,
    Cohort,
    Erasure,
    Role,
)
from training.organisation import erasure, retention
from training.organisation import export as export_services
from training.organisation.forms import EraseForm, RetentionForm, _add_service_errors
from training.organisation.views.members import _membership_or_404
from training.tenancy import with_membership

# --- Data protection: member page, export, erasure, retention settings ---------------------


@never_cache
@with_membership(Role.ORG_ADMIN)
def member_detail(request, membership_id):

    membership = _membership_or_404(request, membership_id)
    organization = request.organization
    user = membership.user
    erasure = Erasure.objects.filter(organization=organization, pseudonym=user).first()
    cohorts = Cohort.objects.filter(organization=organization)
    return render(
        request,
        "training/manage/member_detail.html",
        {
            "membership": membership,
            "member": user,
            "organization": organization,
            "org_zone": organization.time_zone,
            "erasure": erasure,
            "cohorts_trainee": cohorts.filter(trainees=user).order_by("name"),
            "cohorts_instructor": cohorts.filter(instructors=user).order_by("name"),
            "attempts": Attempt.objects.filter(organization=organization, user=user).count(),
            "certificates": Certificate.objects.filter(organization=organization,
                                                       holder=user).count(),
            "is_self": user.pk == request.user.pk,
        },
    )


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_POST
def member_export(request, membership_id):
    membership = _membership_or_404(request, membership_id)
    data = export_services.member_export(actor=request.user, organization=request.organization,
                                 user=membership.user)
    return privacy_json_response(data, organization=request.organization,
                                 membership=membership)


def privacy_json_response(data, *, organization, membership):
    from django.http import HttpResponse

    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True),
        content_type="application/json; charset=utf-8",
    )
    name = f"member-{organization.slug}-{membership.pk}.json"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def member_erase(request, membership_id):
    membership = _membership_or_404(request, membership_id)
    form = EraseForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            result = erasure.member_erase(
                actor=request.user, organization=request.organization, membership=membership,
                confirm=form.cleaned_data["confirm"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                _add_service_errors(form, exc)
            else:
                error = " ".join(exc.messages)
        else:
            messages.success(request, _(
                "The member was erased. Their ratings stay in the statistics under the "
                "pseudonym %(pseudonym)s.") % {"pseudonym": result.pseudonym})
            return redirect("manage:members")
    return render(
        request,
        "training/manage/member_erase.html",
        {"membership": membership, "form": form, "error": error,
         "already_erased": erasure.is_erased(membership.user),
         "other_orgs": erasure.used_elsewhere(membership.user, request.organization)},
        status=400 if request.method == "POST" else 200,
    )


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def organization_settings(request):
    organization = request.organization
    if request.method == "POST":
        form = RetentionForm(request.POST)
        if form.is_valid():
            try:
                retention.retention_settings_save(
                    actor=request.user, organization=organization,
                    draft_retention_days=form.cleaned_data["draft_retention_days"],
                    attempt_retention_days=form.cleaned_data["attempt_retention_days"],
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, _("Retention settings saved."))
                return redirect("manage:organization")
    else:
        form = RetentionForm(initial={
            "draft_retention_days": organization.draft_retention_days,
            "attempt_retention_days": organization.attempt_retention_days,
        })
    return render(
        request,
        "training/manage/organization.html",
        {"organization": organization, "form": form},
        status=400 if form.is_bound else 200,
    )
