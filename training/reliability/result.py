"""The result type every statistic in this package returns.

An :class:`Estimate` is a frozen, JSON-friendly record: the value (``None`` when the statistic
is undefined for the data, with a reason a person can read), its 95 % confidence interval when
one is defined, how much data it used and the exact name of the form that was computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

_EMPTY: Mapping[str, float] = MappingProxyType({})


def _clean_float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if value - value == 0 else None  # finite: inf - inf and nan - nan are nan


def _rebuild(cls, values: dict):
    return cls(**values)


@dataclass(frozen=True)
class Estimate:
    """One statistic computed on one set of ratings.

    ``value`` and ``ci95`` are plain floats (never NaN): an undefined statistic has
    ``value=None`` and ``undefined_reason`` set; an interval that cannot be formed is ``None``.
    ``extra`` holds supporting numbers (mean squares, F, degrees of freedom, p_a, p_e,
    standard error ...) and is read-only.
    """

    name: str
    value: float | None
    ci95: tuple[float, float] | None
    undefined_reason: str | None
    n_units: int
    n_raters: int
    n_pairable: int
    extra: Mapping[str, float] = field(default_factory=dict)
    ci_method: str | None = None

    def __post_init__(self) -> None:
        value = _clean_float(self.value)
        reason = None
        if value is None:
            reason = self.undefined_reason or "the statistic is not a finite number for these data"
        ci = self.ci95
        if ci is not None:
            low, high = _clean_float(ci[0]), _clean_float(ci[1])
            ci = None if (low is None or high is None or value is None) else (low, high)
        extra = {}
        for key, raw in self.extra.items():
            number = float(raw)
            if math.isfinite(number):
                extra[key] = number
        setattr_ = object.__setattr__
        setattr_(self, "value", value)
        setattr_(self, "undefined_reason", reason)
        setattr_(self, "ci95", ci)
        setattr_(self, "ci_method", self.ci_method if ci is not None else None)
        setattr_(self, "extra", MappingProxyType(extra))
        setattr_(self, "n_units", int(self.n_units))
        setattr_(self, "n_raters", int(self.n_raters))
        setattr_(self, "n_pairable", int(self.n_pairable))

    def __reduce__(self):
        # Picklable (e.g. for a cache) although its mappings are read-only proxies: rebuilt
        # through the constructor from plain dicts, which __post_init__ makes read-only again.
        values = {
            f.name: dict(v) if isinstance(v := getattr(self, f.name), MappingProxyType) else v
            for f in fields(self) if f.init
        }
        return _rebuild, (type(self), values)

    @property
    def defined(self) -> bool:
        return self.value is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the shape ``manage.py irr`` prints)."""
        return {
            "name": self.name,
            "value": self.value,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "undefined_reason": self.undefined_reason,
            "n_units": self.n_units,
            "n_raters": self.n_raters,
            "n_pairable": self.n_pairable,
            "ci_method": self.ci_method,
            "extra": dict(self.extra),
        }


def undefined(
    name: str, reason: str, *, n_units: int = 0, n_raters: int = 0, n_pairable: int = 0,
    extra: Mapping[str, float] | None = None,
) -> Estimate:
    """An explicit undefined result: ``value`` is ``None`` and ``reason`` says why."""
    return Estimate(
        name=name,
        value=None,
        ci95=None,
        undefined_reason=reason,
        n_units=n_units,
        n_raters=n_raters,
        n_pairable=n_pairable,
        extra=extra or _EMPTY,
    )
