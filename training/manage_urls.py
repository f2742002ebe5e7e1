"""Pages for organisation admins and instructors, under /manage/."""

from django.urls import path

from training import manage_views as views

app_name = "manage"

urlpatterns = [
    path("members/", views.members, name="members"),
    path("members/invite/", views.member_invite, name="member-invite"),
    path("members/import/", views.members_import, name="members-import"),
    path("members/<int:membership_id>/role/", views.member_role, name="member-role"),
    path("members/<int:membership_id>/remove/", views.member_remove, name="member-remove"),
    path("members/<int:membership_id>/", views.member_detail, name="member-detail"),
    path("members/<int:membership_id>/export/", views.member_export, name="member-export"),
    path("members/<int:membership_id>/erase/", views.member_erase, name="member-erase"),
    path("organisation/", views.organization_settings, name="organization"),
    path(
        "invitations/<int:invitation_id>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("cohorts/", views.cohorts, name="cohorts"),
    path("cohorts/new/", views.cohort_create, name="cohort-create"),
    path("cohorts/<int:cohort_id>/", views.cohort_edit, name="cohort-edit"),
    path("assignments/", views.assignments, name="assignments"),
    path("assignments/new/", views.assignment_create, name="assignment-create"),
    path("assignments/<int:assignment_id>/", views.assignment_edit, name="assignment-edit"),
    path("audit/", views.audit, name="audit"),
]
