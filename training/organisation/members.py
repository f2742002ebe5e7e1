"""Members of an organisation: roles, removal, invitations (e-mail and CSV import)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from training import formatting
from training.audit import audit_record, user_ref
from training.models import (
    Invitation,
    Membership,
    Organization,
    Role,
)
from training.tenancy import profile_for

INVITATION_DAYS = 14
MAX_CSV_ROWS = 500


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


PSEUDONYM_PREFIX = "erased-"


def other_admins(organization: Organization, membership: Membership | None = None):
    """The organisation's org admins who can still sign in (erased pseudonyms cannot),
    other than `membership`."""
    qs = organization.memberships.filter(
        role=Role.ORG_ADMIN, user__is_active=True, user__profile__erased_at__isnull=True
    )
    if membership is not None:
        qs = qs.exclude(pk=membership.pk)
    return qs


@transaction.atomic
def membership_set_role(
    *, actor, organization: Organization, user, role: str, now: dt.datetime | None = None
) -> Membership:
    """Give a user a role in the organisation (creating the membership if needed)."""
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role %(role)s.") % {"role": role}})
    membership = Membership.objects.select_for_update().filter(
        user=user, organization=organization
    ).first()
    before = {"role": membership.role} if membership else None
    if membership is None:
        membership = Membership.objects.create(user=user, organization=organization, role=role)
        action = "membership.created"
    elif membership.role == role:
        return membership
    else:
        if membership.role == Role.ORG_ADMIN and not other_admins(organization, membership):
            raise ValidationError(
                {"role": _("The organisation needs at least one organisation admin.")}
            )
        membership.role = role
        membership.save(update_fields=["role"])
        action = "membership.role_changed"
    audit_record(
        actor=actor,
        organization=organization,
        obj=membership,
        action=action,
        before=before,
        after={"user": user_ref(user), "role": role},
        now=now,
    )
    return membership


@transaction.atomic
def membership_remove(*, actor, membership: Membership, now: dt.datetime | None = None) -> None:
    organization = membership.organization
    if membership.role == Role.ORG_ADMIN and not other_admins(organization, membership):
        raise ValidationError(_("The organisation needs at least one organisation admin."))
    for cohort in organization.cohorts.all():
        cohort.trainees.remove(membership.user)
        cohort.instructors.remove(membership.user)
    audit_record(
        actor=actor,
        organization=organization,
        obj=membership,
        action="membership.removed",
        before={"user": user_ref(membership.user), "role": membership.role},
        now=now,
    )
    membership.delete()


@dataclass
class InvitationResult:
    invitation: Invitation
    token: str
    url: str


@transaction.atomic
def invitation_create(
    *,
    actor,
    organization: Organization,
    email: str,
    role: str,
    accept_url_base: str,
    now: dt.datetime | None = None,
) -> InvitationResult:
    """Invite someone by e-mail. The token is sent once and stored only as a hash."""
    now = now or timezone.now()
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(
            {"email": _("%(email)s is not an e-mail address.") % {"email": email}}
        ) from None
    if role not in Role.values:
        raise ValidationError({"role": _("Unknown role %(role)s.") % {"role": role}})
    if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
        raise ValidationError({"email": _("%(email)s is already a member.") % {"email": email}})
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organization=organization,
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(days=INVITATION_DAYS),
    )
    url = f"{accept_url_base.rstrip('/')}/{token}/"
    send_mail(
        subject=_("Invitation to %(org)s on Calibrate") % {"org": organization.name},
        message=_(
            "You have been invited to join %(org)s on Calibrate as %(role)s.\n\n"
            "Accept the invitation within %(days)d days (by %(until)s): %(url)s\n\n"
            "Calibrate holds fictional case material about sexual offending, used to train "
            "raters of risk-assessment instruments."
        )
        % {
            "org": organization.name,
            "role": Role(role).label,
            "days": INVITATION_DAYS,
            "until": formatting.when(invitation.expires_at, organization),
            "url": url,
        },
        from_email=None,
        recipient_list=[email],
    )
    audit_record(
        actor=actor,
        organization=organization,
        obj=invitation,
        action="invitation.created",
        after={"role": role},
        now=now,
    )
    return InvitationResult(invitation=invitation, token=token, url=url)


def invitation_get_by_token(*, token: str, now: dt.datetime | None = None) -> Invitation:
    now = now or timezone.now()
    invitation = Invitation.objects.filter(token_hash=_token_hash(token or "")).first()
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
        raise ValidationError(_("This invitation link is not valid any more."))
    return invitation


@transaction.atomic
def invitation_accept(
    *, token: str, user=None, username: str = "", password: str = "",
    now: dt.datetime | None = None,
):
    """Accept an invitation as a signed-in user, or by creating an account."""
    now = now or timezone.now()
    invitation = invitation_get_by_token(token=token, now=now)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError(_("This invitation link is not valid any more."))
    User = get_user_model()
    if user is None:
        username = (username or "").strip()
        if not username:
            raise ValidationError({"username": _("Choose a username.")})
        if username.lower().startswith(PSEUDONYM_PREFIX):
            raise ValidationError({"username": _(
                "Usernames starting with %(prefix)s are reserved for erased members."
            ) % {"prefix": PSEUDONYM_PREFIX}})
        try:
            User._meta.get_field(User.USERNAME_FIELD).clean(username, None)
        except ValidationError as exc:
            raise ValidationError({"username": exc.messages}) from exc
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError({"username": _("That username is taken.")})
        from django.contrib.auth.password_validation import validate_password

        candidate = User(username=username, email=invitation.email)
        try:
            validate_password(password, user=candidate)
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
        candidate.set_password(password)
        candidate.save()
        user = candidate
    elif Membership.objects.filter(user=user, organization=invitation.organization).exists():
        # Accepting must never change the role of someone who is already a member.
        raise ValidationError(
            _("You are already a member of %(org)s; the invitation was not used.")
            % {"org": invitation.organization.name}
        )
    membership = membership_set_role(
        actor=user, organization=invitation.organization, user=user, role=invitation.role, now=now
    )
    invitation.accepted_at = now
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    profile = profile_for(user)
    profile.active_organization = invitation.organization
    profile.save(update_fields=["active_organization"])
    return membership


@transaction.atomic
def invitation_revoke(
    *, actor, invitation: Invitation, now: dt.datetime | None = None
) -> Invitation:
    """Withdraw a pending invitation: its link stops working at once."""
    now = now or timezone.now()
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError(_("This invitation has already been accepted."))
    if invitation.expires_at <= now:
        raise ValidationError(_("This invitation has already expired."))
    invitation.expires_at = now
    invitation.save(update_fields=["expires_at"])
    audit_record(
        actor=actor,
        organization=invitation.organization,
        obj=invitation,
        action="invitation.revoked",
        before={"role": invitation.role},
        now=now,
    )
    return invitation


@dataclass
class CsvImportResult:
    invitations: list[InvitationResult]


def members_import_csv(
    *,
    actor,
    organization: Organization,
    data: bytes,
    accept_url_base: str,
    now: dt.datetime | None = None,
) -> CsvImportResult:
    """Invite members from a CSV with columns `email,role` (header required).

    Every row is checked first; if any row is wrong, nothing is sent or stored and the error
    lists every bad row by line number.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError(_("The file is not UTF-8 text.")) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or {"email", "role"} - {f.strip().lower() for f in reader.fieldnames}:
        raise ValidationError(_("The CSV needs a header row with the columns email and role."))
    rows, errors, seen = [], [], set()
    for line, row in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        email, role = row.get("email", "").lower(), row.get("role", "").lower()
        role = {"admin": Role.ORG_ADMIN, "org admin": Role.ORG_ADMIN}.get(role, role)
        try:
            validate_email(email)
        except ValidationError:
            errors.append(_("line %(line)d: %(email)r is not an e-mail address") % {
                "line": line, "email": email})
            continue
        if role not in Role.values:
            errors.append(_("line %(line)d: role %(role)r is not one of %(roles)s") % {
                "line": line, "role": role, "roles": ", ".join(Role.values)})
            continue
        if email in seen:
            errors.append(_("line %(line)d: %(email)s appears twice") % {"line": line, "email": email})
            continue
        if Membership.objects.filter(organization=organization, user__email__iexact=email).exists():
            errors.append(_("line %(line)d: %(email)s is already a member") % {
                "line": line, "email": email})
            continue
        seen.add(email)
        rows.append((email, role))
        if len(rows) > MAX_CSV_ROWS:
            raise ValidationError(_("At most %(n)d rows per file.") % {"n": MAX_CSV_ROWS})
    if errors:
        raise ValidationError(errors)
    if not rows:
        raise ValidationError(_("The CSV has no rows."))
    with transaction.atomic():
        results = [
            invitation_create(
                actor=actor, organization=organization, email=email, role=role,
                accept_url_base=accept_url_base, now=now,
            )
            for email, role in rows
        ]
    return CsvImportResult(invitations=results)
