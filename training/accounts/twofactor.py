"""Optional two-factor sign-in for site staff, org admins and instructors, on django-otp.

A user turns it on by adding an authenticator app (a TOTP device, RFC 6238) and confirming it
with a code; they then receive ten one-time backup codes (a django-otp static device). From
then on the sign-in page, the API token endpoint and the admin ask for a code after the
password. Wrong codes are throttled by django-otp (each failure doubles the wait before the
next try: 1, 2, 4 ... seconds); here the wait is capped at CALIBRATE_OTP_MAX_WAIT_SECONDS so
nobody is ever locked out for long, and a success resets it.

Every change (on, off, new backup codes, removal by site staff) goes to the audit trail of each
organisation where the user is an org admin or instructor (of none, for staff without one), and
ends all the user's API tokens: a token issued under the old devices must not outlive them.
"""

from __future__ import annotations

import math
import re
from base64 import b32encode
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from training.accounts.tokens import TWO_FACTOR_CHANGED, api_tokens_revoke_all
from training.audit import audit_record
from training.models import Membership
from training.tenancy import STAFF_ROLES

BACKUP_CODE_COUNT = 10
AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"
# Authenticator apps show 6 digits (TOTPDevice's default); backup codes are 8 letters/digits.
TOTP_CODE = re.compile(r"^\d{6,8}$")
MAX_CODE_LENGTH = 16


@dataclass(frozen=True)
class CodeCheck:
    """The outcome of checking one code: the device that accepted it, or why not."""

    device: object | None = None
    error: str = ""
    retry_after: int | None = None  # seconds, when wrong codes made it wait

    @property
    def ok(self) -> bool:
        return self.device is not None


# --- Who may use it -------------------------------------------------------------------------


def is_offered(user) -> bool:
    """Two-factor sign-in is offered to site staff and to org admins and instructors of any
    organisation, the people who see others' work and change roles, rules and content;
    trainees-only users are not offered it."""
    if not user.is_authenticated:
        return False
    return user.is_staff or Membership.objects.filter(user=user, role__in=STAFF_ROLES).exists()


def is_enabled(user) -> bool:
    """True when the user has a confirmed device: sign-in then needs a code."""
    return bool(user.is_authenticated and user_has_device(user, confirmed=True))


def may_manage(user) -> bool:
    """The two-factor page: for those it is offered to, and for anyone who has it on (a user
    whose role changed must still be able to turn it off)."""
    return is_offered(user) or is_enabled(user)


def session_is_verified_or_unneeded(user) -> bool:
    """For a signed-in user: either a device verified this session (django-otp's
    OTPMiddleware says so), or the user has no confirmed device at all."""
    is_verified = getattr(user, "is_verified", None)
    if is_verified is not None and is_verified():
        return True
    return not user_has_device(user, confirmed=True)


# --- Codes ----------------------------------------------------------------------------------


def normalise_code(raw) -> str:
    """What people type: spaces and dashes between groups, either case."""
    return re.sub(r"[\s-]+", "", str(raw or "")).lower()[: MAX_CODE_LENGTH + 1]


def _cap_wait(device) -> None:
    """django-otp doubles the wait after every failure without a useful bound (after 30
    failures it is years). Cap it: never more than CALIBRATE_OTP_MAX_WAIT_SECONDS."""
    factor = device.get_throttle_factor()
    if factor <= 0:
        return
    cap = max(settings.CALIBRATE_OTP_MAX_WAIT_SECONDS, factor)
    max_count = int(math.floor(math.log2(cap / factor))) + 1
    if device.throttling_failure_count > max_count:
        device.throttling_failure_count = max_count
        device.save(update_fields=["throttling_failure_count"])


def _wait_message(seconds: int) -> str:
    return ngettext(
        "Too many wrong codes: wait %(n)d second before trying again.",
        "Too many wrong codes: wait %(n)d seconds before trying again.",
        seconds,
    ) % {"n": seconds}


def _check_device(device, code: str) -> CodeCheck:
    """One device, one code, inside the caller's transaction (the device row is locked)."""
    _cap_wait(device)
    allowed, info = device.verify_is_allowed()
    if not allowed:
        locked_until = (info or {}).get("locked_until")
        seconds = 1
        if locked_until is not None:
            seconds = max(1, math.ceil((locked_until - timezone.now()).total_seconds()))
        return CodeCheck(error=_wait_message(seconds), retry_after=seconds)
    if device.verify_token(code):
        return CodeCheck(device=device)
    return CodeCheck(error=_("That code is not right. Check the code and try again."))


def check_sign_in_code(user, raw_code) -> CodeCheck:
    """Check a code from the user's authenticator app (digits) or one of their backup codes
    (letters and digits; each works once). A wrong code makes the next try wait."""
    code = normalise_code(raw_code)
    if not code:
        return CodeCheck(error=_("Enter the code from your authenticator app or a backup code."))
    if len(code) > MAX_CODE_LENGTH:
        return CodeCheck(error=_("That is not a code: codes are at most 16 characters."))
    model = TOTPDevice if TOTP_CODE.match(code) else StaticDevice
    result = CodeCheck(error=_("That code is not right. Check the code and try again."))
    # The throttling counters must be saved even when the code is wrong, so the transaction
    # commits in every case; the caller reports the error afterwards.
    with transaction.atomic():
        devices = model.objects.select_for_update().filter(user=user, confirmed=True)
        for device in devices.order_by("pk"):
            result = _check_device(device, code)
            if result.ok:
                break
    return result


# --- Audit ----------------------------------------------------------------------------------


def _audit(*, actor, user, device, action: str, after: dict | None = None) -> None:
    organisations = [
        m.organization
        for m in Membership.objects.filter(user=user, role__in=STAFF_ROLES)
        .select_related("organization")
        .order_by("organization__name")
    ] or [None]
    # People are referenced by id (the audit trail shows their current name, or an erased
    # member's pseudonym); the device's own str() would embed the username, so it is not used.
    for organization in organisations:
        audit_record(
            actor=actor,
            organization=organization,
            object_type=device._meta.label,
            action=action,
            subject=user,
            after={"user": user.pk, "device": device.pk, **(after or {})},
        )


# --- Enrolment ------------------------------------------------------------------------------


def pending_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


@transaction.atomic
def enrolment_start(*, user) -> TOTPDevice:
    """A new, unconfirmed authenticator device (its secret is shown once for the app to
    scan); any earlier unconfirmed one is dropped."""
    if not is_offered(user):
        raise PermissionDenied(_("Two-factor sign-in is for staff, org admins and instructors."))
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError(_("Two-factor sign-in is already on."))
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)


def secret_base32(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it by hand: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def _new_backup_codes(user) -> list[str]:
    """Replace the user's backup codes with BACKUP_CODE_COUNT new ones. The device itself is
    kept, so a session that a backup code verified stays verified."""
    device = StaticDevice.objects.filter(user=user).order_by("pk").first()
    if device is None:
        device = StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME, confirmed=True)
    device.token_set.all().delete()
    codes: set[str] = set()
    while len(codes) < BACKUP_CODE_COUNT:
        code = StaticToken.random_token()
        if not TOTP_CODE.match(code):  # all digits would be taken for an authenticator code
            codes.add(code)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in sorted(codes))
    device.throttle_reset(commit=False)
    device.confirmed = True
    device.save()
    return sorted(codes)


def enrolment_confirm(*, user, code) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending device with a code from the app. Returns the device (the caller
    marks the session verified with it) and the new backup codes, shown once.

    A wrong code leaves the device unconfirmed. The user's API tokens are revoked: a new one
    needs a code (POST /api/v1/auth/token/ with otp_token)."""
    code = normalise_code(code)
    error = ""
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None:
            error = _("Start the set-up first: there is no authenticator waiting to be confirmed.")
        elif not TOTP_CODE.match(code):
            error = _("Enter the 6-digit code that your authenticator app shows.")
        else:
            result = _check_device(device, code)
            if result.ok:
                device.confirmed = True
                device.save(update_fields=["confirmed"])
                codes = _new_backup_codes(user)
                api_tokens_revoke_all(actor=user, user=user, reason=TWO_FACTOR_CHANGED)
                _audit(actor=user, user=user, device=device, action="two_factor.enabled",
                       after={"backup_codes": len(codes)})
            else:
                error = result.error
    if error:
        raise ValidationError({"code": error})
    return device, codes


# --- Afterwards -----------------------------------------------------------------------------


def status(user) -> dict:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    backup = StaticDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    return {
        "enabled": is_enabled(user),
        "device": device,
        "backup_codes_left": backup.token_set.count() if backup else 0,
        "pending": pending_device(user) is not None,
    }


def regenerate_backup_codes(*, user, password: str) -> list[str]:
    """New backup codes (the old ones stop working; so do the user's API tokens). Needs the
    password."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise ValidationError(_("Turn two-factor sign-in on first."))
    if not user.check_password(password or ""):
        raise ValidationError({"password": _("That password is not right.")})
    with transaction.atomic():
        codes = _new_backup_codes(user)
        api_tokens_revoke_all(actor=user, user=user, reason=TWO_FACTOR_CHANGED)
        device = StaticDevice.objects.filter(user=user).order_by("pk").first()
        _audit(actor=user, user=user, device=device, action="two_factor.backup_codes_replaced",
               after={"backup_codes": len(codes)})
    return codes


def _remove_all(*, actor, user, action: str) -> int:
    devices = [*TOTPDevice.objects.filter(user=user), *StaticDevice.objects.filter(user=user)]
    confirmed = [d for d in devices if d.confirmed and isinstance(d, TOTPDevice)]
    for device in confirmed or devices[:1]:
        _audit(actor=actor, user=user, device=device, action=action)
    for device in devices:
        device.delete()
    api_tokens_revoke_all(actor=actor, user=user, reason=TWO_FACTOR_CHANGED)
    return len(devices)


def disable(*, user, password: str, code: str) -> None:
    """Turn two-factor sign-in off: needs the password and a current code (from the app, or
    a backup code). Removes the authenticator and every backup code."""
    if not is_enabled(user):
        raise ValidationError(_("Two-factor sign-in is not on."))
    if not user.check_password(password or ""):
        raise ValidationError({"password": _("That password is not right.")})
    result = check_sign_in_code(user, code)
    if not result.ok:
        raise ValidationError({"code": result.error})
    with transaction.atomic():
        _remove_all(actor=user, user=user, action="two_factor.disabled")


def remove_by_staff(*, actor, user) -> int:
    """Recovery: site staff remove a user's devices (lost phone and backup codes). The user
    then signs in with the password alone and may set two-factor sign-in up again."""
    with transaction.atomic():
        return _remove_all(actor=actor, user=user, action="two_factor.removed_by_staff")


def users_with_two_factor(user_ids) -> set[int]:
    """Which of these users have two-factor sign-in on (for the members page)."""
    user_ids = list(user_ids)
    found: set[int] = set()
    for model in (TOTPDevice, StaticDevice):
        found.update(
            model.objects.filter(user_id__in=user_ids, confirmed=True)
            .values_list("user_id", flat=True)
            .distinct()
        )
    return found
