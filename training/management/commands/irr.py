"""manage.py irr: reliability statistics for a long-format ratings CSV.

The work is done by :mod:`training.reliability.cli`, which ``python -m training.reliability``
runs without starting Django; this command parses the same options and prints the same output.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from training.reliability.cli import HELP, IrrError, add_arguments, run


class Command(BaseCommand):
    help = HELP

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        try:
            output = run(options)
        except IrrError as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(output)
