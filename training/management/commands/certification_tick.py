import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from training.certification.recalibration import certification_tick
from training.management.commands.apply_retention import describe
from training.organisation.retention import retention_apply


class Command(BaseCommand):
    help = ("Periodic certification work: assign recalibrations, evaluate drift (CUSUM), "
            "expire certificates, send reminders; then apply data retention. Idempotent and "
            "safe to run as often as you like; a concurrent run skips.")

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
        else:
            self.stdout.write(
                f"{result.assigned} recalibration(s) assigned, {result.alerts} drift alert(s), "
                f"{result.changes} other change(s), {result.reminders} reminder(s) sent.")
        # Data retention runs with the same schedule; it is idempotent and locks
        # each organisation's row, so it is safe even when another tick is running.
        for retention in retention_apply(now=now):
            self.stdout.write("Retention " + describe(retention))
