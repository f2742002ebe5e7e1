"""The one scoring function: item states in, total, band and problems out.

Pure Python (no Django), so the loader, the services, the API and the tests all score the same
way. Totals and bands are never taken from input; they are always computed here.

An item's state is one of:
- scored: an allowed value (an int);
- omitted: ``None``, only where the item allows omission — by its own rule (STABLE-2007
  item 3 without a child victim) or for lack of information, as the instrument's
  missing-information rule allows (which items, how many at most, and whether the total is
  then computed without them or not computable);
- unscored: the item code is absent from the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ItemSpec:
    code: str
    values: tuple[int, ...]
    omissible: bool = False  # by the item's own rule (e.g. STABLE-3 without a child victim)
    name: str = ""
    missing_ok: bool = False  # may be omitted for lack of information (MissingRule)

    @property
    def may_omit(self) -> bool:
        return self.omissible or self.missing_ok


WITHOUT_ITEM = "without_item"  # the total is the sum of the items scored
NOT_COMPUTABLE = "not_computable"  # no total and no band
MISSING_TOTALS = (WITHOUT_ITEM, NOT_COMPUTABLE)


@dataclass(frozen=True)
class MissingRule:
    """Which items a file may leave unscorable for lack of information, how many at most, and
    what becomes of the total and band; `source` says whose rule it is ("manual": the
    instrument's authors; "training": the project's own)."""

    items: tuple[str, ...]
    max_omitted: int
    total: str = WITHOUT_ITEM
    source: str = "training"
    text: str = ""


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
    missing: MissingRule | None = None

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
        low = sum(min(i.values) if not i.may_omit else min(0, *i.values) for i in self.items)
        high = sum(max(i.values) for i in self.items)
        return low, high


@dataclass(frozen=True)
class Problem:
    item_code: str
    # unknown_item | value_not_allowed | unscored | omitted_not_allowed | too_many_missing
    kind: str
    message: str


@dataclass(frozen=True)
class ScoreResult:
    total: int | None  # None: not computable (an item omitted for missing information)
    band: BandSpec | None
    problems: tuple[Problem, ...] = field(default=())
    scored: int = 0
    omitted: int = 0
    unscored: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # items omitted for lack of information

    @property
    def total_computable(self) -> bool:
        return self.total is not None

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
    missing: list[str] = []
    for item in spec.items:
        if item.code not in item_states:
            unscored.append(item.code)
            problems.append(Problem(item.code, "unscored", f"{item.code} is not scored"))
            continue
        value = item_states[item.code]
        if value is None:
            if item.omissible:
                omitted += 1
            elif item.missing_ok:
                omitted += 1
                missing.append(item.code)
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
    rule = spec.missing
    if missing and rule is not None and len(missing) > rule.max_omitted:
        problems.append(Problem(
            missing[-1], "too_many_missing",
            f"{len(missing)} items are omitted for lack of information "
            f"({', '.join(missing)}); {spec.slug} allows at most {rule.max_omitted}"))
    final: int | None = total
    if missing and rule is not None and rule.total == NOT_COMPUTABLE:
        final = None
    band = spec.band_for(final) if final is not None and not problems else None
    return ScoreResult(
        total=final,
        band=band,
        problems=tuple(problems),
        scored=scored,
        omitted=omitted,
        unscored=tuple(unscored),
        missing=tuple(missing),
    )


def missing_rule_from(data: Mapping | None) -> MissingRule | None:
    """The `missing_information` block of an instrument definition (or its stored copy)."""
    if not data:
        return None
    return MissingRule(
        items=tuple(str(c) for c in data.get("items") or ()),
        max_omitted=int(data.get("max_omitted") or 0),
        total=str(data.get("total") or WITHOUT_ITEM),
        source=str(data.get("source") or "training"),
        text=str(data.get("rule") or ""),
    )


def spec_from_definition(definition: Mapping) -> InstrumentSpec:
    """Build a spec from an instrument definition as written in its YAML file."""
    missing = missing_rule_from(definition.get("missing_information"))
    missing_items = set(missing.items) if missing else set()
    items = tuple(
        ItemSpec(
            code=str(item["code"]),
            values=tuple(int(v["value"]) for v in item["values"]),
            omissible=bool(item.get("omissible", False)),
            name=str(item.get("name", "")),
            missing_ok=str(item["code"]) in missing_items,
        )
        for item in definition["items"]
    )
    bands = tuple(
        BandSpec(str(b["code"]), str(b["label"]), int(b["min"]), int(b["max"]))
        for b in definition.get("bands", [])
    )
    return InstrumentSpec(slug=str(definition["slug"]), items=items, bands=bands,
                          missing=missing)


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


