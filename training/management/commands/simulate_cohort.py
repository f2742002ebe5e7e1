import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from training.models import Cohort, Organization
from training.simulation import simulate_cohort, write_truth


class Command(BaseCommand):
    help = (
        "Simulate a cohort with a planted rater model (severity, hard items, applicability "
        "mistakes, learning, drift), writing real attempts through the services with an "
        "injected clock, and write the planted truth as JSON. Same seed, same history."
    )

    def add_arguments(self, parser):
        parser.add_argument("--trainees", type=int, default=20)
        parser.add_argument("--vignettes", type=int, default=20)
        parser.add_argument("--months", type=int, default=6)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--instrument", action="append", dest="instruments",
                            help="instrument slug (repeatable; default: all three bundled)")
        parser.add_argument("--ratings-per-trainee", type=int, default=None,
                            help="default: one rating of each simulated vignette")
        parser.add_argument("--organization", default="simulated-service",
                            help="organisation slug (created if missing)")
        parser.add_argument("--cohort", default=None, help="cohort name (default from seed)")
        parser.add_argument("--prefix", default=None, help="trainee username prefix")
        parser.add_argument("--truth", type=Path, default=None,
                            help="where to write the planted truth (default artifacts/)")
        parser.add_argument("--force", action="store_true",
                            help="run even though DEBUG is off")

    def handle(self, *args, **o):
        if not settings.DEBUG and not o["force"]:
            raise CommandError("DEBUG is off: simulate_cohort creates accounts. Use --force.")
        for name in ("trainees", "vignettes", "months"):
            if o[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        call_command("load_content", verbosity=0)
        org, _ = Organization.objects.get_or_create(
            slug=o["organization"],
            defaults={"name": o["organization"].replace("-", " ").title(),
                      "time_zone": "Europe/London"},
        )
        cohort_name = o["cohort"] or f"Simulated cohort (seed {o['seed']})"
        cohort, _ = Cohort.objects.get_or_create(organization=org, name=cohort_name)
        if cohort.trainees.exists():
            raise CommandError(f"Cohort {cohort_name!r} in {org.slug} already has trainees; "
                               "choose another --cohort or --seed.")
        now = timezone.now()
        truth = simulate_cohort(
            organization=org,
            cohort=cohort,
            trainees=o["trainees"],
            vignettes=o["vignettes"],
            months=o["months"],
            seed=o["seed"],
            start=now - dt.timedelta(days=30 * o["months"] + 1),
            instruments=o["instruments"],
            ratings_per_trainee=o["ratings_per_trainee"],
            username_prefix=o["prefix"] or f"sim{o['seed']}-trainee-",
        )
        path = o["truth"] or Path(settings.BASE_DIR) / "artifacts" / (
            f"planted-truth-seed{o['seed']}.json")
        write_truth(truth, path)
        self.stdout.write(
            f"Simulated {len(truth.raters)} trainees, {truth.ratings} ratings over "
            f"{truth.months} months in cohort {cohort.name!r} (id {cohort.pk}) of {org.name}."
        )
        self.stdout.write(f"Planted truth: {path}")
        self.stdout.write(f"Hardest items: {truth.hardest_item}; most lenient trainee: "
                          f"{truth.most_lenient}; most severe: {truth.most_severe}")
