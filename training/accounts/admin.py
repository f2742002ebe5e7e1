"""Recovery in the Django admin: site staff delete a user's TOTP device (lost phone, no backup
codes left). Deleting it removes the user's backup codes too, so the user can sign in with the
password alone again, and it is recorded in the audit trail. Secrets are never shown
(OTP_ADMIN_HIDE_SENSITIVE_DATA)."""

from django.contrib import admin
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from training.accounts import twofactor


class RecoveryTOTPDeviceAdmin(TOTPDeviceAdmin):
    def delete_model(self, request, obj):
        twofactor.remove_by_staff(actor=request.user, user=obj.user)

    def delete_queryset(self, request, queryset):
        for user in {device.user for device in queryset.select_related("user")}:
            twofactor.remove_by_staff(actor=request.user, user=user)


if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, RecoveryTOTPDeviceAdmin)
