import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from training.organisation.retention import retention_apply


def parse_now(value):
    if not value:
        return None
    try:
        now = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--now: not an ISO date-time ({exc}).") from exc
    return now if now.tzinfo is not None else now.replace(tzinfo=dt.UTC)


def describe(result) -> str:
    return (f"{result.organization}: {result.drafts_deleted} stale draft(s) deleted, "
            f"{result.attempts_cleared} old attempt(s) cleared of notes "
            f"({result.comments_deleted} comment(s) deleted), "
            f"{result.people_pseudonymised} former member(s) pseudonymised.")


class Command(BaseCommand):
    help = ("Apply each organisation's data-retention settings (draft_retention_days, "
            "attempt_retention_days). Idempotent; organisations without settings are skipped.")

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO date-time to run as (default: now).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Report what would be done; change nothing.")

    def handle(self, *args, **options):
        results = retention_apply(now=parse_now(options.get("now")),
                                  dry_run=options["dry_run"])
        prefix = "[dry run] " if options["dry_run"] else ""
        if not results:
            self.stdout.write(f"{prefix}No organisation has retention settings.")
        for result in results:
            self.stdout.write(prefix + describe(result))
