"""Item and vignette analytics for instructors: agreement per item, confusion, the most common wrong code, vignettes where the cohort's consensus differs from the reference."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from training.models import Rating
from training.reliability import (
    Estimate,
    cohen_kappa,
    gwet_ac1,
    specific_agreement,
)
from training.teaching.data import OMITTED, CohortData

# --- items ----------------------------------------------------------------------------------


@dataclass
class ItemRow:
    code: str
    name: str
    scored: int
    agreement: float | None
    kappa: Estimate
    ac1: Estimate
    specific: list[tuple[str, Estimate]]  # agreement on each code (PA/NA on a 0/1 item)
    confusion: list[list[int]]  # rows: trainee value, columns: reference value
    labels: list[str]
    most_common_wrong: str
    wrong_vignettes: list[tuple[str, str, int]]  # slug, title, count
    notes: list[dict]


def _label(value: float) -> str:
    if value == OMITTED:
        return "omitted"
    if np.isnan(value):
        return "unscored"
    return str(int(value))


@dataclass
class ItemAgreement:
    code: str
    name: str
    agreement: float | None


def item_agreements(data: CohortData) -> list[ItemAgreement]:
    """Each item's exact agreement with the reference (as in `item_rows`, without the
    confusion matrices, kappas and notes that only the item page shows)."""
    both = data.both
    out = []
    for j, code in enumerate(data.item_codes):
        mine = data.codes[both, j]
        ref = data.ref_codes[both, j]
        present = ~np.isnan(ref)
        mine, ref = mine[present], ref[present]
        out.append(ItemAgreement(code=code, name=data.item_names[code],
                                 agreement=float(np.mean(mine == ref)) if mine.size else None))
    return out


def item_rows(data: CohortData, *, with_notes_for: str | None = None) -> list[ItemRow]:
    both = data.both
    out = []
    notes = _notes(data, with_notes_for) if with_notes_for else []
    for j, code in enumerate(data.item_codes):
        mine = data.codes[both, j]
        ref = data.ref_codes[both, j]
        present = ~np.isnan(ref)
        mine, ref = mine[present], ref[present]
        revs = data.revision[both][present]
        values = sorted(set(data.item_values.get(code, [])) | set(ref.tolist())
                        | {v for v in mine.tolist() if not np.isnan(v)})
        labels = [_label(v) for v in values]
        pos = {v: i for i, v in enumerate(values)}
        confusion = [[0] * len(values) for _ in values]
        wrong = Counter()
        wrong_where = defaultdict(Counter)
        for a, b, rev in zip(mine.tolist(), ref.tolist(), revs.tolist(), strict=True):
            if not np.isnan(a):
                confusion[pos[a]][pos[b]] += 1
            if a != b:
                wrong[_label(a)] += 1
                wrong_where[_label(a)][rev] += 1
        common = wrong.most_common(1)[0][0] if wrong else ""
        pair = np.column_stack([np.where(mine == OMITTED, np.nan, mine),
                                np.where(ref == OMITTED, np.nan, ref)])
        categories = data.item_values.get(code)
        out.append(ItemRow(
            code=code,
            name=data.item_names[code],
            scored=int(present.sum()),
            agreement=float(np.mean(mine == ref)) if mine.size else None,
            kappa=cohen_kappa(pair, categories=categories),
            ac1=gwet_ac1(pair, categories=categories),
            specific=[(f"{value:g}", est) for value, est in
                      specific_agreement(pair, categories=categories).items()],
            confusion=confusion,
            labels=labels,
            most_common_wrong=common,
            wrong_vignettes=[
                (data.revisions[r][0], data.revisions[r][1], c)
                for r, c in wrong_where[common].most_common(5)
            ] if common else [],
            notes=[n for n in notes if n["item"] == code],
        ))
    return out


def _notes(data: CohortData, code: str) -> list[dict]:
    """Trainees' notes on one item beside the reference rationale."""
    j = data.item_codes.index(code)
    ratings = dict(
        Rating.objects.filter(id__in=data.rating_ids.tolist())
        .exclude(notes={}).values_list("id", "notes")
    )
    out = []
    for i, rating_id in enumerate(data.rating_ids.tolist()):
        note = (ratings.get(rating_id) or {}).get(code)
        if not note:
            continue
        out.append({
            "item": code,
            "trainee": data.trainee_names.get(int(data.trainee[i]), "?"),
            "vignette": data.revisions[int(data.revision[i])][1],
            "value": _label(data.codes[i, j]),
            "reference_value": _label(data.ref_codes[i, j]),
            "note": note,
            "rationale": data.rationale.get((int(data.reference_ids[i]), code), ""),
        })
    return out[:50]


# --- vignettes ------------------------------------------------------------------------------


@dataclass
class VignetteRow:
    revision_id: int
    slug: str
    title: str
    ratings: int
    exact_total: float | None
    mean_abs_deviation: float | None
    splitting_items: list[tuple[str, float]]  # item, share agreeing with the modal code
    flagged: list[str]  # items where the cohort consensus differs from the reference


def vignette_rows(data: CohortData, *, min_ratings: int = 3, consensus: float = 0.6):
    both = data.both
    out = []
    for rev_id, (slug, title, _number) in sorted(data.revisions.items(), key=lambda kv: kv[1][0]):
        sel = both & (data.revision == rev_id)
        n = int(sel.sum())
        totals, refs = data.total[sel], data.ref_total[sel]
        ok = ~np.isnan(totals) & ~np.isnan(refs)
        splitting, flagged = [], []
        for j, code in enumerate(data.item_codes):
            codes = data.codes[sel, j]
            codes = codes[~np.isnan(codes)]
            if codes.size < min_ratings:
                continue
            counts = Counter(codes.tolist())
            modal, modal_n = counts.most_common(1)[0]
            share = modal_n / codes.size
            splitting.append((code, share))
            ref = data.ref_codes[sel, j]
            ref_value = ref[0] if ref.size else np.nan
            if share >= consensus and not np.isnan(ref_value) and modal != ref_value:
                flagged.append(f"{code}: cohort {_label(modal)} ({share:.0%}), "
                               f"reference {_label(ref_value)}")
        splitting.sort(key=lambda kv: kv[1])
        out.append(VignetteRow(
            revision_id=rev_id, slug=slug, title=title, ratings=n,
            exact_total=float(np.mean(totals[ok] == refs[ok])) if ok.any() else None,
            mean_abs_deviation=float(np.mean(np.abs(totals[ok] - refs[ok]))) if ok.any()
            else None,
            splitting_items=[s for s in splitting[:3] if s[1] < 0.8],
            flagged=flagged,
        ))
    return out
