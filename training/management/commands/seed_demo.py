from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from training import demo

DEFAULT_PASSWORD = "calibrate-demo"


class Command(BaseCommand):
    help = (
        "Create a demo organisation with demo accounts (demo-staff, demo-admin, "
        "demo-instructor, demo-trainee, demo-trainee2, ...) and print them. Loads the bundled "
        "content first. Refuses to run when DEBUG is off unless --force is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEFAULT_PASSWORD)
        parser.add_argument(
            "--force", action="store_true", help="Run even though DEBUG is off (production)."
        )

    def handle(self, *args, password, force, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: seed_demo creates accounts with a known password. "
                "Use --force if you really want demo accounts on this installation."
            )
        if not password or len(password) < 8:
            raise CommandError("--password must have at least 8 characters.")
        call_command("load_content", verbosity=0)
        result = demo.seed_demo(password=password)
        self.stdout.write(f"Demo organisation: {result.organization.name}")
        self.stdout.write(f"Demo accounts (password: {password}):")
        for username, role in result.accounts:
            self.stdout.write(f"  {username:<34} {role}")
        if result.truth is not None:
            self.stdout.write(
                f"Simulated history: {result.truth.ratings} ratings over "
                f"{result.truth.months} months."
            )
