from django.core.management.base import BaseCommand

from training.certification.decisions import exams_finalise_due


class Command(BaseCommand):
    help = ("Finalise attempts past their deadline (and exam attempts never opened whose "
            "assignment has closed) with what was saved; evaluate exams. Safe to run often.")

    def handle(self, *args, **options):
        count = exams_finalise_due()
        self.stdout.write(f"{count} attempt(s) finalised.")
