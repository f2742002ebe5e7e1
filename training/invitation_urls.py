"""The public invitation pages; included at /invitations/ by the root URLconf."""

from django.urls import path

from training import manage_views

urlpatterns = [
    # The link in the e-mail: keeps the token in the session and moves on to the page below.
    path("<str:token>/", manage_views.invitation_open, name="invitation-accept"),
    path("<int:invitation_id>/join/", manage_views.invitation_accept, name="invitation-join"),
]
