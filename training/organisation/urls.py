"""Pages for organisation admins and instructors, under /manage/."""

from django.urls import path

from training.organisation.views import audit as audit_views
from training.organisation.views import members as member_views
from training.organisation.views import privacy as privacy_views
from training.organisation.views import teaching as teaching_setup_views

app_name = "manage"

urlpatterns = [
    path("members/", member_views.members, name="members"),
    path("members/invite/", member_views.member_invite, name="member-invite"),
    path("members/import/", member_views.members_import, name="members-import"),
    path("members/<int:membership_id>/role/", member_views.member_role, name="member-role"),
    path("members/<int:membership_id>/remove/", member_views.member_remove, name="member-remove"),
    path("members/<int:membership_id>/", privacy_views.member_detail, name="member-detail"),
    path("members/<int:membership_id>/export/", privacy_views.member_export, name="member-export"),
    path("members/<int:membership_id>/erase/", privacy_views.member_erase, name="member-erase"),
    path("organisation/", privacy_views.organization_settings, name="organization"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        member_views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("cohorts/", teaching_setup_views.cohorts, name="cohorts"),
    path("cohorts/new/", teaching_setup_views.cohort_create, name="cohort-create"),
    path("cohorts/<int:cohort_id>/", teaching_setup_views.cohort_edit, name="cohort-edit"),
    path("assignments/", teaching_setup_views.assignments, name="assignments"),
    path("assignments/new/", teaching_setup_views.assignment_create, name="assignment-create"),
    path("assignments/<int:assignment_id>/", teaching_setup_views.assignment_edit, name="assignment-edit"),
    path("audit/", audit_views.audit, name="audit"),
]
