"""The vectorised reader behind :func:`training.reliability.csvio.read_ratings_csv`.

It reads the file in blocks of text, splits plain blocks with ``str.split`` (a block with a
quote, a lone carriage return or a NUL goes to the C ``csv`` module instead), maps every
column to integer codes once per distinct string, and then interprets each *distinct* string
once (stripping, numbers, booleans), so the per-row work is done by C loops and NumPy.

It only ever *accepts*: at the first thing it is not sure of (a bad value, a blank key, a row
of the wrong width, a duplicate rating, two reference values that differ, CSV it cannot split
plainly) it raises :class:`Doubt`, and the caller reads the file again with the row-by-row
reader, which names the row and what is wrong in exactly the words it always has. On every
file both accept they return the same :class:`RatingsFile` (tests/training/reliability/
test_csvio_fast.py compares them on generated files).
"""

from __future__ import annotations

import array
import csv
import io
import itertools
import math
from collections.abc import Iterator

import numpy as np

BLOCK = 1 << 18  # characters read at a time: keeps the transient lists to a few megabytes
CSV_ROWS = 16384  # rows taken from the csv module at a time
_TRUE = frozenset({"1", "true", "t", "yes", "y"})
_FALSE = frozenset({"0", "false", "f", "no", "n", ""})


class Doubt(Exception):  # noqa: N818 - a signal to the caller, not an error a person sees
    """The fast reader is not sure; the row-by-row reader decides (and names the row)."""


class _Codes:
    """Integer codes for one column, in order of first appearance of each distinct string."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        # One growing buffer of 4-byte codes (no per-block arrays to concatenate later).
        self.buffer = array.array("i")
        # Short fields packed into 8-byte keys: the keys seen so far, sorted, and their codes.
        self.keys = np.zeros(0, np.uint64)
        self.key_codes = np.zeros(0, np.int32)

    def add(self, column) -> None:
        if isinstance(column, np.ndarray):
            self._add_keys(column)
            return
        index = self.index
        for key in dict.fromkeys(column):
            if key not in index:
                index[key] = len(index)
        self.buffer.extend(map(index.__getitem__, column))

    def _lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pos = np.searchsorted(self.keys, keys)
        np.minimum(pos, max(self.keys.size - 1, 0), out=pos)
        hit = self.keys[pos] == keys if self.keys.size else np.zeros(keys.size, bool)
        return pos, hit

    def _add_keys(self, keys: np.ndarray) -> None:
        pos, hit = self._lookup(keys)
        if not hit.all():
            new, first = np.unique(keys[~hit], return_index=True)
            new = new[np.argsort(first, kind="stable")]  # in order of first appearance
            index = self.index
            codes = np.array([index.setdefault(key.to_bytes(8, "little").rstrip(b"\0")
                                               .decode("ascii"), len(index))
                              for key in new.tolist()], dtype=np.int32)
            keys_all = np.concatenate([self.keys, new])
            order = np.argsort(keys_all, kind="stable")
            self.keys = keys_all[order]
            self.key_codes = np.concatenate([self.key_codes, codes])[order]
            pos, hit = self._lookup(keys)
        self.buffer.frombytes(self.key_codes[pos].tobytes())

    def codes(self) -> np.ndarray:
        """All rows' codes, sharing the buffer's memory (writable, for in-place mapping)."""
        return np.frombuffer(self.buffer, dtype=np.int32)

    def strings(self) -> list[str]:
        return list(self.index)


class _Values:
    """Per-row values as codes into the distinct values (4 bytes a row instead of 8)."""

    def __init__(self, distinct: np.ndarray, codes: np.ndarray) -> None:
        self.distinct, self.codes = distinct, codes

    def take(self, rows) -> _Values:
        return _Values(self.distinct, self.codes[rows])

    def at(self, rows) -> np.ndarray:
        return self.distinct[self.codes[rows]]


def _csv_blocks(lines, width: int) -> Iterator[list]:
    reader = csv.reader(lines)
    while True:
        try:
            chunk = list(itertools.islice(reader, CSV_ROWS))
        except csv.Error:
            raise Doubt from None
        if not chunk:
            return
        if [] in chunk:  # a blank line: the csv module gives [], the row reader skips it
            chunk = [row for row in chunk if row]
        if not chunk:
            continue
        if any(len(row) != width for row in chunk):
            raise Doubt
        yield list(zip(*chunk, strict=True))


def _blocks(handle, width: int) -> Iterator[list]:
    """The records after the header, as per-block lists of columns."""
    carry = ""
    limit = csv.field_size_limit()
    while True:
        block = handle.read(BLOCK)
        if block:
            text = carry + block
            cut = text.rfind("\n") + 1
            if cut == 0:
                carry = text
                continue
            text, carry = text[:cut], text[cut:]
        else:
            text, carry = carry, ""
            if not text:
                return
        raw = text
        if "\r" in text:
            text = text.replace("\r\n", "\n")
        if text.isascii() and '"' not in text and "\r" not in text and "\x00" not in text:
            plain = _plain_block(text, width, limit)
            if plain is not None:
                yield plain
            continue
        if '"' in text or "\r" in text or "\x00" in text:
            # Quoted fields (possibly spanning lines) and old Mac line ends: the csv module.
            # (From the text as read: a quoted field keeps its own line ends.)
            tail = io.StringIO(raw + carry + handle.readline(), newline="")
            yield from _csv_blocks(itertools.chain(tail, handle), width)
            return
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if "" in lines:
            lines = [line for line in lines if line]
        if not lines:
            continue
        commas = width - 1
        counts = list(map(str.count, lines, itertools.repeat(",")))
        if counts.count(commas) != len(counts) or max(map(len, lines)) > limit:
            raise Doubt
        fields = ",".join(lines).split(",")
        yield [fields[i::width] for i in range(width)]


_OFFSETS = np.arange(8)


class _PlainBlock:
    """Lines of plain ASCII cut into fields by NumPy: a field of up to 8 bytes becomes one
    8-byte key (zero-padded; a field never holds a NUL), longer ones Python strings."""

    def __init__(self, text: str, width: int, limit: int) -> None:
        size = len(text)
        data = np.frombuffer(text.encode("ascii") + bytes(8), np.uint8)
        sep = np.flatnonzero((data[:size] == 44) | (data[:size] == 10))
        if sep.size % width:
            raise Doubt
        kinds = data[sep].reshape(-1, width)
        if not ((kinds[:, :-1] == 44).all() and (kinds[:, -1] == 10).all()):
            raise Doubt  # a line with too few or too many fields
        starts = np.empty_like(sep)
        starts[0] = 0
        starts[1:] = sep[:-1] + 1
        lengths = sep - starts
        if lengths.max() > limit:
            raise Doubt  # the csv module refuses fields over its limit
        self.text, self.width, self.data, self.starts, self.lengths = (
            text, width, data, starts, lengths)
        self.rows = kinds.shape[0]
        self._fields: list[str] | None = None

    def __getitem__(self, i: int):
        starts, lengths = self.starts[i::self.width], self.lengths[i::self.width]
        if lengths.max() <= 8:
            grab = self.data[starts[:, None] + _OFFSETS]
            grab[lengths[:, None] <= _OFFSETS] = 0
            return grab.view("<u8").ravel()
        if self._fields is None:
            self._fields = self.text.replace("\n", ",").split(",")
        return self._fields[i:self.rows * self.width:self.width]


def _plain_block(text: str, width: int, limit: int) -> _PlainBlock | None:
    if text.startswith("\n"):
        text = text.lstrip("\n")
    while "\n\n" in text:  # blank lines: the row reader skips them
        text = text.replace("\n\n", "\n")
    if not text:
        return None
    if not text.endswith("\n"):
        text += "\n"
    return _PlainBlock(text, width, limit)


def _first_order(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The codes present, in order of first appearance, and each code's position (-1 absent)."""
    kind = np.int32 if codes.size < 2**31 else np.int64
    first = np.full(size, codes.size, kind)
    np.minimum.at(first, codes, np.arange(codes.size, dtype=kind))
    present = np.flatnonzero(first < codes.size)
    order = present[np.argsort(first[present], kind="stable")]
    pos = np.full(size, -1, np.int32 if size < 2**31 else np.int64)
    pos[order] = np.arange(order.size)
    return order, pos


def _keys(strings: list[str]) -> tuple[np.ndarray, list[str]]:
    """Raw code -> code of the stripped string (first appearance order); blank -> Doubt."""
    index: dict[str, int] = {}
    lookup = np.empty(len(strings), np.int32)
    for raw, text in enumerate(strings):
        key = text.strip()
        if not key:
            raise Doubt
        lookup[raw] = index.setdefault(key, len(index))
    return lookup, list(index)


def _number(text: str) -> float:
    text = text.strip()
    if not text:
        return math.nan
    try:
        value = float(text)
    except ValueError:
        raise Doubt from None
    if not math.isfinite(value):
        raise Doubt
    return value


def _flag(text: str) -> bool:
    text = text.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise Doubt


def read_fast(handle, header: list[str], unit_i: int, rater_i: int, value_i: int,
              item_i: int | None, ref_flag_i: int | None, ref_value_i: int | None,
              first_i: int | None, revision_i: int | None):
    """Per item (``None`` without an item column, in order of first appearance):
    ``(units, raters, matrix, reference_pairs)`` exactly as the row-by-row reader builds
    them. Raises :class:`Doubt` whenever that reader might say something else."""
    if ref_flag_i is not None and ref_value_i is not None:
        raise Doubt
    used = {i for i in (unit_i, rater_i, value_i, item_i, ref_flag_i, ref_value_i, first_i,
                        revision_i) if i is not None}
    codes = {i: _Codes() for i in used}
    try:
        for columns in _blocks(handle, len(header)):
            for i, col in codes.items():
                col.add(columns[i])
    except UnicodeDecodeError:
        raise Doubt from None  # the row reader decides what comes first
    if not len(codes[unit_i].buffer):
        raise Doubt

    def column(i: int) -> tuple[np.ndarray, list[str]]:
        return codes[i].codes(), codes[i].strings()

    unit_raw, unit_strings = column(unit_i)
    if revision_i is None:
        lookup, unit_names = _keys(unit_strings)
        unit = np.take(lookup, unit_raw, out=unit_raw, mode="clip")  # in place
    else:
        rev_raw, rev_strings = column(revision_i)
        pairs, inverse = np.unique(unit_raw.astype(np.int64) * len(rev_strings) + rev_raw,
                                   return_inverse=True)
        index: dict[str, int] = {}
        lookup = np.empty(pairs.size, np.int32)
        for k, pair in enumerate(pairs.tolist()):
            name = unit_strings[pair // len(rev_strings)].strip()
            if not name:
                raise Doubt
            rev = rev_strings[pair % len(rev_strings)].strip()
            lookup[k] = index.setdefault(f"{name}@r{rev}" if rev else name, len(index))
        unit_names = list(index)
        unit = lookup[inverse.ravel()]
        del unit_raw, rev_raw, inverse
    rater_raw, rater_strings = column(rater_i)
    lookup, rater_names = _keys(rater_strings)
    rater = np.take(lookup, rater_raw, out=rater_raw, mode="clip")
    value_raw, value_strings = column(value_i)
    # Values stay codes into the distinct values until they are written into a matrix.
    value = _Values(np.array([_number(s) for s in value_strings], dtype=float), value_raw)
    keep = None
    flag = refv = None
    if ref_flag_i is not None:
        raw, strings = column(ref_flag_i)
        flag = np.array([_flag(s) for s in strings], dtype=bool)[raw]
    if ref_value_i is not None:
        raw, strings = column(ref_value_i)
        parsed = np.array([_number(s) for s in strings], dtype=float)
        if np.any((parsed == 0) & np.signbit(parsed)):
            raise Doubt  # -0.0 == 0.0: which one the row reader keeps depends on row order
        refv = parsed[raw]
        keep = ~np.isnan(refv)  # no reference code: the row enters no statistic
    first = None
    if first_i is not None:
        raw, strings = column(first_i)
        first = np.array([_flag(s) for s in strings], dtype=bool)[raw]
    if item_i is not None:
        raw, strings = column(item_i)
        lookup, item_names = _keys(strings)
        item = lookup[raw]
    if keep is not None and not keep.all():
        rows = np.flatnonzero(keep)
        unit, rater, value = unit[rows], rater[rows], value.take(rows)
        refv = refv[rows]
        first = None if first is None else first[rows]
        item = item[rows] if item_i is not None else None
        if rows.size == 0:
            raise Doubt
    out = {}
    if item_i is None:
        out[None] = _item(unit, rater, value, flag, refv, first, unit_names, rater_names)
        return out
    order, _ = _first_order(item, len(item_names))
    by_item = np.argsort(item, kind="stable")
    bounds = np.searchsorted(item[by_item], np.arange(len(item_names) + 1))
    for code in order.tolist():
        rows = by_item[bounds[code]:bounds[code + 1]]
        out[item_names[code]] = _item(
            unit[rows], rater[rows], value.take(rows), None if flag is None else flag[rows],
            None if refv is None else refv[rows], None if first is None else first[rows],
            unit_names, rater_names)
    return out


def _item(unit, rater, value, flag, refv, first, unit_names, rater_names):
    n_units = len(unit_names)
    has_ref = ref_val = None
    trainee = np.ones(unit.size, bool) if flag is None else ~flag
    if flag is not None:
        ref_units = unit[flag]
        if ref_units.size and np.bincount(ref_units, minlength=n_units).max() > 1:
            raise Doubt  # the reference rated a unit twice
        has_ref = np.zeros(n_units, bool)
        has_ref[ref_units] = True
        ref_val = np.full(n_units, np.nan)
        ref_val[ref_units] = value.at(flag)
    elif refv is not None:
        low = np.full(n_units, np.inf)
        high = np.full(n_units, -np.inf)
        np.minimum.at(low, unit, refv)
        np.maximum.at(high, unit, refv)
        has_ref = low <= high
        if np.any(low[has_ref] != high[has_ref]):
            raise Doubt  # two reference values for one unit
        ref_val = low
    among = trainee if first is None else trainee & first
    if among.all():  # the plain file: no copies
        a_unit, a_rater, a_value = unit, rater, value
    else:
        a_unit, a_rater, a_value = unit[among], rater[among], value.take(among)
    units, unit_pos = _first_order(a_unit, n_units)
    raters, rater_pos = _first_order(a_rater, len(rater_names))
    n_cols = raters.size
    cell = unit_pos[a_unit].astype(np.int64 if units.size * n_cols >= 2**31 else np.int32)
    cell *= n_cols
    cell += rater_pos[a_rater]
    seen = np.zeros(units.size * n_cols, bool)
    seen[cell] = True
    if np.count_nonzero(seen) != cell.size:
        raise Doubt  # a rater rated a unit twice
    del seen
    matrix = np.full(units.size * n_cols, np.nan)
    for start in range(0, cell.size, 1 << 20):  # in slices: no row-length float array
        stop = start + (1 << 20)
        matrix[cell[start:stop]] = a_value.at(slice(start, stop))
    del cell
    matrix = matrix.reshape(units.size, n_cols)
    pairs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if has_ref is not None and has_ref.any():
        paired = trainee & has_ref[unit]
        p_rater = rater[paired]
        p_value = value.at(paired)
        p_ref = ref_val[unit[paired]]
        order, pos = _first_order(p_rater, len(rater_names))
        group = pos[p_rater]
        by_rater = np.argsort(group, kind="stable")
        bounds = np.searchsorted(group[by_rater], np.arange(order.size + 1))
        for k, code in enumerate(order.tolist()):
            rows = by_rater[bounds[k]:bounds[k + 1]]
            pairs[rater_names[code]] = (p_value[rows], p_ref[rows])
    return ([unit_names[c] for c in units.tolist()], [rater_names[c] for c in raters.tolist()],
            matrix, pairs)
