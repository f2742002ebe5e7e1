"""The public invitation page; included at /invitations/ by the root URLconf."""

from django.urls import path

from training import manage_views

urlpatterns = [
    path("<str:token>/", manage_views.invitation_accept, name="invitation-accept"),
]
