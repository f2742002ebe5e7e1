from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from vignettes import content_files, content_rules, coverage
from vignettes.coverage import OMITTED, coverage_report


class Command(BaseCommand):
    help = (
        "Coverage of the content library: item x value per pool, bands, case type x "
        "applicability, difficulty mix. Exits non-zero on any content problem or coverage gap."
    )

    def add_arguments(self, parser):
        parser.add_argument("--path", type=Path, default=None)

    def handle(self, *args, path=None, **options):
        root = path or Path(settings.CALIBRATE_CONTENT_DIR)
        bundle = content_files.read_content_dir(root)
        for problem in bundle.problems:
            self.stderr.write(str(problem))
        report = coverage_report(bundle)
        w = self.stdout.write
        pools = ("practice", "exam", "recalibration")

        w("Item x value: number of published vignettes where the instrument applies")
        w(f"{'instrument':<12} {'item':<10} {'value':>7} " + " ".join(f"{p:>13}" for p in pools))
        for (inst, code, value), counts in report.values.items():
            shown = OMITTED if value == OMITTED else f"{value:+d}" if value < 0 else str(value)
            w(f"{inst:<12} {code:<10} {shown:>7} " + " ".join(f"{counts[p]:>13}" for p in pools))
        w("")
        w("Bands")
        w(f"{'instrument':<12} {'band':<10} " + " ".join(f"{p:>13}" for p in pools))
        for (inst, band), counts in report.bands.items():
            w(f"{inst:<12} {band:<10} " + " ".join(f"{counts[p]:>13}" for p in pools))
        w("")
        w("Case type x applicability (applicable / not applicable)")
        instruments = list(bundle.instruments)
        w(f"{'case type':<26} " + " ".join(f"{i:>14}" for i in instruments))
        for case_type in content_files.CASE_TYPES:
            cells = []
            for inst in instruments:
                c = report.applicability.get((case_type, inst))
                cells.append(f"{c['applicable']:>6} / {c['not applicable']:<5}" if c else f"{'-':>14}")
            w(f"{case_type:<26} " + " ".join(cells))
        w("")
        w("Difficulty mix")
        for pool in pools:
            mix = ", ".join(
                f"{d} {report.difficulty[(pool, d)]}" for d in content_files.DIFFICULTIES
            )
            w(f"  {pool:<14} {report.pools[pool]:>3} vignettes: {mix}")
        w("")
        w("Pools and the cases a real file brings")
        w(f"  recalibration pool   {report.pools['recalibration']:>4}  (at least "
          f"{coverage.MIN_RECALIBRATION})")
        for inst in sorted(bundle.instruments):
            n = sum(1 for d in bundle.vignettes.values() if d.status == "published"
                    and d.pool == "exam" and d.references.get(inst)
                    and d.references[inst].applicable)
            w(f"  exam, {inst:<13} {n:>4}  where it applies (at least "
              f"{coverage.MIN_EXAM_APPLICABLE}); {report.pools['exam']} in its exam pool")
        for name, least in coverage.TRAPS.items():
            w(f"  {name:<40} {report.traps[name]:>4}  (at least {least})")
        share = (report.csem["contact conviction"] / report.csem["cases"]
                 if report.csem["cases"] else 0)
        w(f"  CSEM cases with a contact conviction     {report.csem['contact conviction']:>4}"
          f"  of {report.csem['cases']} ({share:.0%}; at most "
          f"{coverage.MAX_CSEM_CONTACT_SHARE:.0%})")
        w("")
        rechecks = content_rules.references_to_recheck(bundle.vignettes.values(),
                                                       bundle.instruments)
        w(f"References to re-check (scored under an older coding note): {len(rechecks)}")
        for recheck in rechecks:
            w(f"  - {recheck}")
        if rechecks:
            w("  Confirm one with `checked_under: \"<version>\"` on the reference, or correct it "
              "(with its `correction:`).")
        w("")
        if report.gaps:
            w("Gaps:")
            for gap in report.gaps:
                w(f"  - {gap}")
        if bundle.problems or report.gaps or rechecks:
            raise CommandError(
                f"{len(bundle.problems)} content problem(s), {len(report.gaps)} coverage gap(s), "
                f"{len(rechecks)} reference(s) to re-check.",
                returncode=1,
            )
        w(self.style.SUCCESS("No gaps: every value, band and pool requirement is met."))
