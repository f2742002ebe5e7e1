"""The one scoring function: item states in, total, band and problems out.

Pure Python (no Django), so the loader, the services, the API and the tests all score the same
way. Totals and bands are never taken from input; they are always computed here.

An item's state is one of:
- scored: an allowed value (an int);
- omitted: ``None``, only where the item allows omission (e.g. STABLE-2007 item 3);
- unscored: the item code is absent from the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemSpec:
    code: str
    values: tuple[int, ...]
    omissible: bool = False
    name: str = ""


@dataclass(frozen=True)
class BandSpec:
    code: str
    label: str
    min_total: int
    max_total: int


@dataclass(frozen=True)
class InstrumentSpec:
    slug: str
    items: tuple[ItemSpec, ...]
    bands: tuple[BandSpec, ...] = ()

    def item(self, code: str) -> ItemSpec | None:
        for item in self.items:
            if item.code == code:
                return item
        return None

    def band_for(self, total: int) -> BandSpec | None:
        for band in self.bands:
            if band.min_total <= total <= band.max_total:
                return band
        return None

    @property
    def possible_totals(self) -> tuple[int, int]:
        low = sum(min(i.values) if not i.omissible else min(0, *i.values) for i in self.items)
        high = sum(max(i.values) for i in self.items)
        return low, high


@dataclass(frozen=True)
class Problem:
    item_code: str
    kind: str  # unknown_item | value_not_allowed | unscored | omitted_not_allowed
    message: str


@dataclass(frozen=True)
class ScoreResult:
    total: int
    band: BandSpec | None
    problems: tuple[Problem, ...] = field(default=())
    scored: int = 0
    omitted: int = 0
    unscored: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def band_code(self) -> str | None:
        return self.band.code if self.band else None


def score(spec: InstrumentSpec, item_states: Mapping[str, int | None]) -> ScoreResult:
    """Score one instrument from item states.

    The total is the sum of the scored values that are allowed; the band is given only when
    every item is scored or validly omitted, nothing is wrong and the instrument has bands
    (an instrument whose published scheme defines none never gets one).

    >>> stable = InstrumentSpec("stable-2007",
    ...     tuple(ItemSpec(f"STABLE-{i}", (0, 1, 2)) for i in range(1, 14)),
    ...     (BandSpec("low", "Low", 0, 3), BandSpec("moderate", "Moderate", 4, 11),
    ...      BandSpec("high", "High", 12, 26)))
    >>> r = score(stable, {f"STABLE-{i}": 1 if i < 5 else 0 for i in range(1, 14)})
    >>> (r.total, r.band_code, r.complete)
    (4, 'moderate', True)
    >>> cport = InstrumentSpec("cport", tuple(ItemSpec(f"CPORT-{i}", (0, 1)) for i in range(1, 8)))
    >>> r = score(cport, {f"CPORT-{i}": 1 if i < 4 else 0 for i in range(1, 8)})
    >>> (r.total, r.band_code, r.complete)
    (3, None, True)
    """
    problems: list[Problem] = []
    known = {item.code: item for item in spec.items}
    for code in item_states:
        if code not in known:
            problems.append(
                Problem(code, "unknown_item", f"{code} is not an item of {spec.slug}")
            )
    total = 0
    scored = omitted = 0
    unscored: list[str] = []
    for item in spec.items:
        if item.code not in item_states:
            unscored.append(item.code)
            problems.append(Problem(item.code, "unscored", f"{item.code} is not scored"))
            continue
        value = item_states[item.code]
        if value is None:
            if item.omissible:
                omitted += 1
            else:
                problems.append(
                    Problem(item.code, "omitted_not_allowed", f"{item.code} may not be omitted")
                )
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value not in item.values:
            allowed = ", ".join(str(v) for v in item.values)
            problems.append(
                Problem(
                    item.code,
                    "value_not_allowed",
                    f"{item.code}: {value!r} is not an allowed value (allowed: {allowed})",
                )
            )
            continue
        scored += 1
        total += value
    band = spec.band_for(total) if not problems else None
    return ScoreResult(
        total=total,
        band=band,
        problems=tuple(problems),
        scored=scored,
        omitted=omitted,
        unscored=tuple(unscored),
    )


def spec_from_definition(definition: Mapping) -> InstrumentSpec:
    """Build a spec from an instrument definition as written in its YAML file."""
    items = tuple(
        ItemSpec(
            code=str(item["code"]),
            values=tuple(int(v["value"]) for v in item["values"]),
            omissible=bool(item.get("omissible", False)),
            name=str(item.get("name", "")),
        )
        for item in definition["items"]
    )
    bands = tuple(
        BandSpec(str(b["code"]), str(b["label"]), int(b["min"]), int(b["max"]))
        for b in definition.get("bands", [])
    )
    return InstrumentSpec(slug=str(definition["slug"]), items=items, bands=bands)


def band_gaps(spec: InstrumentSpec) -> list[str]:
    """Totals the bands leave uncovered or cover twice (a definition error). An instrument
    without bands (its published scheme defines none) has no gaps."""
    if not spec.bands:
        return []
    low, high = spec.possible_totals
    messages = []
    for total in range(low, high + 1):
        covering = [b.code for b in spec.bands if b.min_total <= total <= b.max_total]
        if not covering:
            messages.append(f"total {total} is in no band")
        elif len(covering) > 1:
            messages.append(f"total {total} is in several bands ({', '.join(covering)})")
    return messages


