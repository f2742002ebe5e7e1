from django.core.management.base import BaseCommand, CommandError

from training.certification.credentials import keys
from training.models import Organization


class Command(BaseCommand):
    help = ("Rotate organisations' credential signing keys: a new key signs from now on; the "
            "old public keys stay in each organisation's JWK set, so credentials signed "
            "earlier still verify. --reencrypt instead re-encrypts every stored private key "
            "with the first CREDENTIAL_KEY_ENCRYPTION_KEY (after putting a new one first).")

    def add_arguments(self, parser):
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--organization", metavar="SLUG", action="append",
                            help="The organisation's slug (repeatable).")
        target.add_argument("--all", action="store_true", help="Every organisation.")
        target.add_argument("--reencrypt", action="store_true",
                            help="Re-encrypt the stored private keys; rotate nothing.")

    def handle(self, *args, **options):
        if options["reencrypt"]:
            count = keys.keys_reencrypt()
            self.stdout.write(f"{count} private key(s) re-encrypted with the first "
                              "CREDENTIAL_KEY_ENCRYPTION_KEY.")
            return
        if options["all"]:
            organizations = list(Organization.objects.order_by("slug"))
        else:
            slugs = options["organization"]
            organizations = list(Organization.objects.filter(slug__in=slugs).order_by("slug"))
            unknown = sorted(set(slugs) - {o.slug for o in organizations})
            if unknown:
                raise CommandError(f"No organisation with the slug: {', '.join(unknown)}.")
        for organization in organizations:
            new = keys.key_rotate(organization=organization)
            self.stdout.write(f"{organization.slug}: now signing with key {new.kid}; "
                              "earlier keys stay published for verification.")
