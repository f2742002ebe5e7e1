from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vignettes import content_files
from vignettes.services import ContentProblems, content_load, note_change_problems


class Command(BaseCommand):
    help = (
        "Load (or with --check only validate) instruments, vignettes and sets from content "
        "files. Prints one line per problem (file: field: what is wrong) and exits non-zero "
        "if there is any; nothing is written then."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--path",
            type=Path,
            default=None,
            help="Content directory (default: the bundled vignettes/content).",
        )
        parser.add_argument("--check", action="store_true", help="Validate only; write nothing.")

    def handle(self, *args, path=None, check=False, **options):
        root = path or Path(settings.CALIBRATE_CONTENT_DIR)
        bundle = content_files.read_content_dir(root)
        if not bundle.problems:
            # Against what is loaded already: a changed coding note must be declared.
            bundle.problems.extend(note_change_problems(bundle))
        if bundle.problems:
            for problem in bundle.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"{len(bundle.problems)} problem(s) in {root}; nothing was loaded.", returncode=1
            )
        summary = (
            f"{len(bundle.instruments)} instrument(s), {len(bundle.vignettes)} vignette(s), "
            f"{len(bundle.sets)} set(s)"
        )
        if check:
            self.stdout.write(f"{summary} in {root}: no problems.")
            return
        try:
            report = content_load(bundle=bundle)
        except ContentProblems as exc:
            # Found only against what is loaded (a reference whose codes changed without a
            # correction record): nothing was written.
            for problem in exc.problems:
                self.stderr.write(str(problem))
            raise CommandError(
                f"{len(exc.problems)} problem(s) in {root}; nothing was loaded.", returncode=1
            ) from exc
        if options["verbosity"] >= 1:
            for change in report.changes:
                self.stdout.write(change)
        if options["verbosity"] < 1:
            return
        if report.changed:
            self.stdout.write(
                self.style.SUCCESS(f"Loaded {summary}: {len(report.changes)} change(s).")
            )
        else:
            self.stdout.write(f"{summary}: no changes.")
