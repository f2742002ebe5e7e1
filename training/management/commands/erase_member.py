from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from training.models import ErasureReason, Membership, Organization, Role
from training.organisation.erasure import _erase_in_organization, is_erased
from training.organisation.members import other_admins


class Command(BaseCommand):
    help = ("Site staff: erase a person from one organisation (as an org admin's 'Erase this "
            "member' does). Ratings stay under a pseudonym; "
            "other organisations' records are not touched. Also works for a former member "
            "whose records the organisation still holds.")

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organisation slug.")
        parser.add_argument("--user", required=True, help="Username.")
        parser.add_argument("--yes", action="store_true", help="Do not ask to confirm.")

    def handle(self, *args, **options):
        organization = Organization.objects.filter(slug=options["org"]).first()
        if organization is None:
            raise CommandError(f"--org: no organisation with slug {options['org']!r}.")
        user = get_user_model().objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"--user: no user {options['user']!r}.")
        if is_erased(user):
            raise CommandError(f"--user: {user.username} has already been erased.")
        holds = (Membership.objects.filter(organization=organization, user=user).exists()
                 or user.attempts.filter(organization=organization).exists()
                 or user.certificates.filter(organization=organization).exists())
        if not holds:
            raise CommandError(f"{organization.slug} holds no membership, attempt or "
                               f"certificate of {user.username}.")
        membership = Membership.objects.filter(organization=organization, user=user).first()
        if (membership is not None and membership.role == Role.ORG_ADMIN
                and not other_admins(organization, membership)):
            raise CommandError("The organisation needs at least one organisation admin; make "
                               "someone else an admin first.")
        if not options["yes"]:
            answer = input(f"Erase {user.username} from {organization.slug}? Type the "
                           f"username to confirm: ")
            if answer.strip() != user.username:
                raise CommandError("Not confirmed; nothing was changed.")
        try:
            with transaction.atomic():
                result = _erase_in_organization(
                    actor=None, organization=organization, user=user,
                    reason=ErasureReason.REQUEST, now=timezone.now())
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        how = ("the account itself was pseudonymised" if result.in_place else
               "the organisation's records moved to a new pseudonymous account; the account "
               "lives on for its other organisation(s)")
        self.stdout.write(f"Erased from {organization.slug} as {result.pseudonym}: {how}. "
                          + ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items())))
