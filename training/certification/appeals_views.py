"""Appeal and void pages: the candidate's appeals, the org admin's register and decisions,
voiding an exam attempt, and site staff's page for appeals no admin may decide. Thin."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from training import formatting
from training.certification import appeals, decisions
from training.exceptions import Conflict
from training.models import AppealKind, AppealStatus, Role
from training.tenancy import with_membership


def _service_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for key, errors in exc.message_dict.items():
            form.add_error(key if key in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# --- the candidate -------------------------------------------------------------------------


class AppealForm(forms.Form):
    subject = forms.ChoiceField(label=gettext_lazy("What you appeal"))
    grounds = forms.CharField(
        label=gettext_lazy("Your grounds"), widget=forms.Textarea(attrs={"rows": 6}),
        max_length=appeals.MAX_TEXT,
        help_text=gettext_lazy("Say what you think is wrong and why: a reference you believe "
                               "is mistaken, a procedure not followed, a fact overlooked."))

    def __init__(self, *args, items, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["subject"].choices = [
            (i.key, _("%(label)s — until %(d)s") % {"label": i.label,
                                                    "d": formatting.day(i.until)})
            for i in items]


@never_cache
@with_membership()
@require_http_methods(["GET", "POST"])
def my_appeals(request):
    organization = request.organization
    items = appeals.appealable_for(user=request.user, organization=organization)
    form = AppealForm(request.POST or None, items=items)
    if request.method == "POST" and form.is_valid():
        kind, _sep, object_id = form.cleaned_data["subject"].partition(":")
        try:
            appeal = appeals.appeal_file(user=request.user, organization=organization,
                                         kind=kind, object_id=object_id,
                                         grounds=form.cleaned_data["grounds"])
        except ValidationError as exc:
            _service_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Your appeal was filed. You will be told the outcome."))
            return redirect("cert:appeal", appeal_id=appeal.pk)
    # One's own appeals (an admin's membership sees every appeal, so filter for everyone).
    rows = appeals.appeals_for(membership=request.membership).filter(user=request.user)
    return render(request, "training/cert/appeals_mine.html", {
        "form": form, "items": items, "rows": rows, "organization": organization,
        "ended": appeals.appeal_period_ended(user=request.user, organization=organization),
    }, status=400 if form.is_bound and form.errors else 200)


# --- one appeal: the candidate reads it, an admin decides it -------------------------------


class DecideForm(forms.Form):
    outcome = forms.ChoiceField(
        label=gettext_lazy("Outcome"), widget=forms.RadioSelect,
        choices=[(AppealStatus.UPHELD, gettext_lazy("Uphold: the original stands")),
                 (AppealStatus.OVERTURNED, gettext_lazy("Overturn"))])
    reasons = forms.CharField(label=gettext_lazy("Reasons (the candidate reads them)"),
                              widget=forms.Textarea(attrs={"rows": 5}),
                              max_length=appeals.MAX_TEXT)


def _appeal_page(request, appeal, *, form=None, refusal="", status=200, staff=False):
    decider = staff or request.membership.role == Role.ORG_ADMIN
    can_see_user = decider or appeal.user_id == request.user.pk
    if not can_see_user:
        raise PermissionDenied
    context = {"appeal": appeal, "refusal": refusal, "staff": staff, "decider": decider}
    if decider and appeal.status == AppealStatus.OPEN:
        refusal = refusal or appeals.appeal_decider_refusal(user=request.user, appeal=appeal)
        context["refusal"] = refusal
        context["eligible"] = appeals.eligible_admins(candidate=appeal.user,
                                                      organization=appeal.organization,
                                                      appeal=appeal)
        context["form"] = form or DecideForm()
        if appeal.kind == AppealKind.DECISION:
            context["re_evaluation"] = appeals.re_evaluate(appeal.decision)
    evaluation = appeal.re_evaluation or context.get("re_evaluation")
    if evaluation and (decider or appeal.status != AppealStatus.OPEN):
        context["re_criteria"] = decisions.criteria_for_display(
            evaluation["criteria"], appeal.decision.instrument_version.instrument)
    if appeal.kind == AppealKind.DECISION and decider:
        context["original_criteria"] = decisions.criteria_for_display(
            appeal.decision.criteria, appeal.decision.instrument_version.instrument)
    return render(request, "training/cert/appeal.html", context, status=status)


@never_cache
@with_membership()
def appeal_detail(request, appeal_id):
    appeal = appeals.appeal_get(membership=request.membership, appeal_id=appeal_id)
    return _appeal_page(request, appeal)


def _decide(request, appeal, *, organization, staff):
    form = DecideForm(request.POST)
    if form.is_valid():
        try:
            appeals.appeal_decide(actor=request.user, organization=organization,
                                  appeal_id=appeal.pk, outcome=form.cleaned_data["outcome"],
                                  reasons=form.cleaned_data["reasons"])
        except PermissionDenied as exc:
            return _appeal_page(request, appeal, form=form, refusal=str(exc), status=403,
                                staff=staff)
        except ValidationError as exc:
            _service_errors(form, exc)
        except Conflict as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The outcome was recorded and the candidate told."))
            return redirect("cert:staff-appeal" if staff else "cert:appeal",
                            appeal_id=appeal.pk)
    return _appeal_page(request, appeal, form=form, status=400, staff=staff)


@with_membership(Role.ORG_ADMIN)
@require_POST
def appeal_decide(request, appeal_id):
    appeal = appeals.appeal_get(membership=request.membership, appeal_id=appeal_id)
    return _decide(request, appeal, organization=request.organization, staff=False)


@never_cache
@staff_member_required
@require_http_methods(["GET", "POST"])
def staff_appeal(request, appeal_id):
    """Site staff decide an appeal only where no admin of its organisation is eligible."""
    appeal = appeals.appeal_get_for_staff(appeal_id=appeal_id)
    if request.method == "POST":
        return _decide(request, appeal, organization=None, staff=True)
    return _appeal_page(request, appeal, staff=True)


# --- the organisation's register and settings ----------------------------------------------


class AppealSettingsForm(forms.Form):
    appeal_days = forms.IntegerField(label=gettext_lazy("Days a candidate has to appeal"),
                                     min_value=1, max_value=3650)
    impartial_appeals = forms.BooleanField(
        label=gettext_lazy("Keep a candidate's instructors (an admin who teaches one of their "
                           "cohorts included) from deciding their appeals and voiding their "
                           "attempts"), required=False)


STATUS_FILTERS = [("", gettext_lazy("All"))] + list(AppealStatus.choices)


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def manage_appeals(request):
    organization = request.organization
    status_filter = request.GET.get("status", "")
    status = 200
    if status_filter not in AppealStatus.values:
        if status_filter:
            messages.error(request, _("Unknown status “%(s)s”: choose open, upheld or "
                                      "overturned. Showing all.") % {"s": status_filter})
            status = 400
        status_filter = ""
    if request.method == "POST":
        settings_form = AppealSettingsForm(request.POST)
        if settings_form.is_valid():
            try:
                appeals.appeal_settings_save(actor=request.user, organization=organization,
                                             **settings_form.cleaned_data)
            except ValidationError as exc:
                _service_errors(settings_form, exc)
            else:
                messages.success(request, _("Appeal settings saved."))
                return redirect("cert:manage-appeals")
        status = 400
    else:
        settings_form = AppealSettingsForm(initial={
            "appeal_days": organization.appeal_days,
            "impartial_appeals": organization.impartial_appeals})
    rows = list(appeals.appeals_for(membership=request.membership, status=status_filter))
    return render(request, "training/cert/appeals_manage.html", {
        "rows": rows, "filter": status_filter, "filters": STATUS_FILTERS,
        "settings_form": settings_form,
        "voids": appeals.voids_for(organization=organization),
    }, status=status)


class VoidForm(forms.Form):
    reason = forms.CharField(label=gettext_lazy("Reason (the candidate reads it)"),
                             widget=forms.Textarea(attrs={"rows": 5}),
                             max_length=appeals.MAX_TEXT)


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def attempt_void(request, attempt_id):
    organization = request.organization
    attempt = appeals.voidable_attempt_get(organization=organization, attempt_id=attempt_id)
    refusal = appeals.ineligibility(user=request.user, candidate=attempt.user,
                                    organization=organization)
    form = VoidForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                appeals.attempt_void(actor=request.user, organization=organization,
                                     attempt_id=attempt.pk, reason=form.cleaned_data["reason"])
            except PermissionDenied as exc:
                refusal, status = str(exc), 403
            except ValidationError as exc:
                _service_errors(form, exc)
            except Conflict as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("The attempt was voided and the candidate told."))
                return redirect("cert:manage-appeals")
    elif refusal:
        status = 403
    return render(request, "training/cert/attempt_void.html", {
        "attempt": attempt, "form": form, "refusal": refusal,
        "void": getattr(attempt, "void", None),
    }, status=status)
