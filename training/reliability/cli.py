"""``irr``: reliability statistics for a long-format ratings CSV, without Django.

``python -m training.reliability FILE.csv [options]`` runs it directly (no settings, no
database, only the kernels the asked statistics need are imported); ``manage.py irr`` parses
the same options and calls :func:`run`. Exit status 2 and one line on stderr for a file that
cannot be read or an unknown statistic.
"""

from __future__ import annotations

import argparse
import json
import sys

from .csvio import RatingsFileError, RatingsMatrix, read_ratings_csv
from .report import STATISTICS, item_report
from .sufficiency import gate_for, sufficiency

HELP = ("Reliability statistics (ICC, kappas, Krippendorff's alpha, AC1/AC2 ...) for a "
        "long-format ratings CSV (unit,rater,value[,item][,reference]) or the cohort export.")


class IrrError(ValueError):
    """What ``irr`` reports as one line with exit status 2."""


REFERENCE_STATISTICS = (
    "exact_agreement", "tolerance_agreement", "mean_signed_deviation", "bland_altman_bias",
    "bland_altman_lower", "bland_altman_upper", "icc_a1_with_reference",
)


def _block(data: RatingsMatrix, statistics: list[str] | None, tolerance: float) -> dict:
    among = [s for s in statistics if s in STATISTICS] if statistics else None
    block = {
        "units": len(data.units),
        "raters": len(data.raters),
        "ratings": data.ratings,
        "missing": data.missing,
        "statistics": {},
    }
    # The kernels compute every defined value (published examples of 6 units reproduce); each
    # value carries the gate a page applies before showing it (docs/statistics.md, "How much
    # data a value needs"): `sufficient`, the counts and how many more units are needed.
    gate = sufficiency(data.matrix)
    block["sufficiency"] = gate.as_dict()
    for name, est in item_report(data.matrix, statistics=among).items():
        entry = est.to_dict()
        own = gate_for(est, gate)
        entry.update(sufficient=own.sufficient, units=own.units, pairable=own.pairable,
                     units_needed=own.units_needed, decision_grade=own.decision_grade,
                     gate_reason=own.reason)
        block["statistics"][name] = entry
    if data.reference_pairs:
        from .reference import reference_report  # SciPy's stats: only when there is a reference

        wanted = [s for s in statistics if s in REFERENCE_STATISTICS] if statistics else None
        block["reference"] = {
            rater: {name: est.to_dict()
                    for name, est in reference_report(t, r, tolerance=tolerance).items()
                    if wanted is None or name in wanted}
            for rater, (t, r) in data.reference_pairs.items()
        }
    return block


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def _table_lines(block: dict, title: str | None) -> list[str]:
    lines = [] if title is None else [f"== item {title} =="]
    gate = block["sufficiency"]
    lines.append(f"units {block['units']}, raters {block['raters']}, ratings {block['ratings']}, "
                 f"missing {block['missing']}; units with 2+ ratings {gate['units']}, pairable "
                 f"values {gate['pairable']}: "
                 + ("sufficient" + ("" if gate["decision_grade"] else
                                    " (indicative, not decision-grade)")
                    if gate["sufficient"] else
                    f"NOT sufficient for a page ({gate['units_needed']} more units needed)"))

    def note(e: dict) -> str:
        if e["undefined_reason"]:
            return e["undefined_reason"]
        if not e["sufficient"]:
            return f"{e['units_needed']} more units needed before a page shows it"
        return "" if e["decision_grade"] else "indicative"

    rows = [(name, e["name"], _fmt(e["value"]),
             f"[{_fmt(e['ci95'][0])}, {_fmt(e['ci95'][1])}]" if e["ci95"] else "",
             str(e["units"]), str(e["pairable"]), "yes" if e["sufficient"] else "no", note(e))
            for name, e in block["statistics"].items()]
    for rater, stats in block.get("reference", {}).items():
        rows += [(f"{rater}: {name}", e["name"], _fmt(e["value"]),
                  f"[{_fmt(e['ci95'][0])}, {_fmt(e['ci95'][1])}]" if e["ci95"] else "",
                  str(e["n_units"]), "", "n/a", e["undefined_reason"] or "")
                 for name, e in stats.items()]
    head = ("statistic", "form", "value", "95% CI", "units", "pairable", "sufficient", "note")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for row in [head, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip())
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``irr``, shared by ``python -m training.reliability`` and manage.py."""
    parser.add_argument("file", help="CSV file, one row per rating")
    parser.add_argument("--statistic", action="append", dest="statistics", metavar="NAME",
                        help="only this statistic (repeatable): "
                             + ", ".join(STATISTICS + REFERENCE_STATISTICS))
    parser.add_argument("--format", choices=("json", "table"), default="json")
    parser.add_argument("--unit-column", default="unit")
    parser.add_argument("--rater-column", default="rater")
    parser.add_argument("--value-column", default="value")
    parser.add_argument("--item-column", default=None,
                        help="default: 'item' when the file has it")
    parser.add_argument("--reference-column", default=None,
                        help="column holding the reference code on every row "
                             "(default: 'reference_value' when present)")
    parser.add_argument("--reference-flag-column", default=None,
                        help="column whose 1 marks the reference rater's rows "
                             "(default: 'reference' when present)")
    parser.add_argument("--first-rating-column", default=None,
                        help="only rows true here enter the among-raters statistics "
                             "(default: 'first_rating' when present)")
    parser.add_argument("--tolerance", type=float, default=1.0,
                        help="tolerance for agreement with the reference (default 1)")


def run(options: dict) -> str:
    """The output of ``irr`` for parsed ``options``; raises :class:`IrrError`."""
    statistics = options["statistics"]
    known = STATISTICS + REFERENCE_STATISTICS
    for name in statistics or ():
        if name not in known:
            raise IrrError(f"unknown statistic {name!r}; known: {', '.join(known)}")
    try:
        data = read_ratings_csv(
            options["file"], unit_column=options["unit_column"],
            rater_column=options["rater_column"], value_column=options["value_column"],
            item_column=options["item_column"], reference_column=options["reference_column"],
            reference_flag_column=options["reference_flag_column"],
            first_rating_column=options["first_rating_column"],
        )
    except RatingsFileError as exc:
        raise IrrError(str(exc)) from None
    try:
        if list(data.items) == [None]:
            result = _block(data.items[None], statistics, options["tolerance"])
        else:
            blocks = {item: _block(m, statistics, options["tolerance"])
                      for item, m in data.items.items()}
            result = {
                "units": len({u for m in data.items.values() for u in m.units}),
                "raters": len({r for m in data.items.values() for r in m.raters}),
                "ratings": sum(b["ratings"] for b in blocks.values()),
                "missing": sum(b["missing"] for b in blocks.values()),
                "items": {item: blocks[item] for item in blocks},
            }
    except ValueError as exc:
        raise IrrError(str(exc)) from None
    if options["format"] == "json":
        return json.dumps(result, indent=2, allow_nan=False)
    lines = []
    if "items" in result:
        lines.append(f"units {result['units']}, raters {result['raters']}, ratings "
                     f"{result['ratings']}, missing {result['missing']}")
        for item, block in result["items"].items():
            lines += ["", *_table_lines(block, item)]
    else:
        lines = _table_lines(result, None)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.reliability", description=HELP)
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        output = run(options)
    except IrrError as exc:
        print(f"irr: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(output + "\n")
    return 0
