"""The organisation admin's member pages: the list, roles, removal, invitations and CSV import."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from training.accounts.twofactor import users_with_two_factor
from training.models import (
    Cohort,
    Invitation,
    Membership,
    Profile,
    Role,
)
from training.organisation import members as member_services
from training.organisation.forms import CsvImportForm, InviteForm, _add_service_errors
from training.paging import list_page, search_filter
from training.tenancy import get_in_organization, with_membership


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
    q = request.GET.get("q", "").strip()[:100]
    if q:
        memberships = memberships.filter(search_filter(q, (
            "user__username", "user__email", "user__first_name", "user__last_name")))
    listing = list_page(request, memberships, keep=("q",))
    memberships = list(listing.rows)

    two_factor = users_with_two_factor(m.user_id for m in memberships)

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
            "listing": listing,
            "q": q,
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
        member_services.membership_set_role(
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
            member_services.membership_remove(actor=request.user, membership=membership)
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
            result = member_services.invitation_create(
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
            result = member_services.members_import_csv(
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
        member_services.invitation_revoke(actor=request.user, invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The invitation of %(email)s was withdrawn.") % {
            "email": invitation.email})
    return redirect("manage:members")
