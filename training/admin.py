"""Admin for site staff. Attempts, ratings and the audit trail are records: view only."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from training.audit import acting_as
from training.models import (
    Appeal,
    Assignment,
    Attempt,
    AuditEvent,
    Cohort,
    Invitation,
    Membership,
    Organization,
    Rating,
    RatingItem,
)
from vignettes.admin import ReadOnlyMixin


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "time_zone", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    list_display = ["name", "organization", "created_at"]
    list_filter = ["organization"]
    search_fields = ["name"]
    filter_horizontal = ["trainees", "instructors"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["title", "organization", "cohort", "mode", "opens_at", "closes_at"]
    list_filter = ["mode", "organization", "feedback_policy"]
    search_fields = ["title"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["email", "organization", "role", "created_at", "expires_at", "accepted_at"]
    list_filter = ["organization", "role"]
    search_fields = ["email"]
    exclude = ["token_hash"]


class RatingItemInline(ReadOnlyMixin, admin.TabularInline):
    model = RatingItem
    fields = ["item", "value"]
    readonly_fields = fields
    extra = 0


@admin.register(Rating)
class RatingAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["pk", "attempt", "vignette_revision", "instrument_version", "applicable",
                    "total", "band_code", "submitted_at"]
    list_filter = ["instrument_version__instrument", "applicable"]
    search_fields = ["attempt__user__username", "vignette_revision__vignette__slug"]
    inlines = [RatingItemInline]


@admin.register(Attempt)
class AttemptAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["pk", "user", "organization", "mode", "status", "started_at", "submitted_at"]
    list_filter = ["mode", "status", "organization"]
    search_fields = ["user__username"]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    # People are shown by their current username (a pseudonym once erased), or by the name
    # the event kept when their account has been deleted since.
    list_display = ["at", "actor_name", "subject_name", "organization", "action", "object_type",
                    "object_repr"]
    list_filter = ["action", "organization"]
    search_fields = ["actor__username", "subject__username", "actor_username",
                     "subject_username", "object_repr", "action"]
    date_hierarchy = "at"
    list_select_related = ["actor", "subject", "organization"]

    @admin.display(description=_("actor"), ordering="actor_username")
    def actor_name(self, event):
        if event.actor_id:
            return event.actor.get_username()
        return event.actor_username or event.actor_repr

    @admin.display(description=_("subject"), ordering="subject_username")
    def subject_name(self, event):
        if event.subject_id:
            return event.subject.get_username()
        return event.subject_username or "-"


class AuditedUserAdmin(UserAdmin):
    """Deleting, deactivating and reactivating an account here is recorded in the audit trail
    with the staff member who did it (the recording itself: training/audit.py)."""

    def save_model(self, request, obj, form, change):
        with acting_as(request.user):
            super().save_model(request, obj, form, change)

    def delete_model(self, request, obj):
        with acting_as(request.user):
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with acting_as(request.user):
            super().delete_queryset(request, queryset)


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, AuditedUserAdmin)

# Two-factor devices: deleting one is the recovery path, audited (training/accounts/admin.py).
from training.accounts import admin as twofactor_admin  # noqa: E402, F401


@admin.register(Appeal)
class AppealAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Site staff decide an appeal only where no admin of its organisation is eligible; the
    link opens the page that says whether they may."""

    list_display = ["pk", "organization", "user", "kind", "status", "filed_at", "decide"]
    list_filter = ["status", "kind", "organization"]
    search_fields = ["user__username"]

    @admin.display(description=_("Decide"))
    def decide(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("cert:staff-appeal", args=[obj.pk]),
                           _("Open"))
