"""Coverage of the content library: which codes, bands and case types the vignettes exercise.

Pure Python over a parsed content bundle (no database), so CI can run it on the files.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from vignettes import content_files, scoring

MIN_CASES_PER_VALUE = 3  # in the practice pool, where the instrument applies
MIN_CASES_PER_BAND = 2  # in the practice pool
MIN_PUBLISHED = 92
MIN_PRACTICE = 36
MIN_EXAM = 36
MIN_EXAM_APPLICABLE = 36  # per instrument: exam vignettes where it applies (retakes draw anew)
MIN_EXAM_PER_VALUE = 2  # every item value (omitted included) in the exam pool
MIN_RECALIBRATION = 24  # two years of periodic recalibration without repeats
MAX_CSEM_CONTACT_SHARE = 0.25  # contact convictions among CSEM cases (ATSA 2021: ~1 in 10)
REAL_FILE_WORDS = 1200
# The cases a real file brings, with the least the library holds of each, so the content
# report can say which a pool lacks.
TRAPS = {
    "woman": 3, "under 18 at the index offence": 3, "STABLE-2007 does not apply": 3,
    "contact offence charged, not convicted": 2, "item omitted for missing information": 6,
    "real file (1,200-2,000 words)": 6,
}
MIN_HARD_SHARE = 0.25  # "about a third"
OMITTED = "omitted"


@dataclass
class CoverageReport:
    # (instrument, item, value) -> {pool: count}
    values: dict[tuple[str, str, object], Counter] = field(default_factory=dict)
    # (instrument, band code) -> {pool: count}
    bands: dict[tuple[str, str], Counter] = field(default_factory=dict)
    # (case type, instrument) -> Counter of "applicable"/"not applicable"
    applicability: dict[tuple[str, str], Counter] = field(default_factory=dict)
    difficulty: Counter = field(default_factory=Counter)  # (pool, difficulty)
    pools: Counter = field(default_factory=Counter)
    traps: Counter = field(default_factory=Counter)
    csem: Counter = field(default_factory=Counter)  # "cases", "contact conviction"
    gaps: list[str] = field(default_factory=list)


def coverage_report(bundle: content_files.ContentBundle) -> CoverageReport:
    report = CoverageReport()
    published = [v for v in bundle.vignettes.values() if v.status == "published"]
    for inst_slug, inst in bundle.instruments.items():
        for item in inst.data["items"]:
            for v in item["values"]:
                report.values[(inst_slug, item["code"], v["value"])] = Counter()
            if item.get("omissible"):
                report.values[(inst_slug, item["code"], OMITTED)] = Counter()
        for band in inst.spec.bands:
            report.bands[(inst_slug, band.code)] = Counter()

    for doc in published:
        report.pools[doc.pool] += 1
        report.difficulty[(doc.pool, doc.difficulty)] += 1
        _count_traps(report, doc, bundle)
        for inst_slug, inst in bundle.instruments.items():
            ref = doc.references.get(inst_slug)
            if ref is None:
                continue
            for case_type in doc.case_types:
                key = (case_type, inst_slug)
                report.applicability.setdefault(key, Counter())[
                    "applicable" if ref.applicable else "not applicable"
                ] += 1
            if not ref.applicable:
                continue
            for code, (value, _rationale) in ref.items.items():
                key = (inst_slug, code, OMITTED if value is None else value)
                if key in report.values:
                    report.values[key][doc.pool] += 1
            result = scoring.score(inst.spec, ref.item_states())
            if result.band is not None:
                report.bands[(inst_slug, result.band.code)][doc.pool] += 1

    _find_gaps(report, bundle, published)
    return report


def _count_traps(report, doc, bundle) -> None:
    traps = report.traps
    if doc.person == "woman":
        traps["woman"] += 1
    if doc.person == "under-18":
        traps["under 18 at the index offence"] += 1
    stable = doc.references.get("stable-2007")
    if stable is not None and not stable.applicable:
        traps["STABLE-2007 does not apply"] += 1
    if "csem-contact-charged" in doc.case_types:
        traps["contact offence charged, not convicted"] += 1
    for slug, ref in doc.references.items():
        inst = bundle.instruments.get(slug)
        if inst is None or not ref.applicable:
            continue
        if scoring.score(inst.spec, ref.item_states()).missing:
            traps["item omitted for missing information"] += 1
            break
    if len(doc.body.split()) >= REAL_FILE_WORDS:
        traps["real file (1,200-2,000 words)"] += 1
    if any(c.startswith("csem") for c in doc.case_types):
        report.csem["cases"] += 1
        if "csem-contact-conviction" in doc.case_types:
            report.csem["contact conviction"] += 1


def _find_gaps(report, bundle, published) -> None:
    gaps = report.gaps
    for name, least in TRAPS.items():
        if report.traps[name] < least:
            gaps.append(f"{name}: {report.traps[name]} vignette(s); needs at least {least}")
    if report.csem["cases"] and (report.csem["contact conviction"] / report.csem["cases"]
                                 > MAX_CSEM_CONTACT_SHARE):
        gaps.append(f"{report.csem['contact conviction']} of {report.csem['cases']} CSEM cases "
                    f"have a contact conviction; at most {MAX_CSEM_CONTACT_SHARE:.0%}")
    if report.pools["recalibration"] < MIN_RECALIBRATION:
        gaps.append(f"{report.pools['recalibration']} recalibration vignettes; needs at least "
                    f"{MIN_RECALIBRATION}")
    for (inst, code, value), counts in report.values.items():
        if counts["exam"] < MIN_EXAM_PER_VALUE:
            shown = "omitted" if value == OMITTED else value
            gaps.append(f"{inst} {code} = {shown}: {counts['exam']} exam vignette(s); needs at "
                        f"least {MIN_EXAM_PER_VALUE}")
    for (inst, code, value), counts in report.values.items():
        if counts["practice"] < MIN_CASES_PER_VALUE:
            gaps.append(
                f"{inst} {code} = {value}: {counts['practice']} practice vignette(s) where the "
                f"instrument applies; needs at least {MIN_CASES_PER_VALUE}"
            )
    for (inst, band), counts in report.bands.items():
        if counts["practice"] < MIN_CASES_PER_BAND:
            gaps.append(
                f"{inst} band {band}: {counts['practice']} practice vignette(s); needs at least "
                f"{MIN_CASES_PER_BAND}"
            )
    if len(published) < MIN_PUBLISHED:
        gaps.append(f"{len(published)} published vignettes; needs at least {MIN_PUBLISHED}")
    if report.pools["practice"] < MIN_PRACTICE:
        gaps.append(f"{report.pools['practice']} practice vignettes; needs at least {MIN_PRACTICE}")
    if report.pools["exam"] < MIN_EXAM:
        gaps.append(f"{report.pools['exam']} exam vignettes; needs at least {MIN_EXAM}")
    for inst in bundle.instruments:
        n = sum(
            1 for d in published if d.pool == "exam" and d.references.get(inst)
            and d.references[inst].applicable
        )
        if n < MIN_EXAM_APPLICABLE:
            gaps.append(f"{inst} applies to {n} exam vignettes; needs at least {MIN_EXAM_APPLICABLE}")
        kinds = {s.kind for s in bundle.sets.values() if s.instrument == inst}
        for kind in ("practice", "exam"):
            if kind not in kinds:
                gaps.append(f"{inst} has no {kind} set in sets/")
    for case_type in content_files.CASE_TYPES:
        if not any(case_type in d.case_types for d in published):
            gaps.append(f"case type {case_type}: no published vignette")
    hard = sum(1 for d in published if d.difficulty == "hard")
    if published and hard / len(published) < MIN_HARD_SHARE:
        gaps.append(
            f"{hard} of {len(published)} vignettes are hard; about a third should be "
            f"(at least {MIN_HARD_SHARE:.0%})"
        )
    practice_set_members = {
        slug for s in bundle.sets.values() if s.kind == "practice" for slug in s.vignettes
    }
    for doc in published:
        if doc.pool == "exam" and doc.slug in practice_set_members:
            gaps.append(f"{doc.slug} is an exam vignette in a practice set")
