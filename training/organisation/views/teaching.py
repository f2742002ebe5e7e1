"""Cohorts and assignments: the pages where admins and instructors set up teaching."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from training.attempts import exams
from training.models import (
    Assignment,
    AssignmentKind,
    Cohort,
    Mode,
    Role,
)
from training.organisation import cohorts as cohort_services
from training.organisation.forms import (
    AssignmentForm,
    CohortForm,
    _add_service_errors,
    _assignment_initial,
    _org_zone,
)
from training.paging import list_page, search_filter
from training.tenancy import STAFF_ROLES, get_in_organization, with_membership

NAMES_SHOWN = 12


@never_cache
@with_membership(Role.ORG_ADMIN)
def cohorts(request):
    # The count and the first names of each cohort's trainees, not every trainee: a state
    # agency's cohorts hold thousands (the cohort's own page lists them all).
    rows = (
        Cohort.objects.filter(organization=request.organization)
        .annotate(trainee_count=Count("trainees", distinct=True))
        .prefetch_related(
            "instructors",
            Prefetch("trainees", to_attr="first_trainees",
                     queryset=get_user_model().objects.order_by("username")[:NAMES_SHOWN]))
        .order_by("name")
    )
    for cohort in rows:
        cohort.more_trainees = cohort.trainee_count - len(cohort.first_trainees)
    return render(request, "training/manage/cohorts.html", {"cohorts": rows})


def _cohort_form_page(request, cohort=None):
    organization = request.organization
    if request.method == "POST":
        form = CohortForm(request.POST, organization=organization)
        if form.is_valid():
            try:
                saved = cohort_services.cohort_save(
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
                    saved = cohort_services.assignment_save(
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
                        kind=data["kind"] or AssignmentKind.STANDARD,
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
@with_membership(*STAFF_ROLES)
def assignments(request):
    assignments = (
        _assignments_for(request)
        .select_related("cohort", "vignette_set", "organization")
        .prefetch_related("instruments")
        .order_by("-opens_at", "title")
    )
    q = request.GET.get("q", "").strip()[:100]
    if q:
        assignments = assignments.filter(search_filter(q, ("title", "cohort__name")))
    listing = list_page(request, assignments, keep=("q",))
    rows = list(listing.rows)
    for row in rows:  # what an exam really gives its candidates, and how far its pool goes
        row.exam = (exams.exam_overview(assignment=row)
                    if row.mode == Mode.EXAM else None)
    return render(
        request,
        "training/manage/assignments.html",
        {"assignments": rows, "listing": listing, "q": q,
         "org_zone": request.organization.time_zone,
         "can_create": _cohorts_for(request).exists()},
    )


@never_cache
@with_membership(*STAFF_ROLES)
@require_http_methods(["GET", "POST"])
def assignment_create(request):
    return _assignment_form_page(request)


@never_cache
@with_membership(*STAFF_ROLES)
@require_http_methods(["GET", "POST"])
def assignment_edit(request, assignment_id):
    assignment = get_in_organization(_assignments_for(request),
                                     organization=request.organization, pk=assignment_id)
    return _assignment_form_page(request, assignment)
