"""Recovery from the server: remove a user's two-factor devices (authenticator and backup
codes), e.g. for the only staff user, who cannot reach the admin without their device.
Recorded in the audit trail as `two_factor.removed_by_staff` by "system"."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from training.accounts import twofactor


class Command(BaseCommand):
    help = "Remove a user's two-factor sign-in devices so they can sign in with the password."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        removed = twofactor.remove_by_staff(actor=None, user=user)
        if not removed:
            self.stdout.write(f"{username} has no two-factor devices.")
        else:
            self.stdout.write(f"Removed {removed} two-factor device(s) of {username}: they sign "
                              "in with the password alone now.")
