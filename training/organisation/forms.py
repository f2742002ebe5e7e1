"""Forms of the organisation pages, and the helper that shows a service's ValidationError on them."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from training.certification import rules as rule_services
from training.models import (
    Assignment,
    AssignmentKind,
    FeedbackPolicy,
    Mode,
    Role,
)
from training.tenancy import STAFF_ROLES
from vignettes import selectors as content_selectors
from vignettes.models import VignetteSet

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


def _org_zone(organization) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(organization.time_zone or "UTC")


def _add_service_errors(form: forms.Form, exc: ValidationError, aliases=None) -> None:
    """Show a service's ValidationError next to the form fields it names."""
    aliases = aliases or {}
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.error_dict.items():
        field = aliases.get(key, key)
        messages_ = [m for e in errors for m in e.messages]
        form.add_error(field if field in form.fields else None, messages_)


class UserChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.get_username()} <{obj.email}>" if obj.email else obj.get_username()


def _org_users(organization, roles):
    return (
        get_user_model()
        .objects.filter(memberships__organization=organization, memberships__role__in=roles)
        .order_by("username")
    )


# --- Members -------------------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(label=gettext_lazy("E-mail"), max_length=254)
    role = forms.ChoiceField(label=gettext_lazy("Role"), choices=Role.choices,
                             initial=Role.TRAINEE)


class CsvImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy(
            "UTF-8, with a header row: email,role. Roles: trainee, instructor, org_admin. "
            "If any line is wrong, nobody is invited."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
    )


class EraseForm(forms.Form):
    confirm = forms.CharField(
        label=gettext_lazy("Type the member's username to confirm"), max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class RetentionForm(forms.Form):
    draft_retention_days = forms.IntegerField(
        label=gettext_lazy("Delete unsubmitted practice attempts untouched for (days)"),
        required=False, min_value=1, max_value=36500,
        help_text=gettext_lazy("Exam attempts, submitted work and attempts behind a current "
                               "certificate are never deleted. Empty = keep forever."),
    )
    attempt_retention_days = forms.IntegerField(
        label=gettext_lazy("Clear notes of submitted attempts older than (days)"),
        required=False, min_value=1, max_value=36500,
        help_text=gettext_lazy(
            "Item codes stay for the statistics; notes, rationales and comments are cleared. "
            "The work of people who have left the organisation is then pseudonymised. "
            "Attempts behind a current certificate are never touched. Empty = keep forever."),
    )


# --- Cohorts -------------------------------------------------------------------------------


class CohortForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    trainees = UserChoiceField(
        label=gettext_lazy("Trainees"), queryset=None, required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    instructors = UserChoiceField(
        label=gettext_lazy("Instructors"), queryset=None, required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Instructors and organisation admins of this organisation."),
    )

    def __init__(self, *args, organization, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trainees"].queryset = _org_users(organization, [Role.TRAINEE])
        self.fields["instructors"].queryset = _org_users(organization, STAFF_ROLES)


class VignetteSetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.title} · {obj.get_kind_display()}"


class InstrumentChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj):
        return obj.short_name


def _datetime_local(label, required):
    return forms.DateTimeField(
        label=label,
        required=required,
        input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_LOCAL),
    )


class AssignmentForm(forms.Form):
    title = forms.CharField(label=gettext_lazy("Title"), max_length=200)
    cohort = forms.ModelChoiceField(label=gettext_lazy("Cohort"), queryset=None)
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), choices=AssignmentKind.choices,
        initial=AssignmentKind.STANDARD, required=False,
        help_text=gettext_lazy(
            "A calibration round: the whole cohort rates the same vignettes, new to every "
            "trainee, between the opening and closing dates (practice mode; 10 to 40 "
            "vignettes drawn from the practice set, in its order). The cohort dashboard shows "
            "reliability among trainees per round."),
    )
    mode = forms.ChoiceField(label=gettext_lazy("Mode"), choices=Mode.choices,
                             initial=Mode.PRACTICE)
    vignette_set = VignetteSetChoiceField(
        label=gettext_lazy("Vignette set"), queryset=None,
        help_text=gettext_lazy("A practice set for practice; an exam pool for an exam."),
    )
    instruments = InstrumentChoiceField(
        label=gettext_lazy("Instruments"), queryset=None, to_field_name="slug",
        widget=forms.CheckboxSelectMultiple,
    )
    opens_at = _datetime_local(gettext_lazy("Opens at"), required=True)
    closes_at = _datetime_local(gettext_lazy("Closes at"), required=False)
    time_limit_minutes = forms.IntegerField(
        label=gettext_lazy("Time limit (minutes)"), required=False, min_value=1,
        max_value=24 * 60, help_text=gettext_lazy("Required for an exam."),
    )
    attempts_allowed = forms.IntegerField(
        label=gettext_lazy("Attempts allowed"), required=False, min_value=1,
        help_text=gettext_lazy("Empty = unlimited."),
    )
    feedback_policy = forms.ChoiceField(
        label=gettext_lazy("Feedback"), choices=FeedbackPolicy.choices,
        initial=FeedbackPolicy.IMMEDIATE,
    )
    draw_size = forms.IntegerField(
        label=gettext_lazy("Vignettes drawn (exam: per trainee; calibration round: for "
                           "everyone)"), required=False, min_value=1,
        help_text=gettext_lazy("Exam: stratified by case type; empty = the whole pool. "
                               "Calibration round: 10 to 40; empty = 10."),
    )
    retake_wait_days = forms.IntegerField(
        label=gettext_lazy("Waiting period between attempts, days (exam)"), required=False,
        min_value=0, max_value=365,
        help_text=gettext_lazy("Empty = the certification rule's waiting period."),
    )

    def __init__(self, *args, cohorts, organization, time_zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cohort"].queryset = cohorts
        self.fields["vignette_set"].queryset = VignetteSet.objects.visible_to(
            organization
        ).order_by("kind", "title")
        self.fields["instruments"].queryset = content_selectors.instrument_list(
            organization=organization
        )
        for name in ("opens_at", "closes_at"):
            self.fields[name].help_text = _("Time in %(tz)s.") % {"tz": time_zone}
        # An exam can only tighten its certification rules: say what they are, here.
        rules = rule_services.rule_list(organization=organization).order_by("instrument__slug")
        summary = "; ".join(
            _("%(inst)s: “%(policy)s”, at least %(days)d days between attempts") % {
                "inst": r.instrument.short_name, "policy": r.get_exam_feedback_policy_display(),
                "days": r.retake_wait_days}
            for r in rules
        ) or _("none yet")
        self.fields["feedback_policy"].help_text = _(
            "An exam may keep its certification rule's feedback or be stricter, never looser "
            "(an instrument without a rule: “%(never)s”). Certification rules: %(rules)s."
        ) % {"never": FeedbackPolicy.NEVER.label, "rules": summary}
        self.fields["retake_wait_days"].help_text = _(
            "Empty = the certification rule's waiting period; an exam cannot wait less.")


def _assignment_initial(assignment: Assignment) -> dict:
    return {
        "title": assignment.title,
        "cohort": assignment.cohort,
        "kind": assignment.kind,
        "mode": assignment.mode,
        "vignette_set": assignment.vignette_set,
        "instruments": list(assignment.instruments.all()),
        "opens_at": assignment.opens_at,
        "closes_at": assignment.closes_at,
        "time_limit_minutes": assignment.time_limit_minutes,
        "attempts_allowed": assignment.attempts_allowed,
        "feedback_policy": assignment.feedback_policy,
        "draw_size": assignment.draw_size,
        "retake_wait_days": assignment.retake_wait_days,
    }


# --- Invitation acceptance (public) --------------------------------------------------------


class AcceptWithAccountForm(forms.Form):
    username = forms.CharField(label=gettext_lazy("Username"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label=gettext_lazy("Password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=gettext_lazy("Password again"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password2") and (
            data["password"] != data["password2"]
        ):
            self.add_error("password2", _("The two passwords differ."))
        return data


# --- Audit trail filters -------------------------------------------------------------------


class AuditFilterForm(forms.Form):
    """The audit trail's filters. Dates are whole days in the organisation's time zone."""

    actor = forms.CharField(required=False, max_length=200)
    action = forms.CharField(required=False, max_length=100)
    object_type = forms.CharField(required=False, max_length=100, label=gettext_lazy("Object"))
    object_id = forms.CharField(required=False, max_length=64, label=gettext_lazy("Object id"))
    date_from = forms.DateField(
        required=False, label=gettext_lazy("From"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Enter the first day as YYYY-MM-DD.")})
    date_to = forms.DateField(
        required=False, label=gettext_lazy("To"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Enter the last day as YYYY-MM-DD.")})

    FIELDS = ("actor", "action", "object_type", "object_id", "date_from", "date_to")

    def clean_object_id(self):
        value = self.cleaned_data["object_id"].strip().lstrip("#")
        if value and not value.isdigit():
            raise ValidationError(_("An object id is a number, such as 12."))
        return value

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            raise ValidationError(
                _("The first day (%(start)s) is after the last day (%(end)s).")
                % {"start": start.isoformat(), "end": end.isoformat()})
        return data

    def window(self, organization):
        """(from, until) as aware datetimes: from the first day's midnight to the midnight
        after the last day, in the organisation's zone; None for an open end."""
        zone = _org_zone(organization)
        start, end = self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return (
            dt.datetime.combine(start, dt.time(), tzinfo=zone) if start else None,
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=zone)
            if end else None,
        )
