"""The public invitation pages; included at /invitations/ by the root URLconf."""

from django.urls import path

from training.organisation.views import invitations as invitation_views

urlpatterns = [
    # The link in the e-mail: keeps the token in the session and moves on to the page below.
    path("<str:token>/", invitation_views.invitation_open, name="invitation-accept"),
    path("<int:invitation_id>/join/", invitation_views.invitation_accept, name="invitation-join"),
]
