"""Pages for organisation admins and instructors: members, cohorts, assignments, audit trail;
and the public invitation page. Thin: parse, authorise, call a service, render.

Every query here starts from `request.organization`, so an id from another organisation is
simply not found (404).
"""

from __future__ import annotations

import json
import zoneinfo

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from training import certification
from training.models import (
    Assignment,
    AuditEvent,
    Cohort,
    FeedbackPolicy,
    Invitation,
    Membership,
    Mode,
    Role,
)
from training.services import people, privacy
from training.services.audit import audit_display
from training.tenancy import get_in_organization
from training.views import with_membership
from vignettes import selectors as content_selectors
from vignettes.models import VignetteSet

AUDIT_PAGE_SIZE = 50
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


def _members_page(request, *, invite_form=None, import_form=None, row_errors=None, status=200):
    organization = request.organization
    cohorts = Cohort.objects.filter(organization=organization)
    memberships = (
        Membership.objects.filter(organization=organization)
        .select_related("user")
        .prefetch_related(
            Prefetch("user__cohorts_as_trainee", queryset=cohorts, to_attr="org_cohorts_t"),
            Prefetch("user__cohorts_as_instructor", queryset=cohorts, to_attr="org_cohorts_i"),
        )
        .order_by("user__username")
    )
    memberships = list(memberships)
    from training.services.twofactor import users_with_two_factor

    two_factor = users_with_two_factor(m.user_id for m in memberships)
    from training.models import Profile

    erased = set(Profile.objects.filter(
        user__memberships__organization=organization, erased_at__isnull=False
    ).values_list("user_id", flat=True))
    rows = []
    for membership in memberships:
        user = membership.user
        names = sorted({c.name for c in user.org_cohorts_t + user.org_cohorts_i})
        rows.append({
            "membership": membership,
            "cohorts": names,
            "two_factor": membership.user_id in two_factor,
            "erased": membership.user_id in erased,
            "errors": (row_errors or {}).get(membership.pk, []),
        })
    pending = Invitation.objects.filter(
        organization=organization, accepted_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")
    return render(
        request,
        "training/manage/members.html",
        {
            "organization": organization,
            "org_zone": organization.time_zone,
            "rows": rows,
            "roles": Role.choices,
            "pending": pending,
            "invite_form": invite_form or InviteForm(),
            "import_form": import_form or CsvImportForm(),
        },
        status=status,
    )


def _membership_or_404(request, membership_id) -> Membership:
    return get_in_organization(
        Membership.objects.select_related("user", "organization"),
        organization=request.organization, pk=membership_id,
    )


@never_cache
@with_membership(Role.ORG_ADMIN)
def members(request):
    return _members_page(request)


@with_membership(Role.ORG_ADMIN)
@require_POST
def member_role(request, membership_id):
    membership = _membership_or_404(request, membership_id)
    role = request.POST.get("role", "")
    try:
        people.membership_set_role(
            actor=request.user, organization=request.organization, user=membership.user,
            role=role,
        )
    except ValidationError as exc:
        return _members_page(request, row_errors={membership.pk: exc.messages}, status=400)
    messages.success(request, _("%(user)s is now %(role)s.") % {
        "user": membership.user.get_username(), "role": Role(role).label})
    return redirect("manage:members")


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def member_remove(request, membership_id):
    membership = _membership_or_404(request, membership_id)
    error = None
    if request.method == "POST":
        try:
            people.membership_remove(actor=request.user, membership=membership)
        except ValidationError as exc:
            error = " ".join(exc.messages)
        else:
            messages.success(request, _("%(user)s was removed from %(org)s.") % {
                "user": membership.user.get_username(), "org": request.organization.name})
            return redirect("manage:members")
    return render(
        request,
        "training/manage/member_remove.html",
        {"membership": membership, "error": error},
        status=400 if error else 200,
    )


@with_membership(Role.ORG_ADMIN)
@require_POST
def member_invite(request):
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            result = people.invitation_create(
                actor=request.user,
                organization=request.organization,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                accept_url_base=request.build_absolute_uri("/invitations/"),
            )
        except ValidationError as exc:
            _add_service_errors(form, exc)
        else:
            messages.success(request, _("An invitation was sent to %(email)s.") % {
                "email": result.invitation.email})
            return redirect("manage:members")
    return _members_page(request, invite_form=form, status=400)


@with_membership(Role.ORG_ADMIN)
@require_POST
def members_import(request):
    form = CsvImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            result = people.members_import_csv(
                actor=request.user,
                organization=request.organization,
                data=upload.read(),
                accept_url_base=request.build_absolute_uri("/invitations/"),
            )
        except ValidationError as exc:
            form.add_error("file", exc.messages)
        else:
            n = len(result.invitations)
            messages.success(request, _("%(n)d invitations were sent.") % {"n": n})
            return redirect("manage:members")
    return _members_page(request, import_form=form, status=400)


@with_membership(Role.ORG_ADMIN)
@require_POST
def invitation_revoke(request, invitation_id):
    invitation = get_in_organization(
        Invitation, organization=request.organization, pk=invitation_id
    )
    try:
        people.invitation_revoke(actor=request.user, invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The invitation of %(email)s was withdrawn.") % {
            "email": invitation.email})
    return redirect("manage:members")


# --- Data protection: member page, export, erasure, retention settings ---------------------


@never_cache
@with_membership(Role.ORG_ADMIN)
def member_detail(request, membership_id):
    from training.models import Attempt, Certificate, Erasure

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
    data = privacy.member_export(actor=request.user, organization=request.organization,
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


class EraseForm(forms.Form):
    confirm = forms.CharField(
        label=gettext_lazy("Type the member's username to confirm"), max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def member_erase(request, membership_id):
    membership = _membership_or_404(request, membership_id)
    form = EraseForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            result = privacy.member_erase(
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
         "already_erased": privacy.is_erased(membership.user),
         "other_orgs": privacy.used_elsewhere(membership.user, request.organization)},
        status=400 if request.method == "POST" else 200,
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


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def organization_settings(request):
    organization = request.organization
    if request.method == "POST":
        form = RetentionForm(request.POST)
        if form.is_valid():
            try:
                privacy.retention_settings_save(
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
        self.fields["instructors"].queryset = _org_users(
            organization, [Role.INSTRUCTOR, Role.ORG_ADMIN]
        )


@never_cache
@with_membership(Role.ORG_ADMIN)
def cohorts(request):
    rows = (
        Cohort.objects.filter(organization=request.organization)
        .prefetch_related("trainees", "instructors")
        .order_by("name")
    )
    return render(request, "training/manage/cohorts.html", {"cohorts": rows})


def _cohort_form_page(request, cohort=None):
    organization = request.organization
    if request.method == "POST":
        form = CohortForm(request.POST, organization=organization)
        if form.is_valid():
            try:
                saved = people.cohort_save(
                    actor=request.user,
                    organization=organization,
                    cohort=cohort,
                    name=form.cleaned_data["name"],
                    trainee_ids=[u.pk for u in form.cleaned_data["trainees"]],
                    instructor_ids=[u.pk for u in form.cleaned_data["instructors"]],
                )
            except ValidationError as exc:
                _add_service_errors(form, exc)
            else:
                messages.success(request, _("Cohort %(name)s saved.") % {"name": saved.name})
                return redirect("manage:cohorts")
    elif cohort is not None:
        form = CohortForm(
            organization=organization,
            initial={
                "name": cohort.name,
                "trainees": list(cohort.trainees.all()),
                "instructors": list(cohort.instructors.all()),
            },
        )
    else:
        form = CohortForm(organization=organization)
    return render(
        request,
        "training/manage/cohort_form.html",
        {"form": form, "cohort": cohort},
        status=400 if form.is_bound else 200,
    )


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def cohort_create(request):
    return _cohort_form_page(request)


@never_cache
@with_membership(Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def cohort_edit(request, cohort_id):
    cohort = get_in_organization(Cohort, organization=request.organization, pk=cohort_id)
    return _cohort_form_page(request, cohort)


# --- Assignments ---------------------------------------------------------------------------


def _cohorts_for(request):
    """The cohorts the member may set assignments for: all (org admin) or those they teach."""
    qs = Cohort.objects.filter(organization=request.organization).order_by("name")
    if request.membership.role != Role.ORG_ADMIN:
        qs = qs.filter(instructors=request.user)
    return qs


def _assignments_for(request):
    return Assignment.objects.filter(
        organization=request.organization, cohort__in=_cohorts_for(request)
    )


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
        label=gettext_lazy("Vignettes drawn per trainee (exam)"), required=False, min_value=1,
        help_text=gettext_lazy("Stratified by case type; empty = the whole pool."),
    )
    retake_wait_days = forms.IntegerField(
        label=gettext_lazy("Waiting period between attempts, days (exam)"), required=False,
        min_value=0, max_value=365,
        help_text=gettext_lazy("Empty = the certification rule's waiting period."),
    )

    def __init__(self, *args, cohorts, organization, time_zone, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["cohort"].queryset = cohorts
        self.fields["vignette_set"].queryset = VignetteSet.objects.filter(
            Q(owner__isnull=True) | Q(owner=organization)
        ).order_by("kind", "title")
        self.fields["instruments"].queryset = content_selectors.instrument_list(
            organization=organization
        )
        for name in ("opens_at", "closes_at"):
            self.fields[name].help_text = _("Time in %(tz)s.") % {"tz": time_zone}
        # An exam can only tighten its certification rules: say what they are, here.
        rules = certification.rule_list(organization=organization).order_by("instrument__slug")
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


def _assignment_form_page(request, assignment=None):
    organization = request.organization
    # The datetime-local inputs are read and shown in the organisation's time zone.
    with timezone.override(_org_zone(organization)):
        kwargs = {
            "cohorts": _cohorts_for(request),
            "organization": organization,
            "time_zone": organization.time_zone,
        }
        if request.method == "POST":
            form = AssignmentForm(request.POST, **kwargs)
            if form.is_valid():
                data = form.cleaned_data
                try:
                    saved = people.assignment_save(
                        actor=request.user,
                        organization=organization,
                        assignment=assignment,
                        title=data["title"],
                        cohort=data["cohort"],
                        vignette_set=data["vignette_set"],
                        instrument_slugs=[i.slug for i in data["instruments"]],
                        mode=data["mode"],
                        opens_at=data["opens_at"],
                        closes_at=data["closes_at"],
                        time_limit_minutes=data["time_limit_minutes"],
                        attempts_allowed=data["attempts_allowed"],
                        feedback_policy=data["feedback_policy"],
                        draw_size=data["draw_size"],
                        retake_wait_days=data["retake_wait_days"],
                    )
                except ValidationError as exc:
                    _add_service_errors(form, exc)
                else:
                    messages.success(request, _("Assignment %(title)s saved.") % {
                        "title": saved.title})
                    return redirect("manage:assignments")
        elif assignment is not None:
            form = AssignmentForm(initial=_assignment_initial(assignment), **kwargs)
        else:
            form = AssignmentForm(**kwargs)
        return render(
            request,
            "training/manage/assignment_form.html",
            {"form": form, "assignment": assignment, "organization": organization},
            status=400 if form.is_bound else 200,
        )


@never_cache
@with_membership(Role.INSTRUCTOR, Role.ORG_ADMIN)
def assignments(request):
    rows = list(
        _assignments_for(request)
        .select_related("cohort", "vignette_set", "organization")
        .prefetch_related("instruments")
        .order_by("-opens_at", "title")
    )
    for row in rows:  # what an exam really gives its candidates, and how far its pool goes
        row.exam = (certification.exam_overview(assignment=row)
                    if row.mode == Mode.EXAM else None)
    return render(
        request,
        "training/manage/assignments.html",
        {"assignments": rows, "org_zone": request.organization.time_zone,
         "can_create": _cohorts_for(request).exists()},
    )


@never_cache
@with_membership(Role.INSTRUCTOR, Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def assignment_create(request):
    return _assignment_form_page(request)


@never_cache
@with_membership(Role.INSTRUCTOR, Role.ORG_ADMIN)
@require_http_methods(["GET", "POST"])
def assignment_edit(request, assignment_id):
    assignment = get_in_organization(_assignments_for(request),
                                     organization=request.organization, pk=assignment_id)
    return _assignment_form_page(request, assignment)


# --- Audit trail ---------------------------------------------------------------------------


def _audit_actor_choices(events, organization) -> list[tuple[str, str]]:
    """Filter choices for the actor: people by their current name, members erased from this
    organisation by their pseudonym (events up to the erasure), deleted accounts by the name
    their events kept ("n:<name>"), "system" for the rest."""
    from training.models import Erasure

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
    from training.models import Erasure

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


def _invitation_invalid(request):
    return render(request, "training/manage/invitation_invalid.html", status=404)


# The invitation tokens this browser has opened, by invitation id: the token leaves the address
# bar after the first visit, as Django's password reset does with its own token.
INVITATION_TOKENS_SESSION_KEY = "invitation_tokens"


@never_cache
@require_GET
def invitation_open(request, token):
    """The link from the invitation e-mail. A valid token is kept in the session and the
    browser moves on to the invitation's page, whose address does not carry it: the token is
    then in no address bar, history entry or Referer header, whatever a page links to, and the
    page keeps the site's referrer policy (so its forms post with a real Origin)."""
    try:
        invitation = people.invitation_get_by_token(token=token)
    except ValidationError:
        return _invitation_invalid(request)
    tokens = request.session.get(INVITATION_TOKENS_SESSION_KEY, {})
    tokens[str(invitation.pk)] = token
    request.session[INVITATION_TOKENS_SESSION_KEY] = tokens
    return redirect("invitation-join", invitation_id=invitation.pk)


@never_cache
@require_http_methods(["GET", "POST"])
def invitation_accept(request, invitation_id):
    """Join the organisation: a new account through the form, or one button when signed in.
    Works only in the browser session that opened the invitation link."""
    token = request.session.get(INVITATION_TOKENS_SESSION_KEY, {}).get(str(invitation_id), "")
    try:
        invitation = people.invitation_get_by_token(token=token)
    except ValidationError:
        return _invitation_invalid(request)
    if invitation.pk != invitation_id:
        return _invitation_invalid(request)
    signed_in = request.user.is_authenticated
    form = None if signed_in else AcceptWithAccountForm()
    error = None
    if request.method == "POST":
        if signed_in:
            try:
                people.invitation_accept(token=token, user=request.user)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                _forget_invitation_token(request, invitation)
                messages.success(request, _("You joined %(org)s.") % {
                    "org": invitation.organization.name})
                return redirect("dashboard")
        else:
            form = AcceptWithAccountForm(request.POST)
            if form.is_valid():
                try:
                    membership = people.invitation_accept(
                        token=token,
                        username=form.cleaned_data["username"],
                        password=form.cleaned_data["password"],
                    )
                except ValidationError as exc:
                    _add_service_errors(form, exc)
                else:
                    # login() rotates the session key.
                    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
                    _forget_invitation_token(request, invitation)
                    messages.success(request, _("Welcome to %(org)s.") % {
                        "org": invitation.organization.name})
                    return redirect("dashboard")
    return render(
        request,
        "training/manage/invitation_accept.html",
        {
            "invitation": invitation,
            "form": form,
            "error": error,
            "login_url": f"{reverse('login')}?{urlencode({'next': request.path})}",
        },
        status=400 if request.method == "POST" else 200,
    )


def _forget_invitation_token(request, invitation):
    tokens = request.session.get(INVITATION_TOKENS_SESSION_KEY, {})
    tokens.pop(str(invitation.pk), None)
    request.session[INVITATION_TOKENS_SESSION_KEY] = tokens
