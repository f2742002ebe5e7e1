import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from training.recalibration import certification_tick


class Command(BaseCommand):
    help = ("Periodic certification work: assign recalibrations, evaluate drift (CUSUM), "
            "expire certificates, send reminders. Idempotent and safe to run as often as you "
            "like; a concurrent run skips.")

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO date-time to run as (default: now).")

    def handle(self, *args, **options):
        now = None
        if options.get("now"):
            try:
                now = dt.datetime.fromisoformat(options["now"])
            except ValueError as exc:
                raise CommandError(f"--now: not an ISO date-time ({exc}).") from exc
            if now.tzinfo is None:
                now = now.replace(tzinfo=dt.UTC)
        result = certification_tick(now=now)
        if not result.ran:
            self.stdout.write("Another certification_tick is running; skipped.")
            return
        self.stdout.write(
            f"{result.assigned} recalibration(s) assigned, {result.alerts} drift alert(s), "
            f"{result.changes} other change(s), {result.reminders} reminder(s) sent.")
