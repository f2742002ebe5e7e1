"""Rules written in the instrument files that reach across vignettes: which references must be
re-checked after a coding note changed, who counts as a child victim, and the validity
caveats feedback carries.

Pure Python over parsed content (no Django, no import of content_files: that module calls
this one). Every check returns problems as (field, message) pairs for the caller to file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


def version_key(label: str) -> tuple:
    """"1" < "1.1" < "1.2" < "1.10" < "2": numeric parts compared as numbers."""
    parts = []
    for part in str(label).split("."):
        parts.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return tuple(parts)


@dataclass(frozen=True)
class NoteChange:
    """One instrument version that changed item coding notes."""

    version: str
    date: dt.date
    recheck: tuple[str, ...]  # items whose rule changed: their references are re-checked
    reworded: tuple[str, ...]  # items whose wording changed without changing the rule
    summary: str = ""


def parse_note_changes(data: Mapping) -> tuple[list[NoteChange], list[tuple[str, str]]]:
    """The instrument's `coding_note_changes`, oldest first, and any problems with them."""
    raw = data.get("coding_note_changes") or []
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, list):
        return [], [("coding_note_changes", "must be a list of {version, date, recheck, "
                     "reworded, summary}")]
    codes = {i.get("code") for i in data.get("items") or [] if isinstance(i, Mapping)}
    current = str(data.get("version", ""))
    changes: list[NoteChange] = []
    for index, entry in enumerate(raw, start=1):
        where = f"coding_note_changes[{index}]"
        if not isinstance(entry, Mapping) or "version" not in entry:
            problems.append((where, "needs version, date and recheck/reworded lists"))
            continue
        version = str(entry["version"])
        date = entry.get("date")
        if not isinstance(date, dt.date):
            problems.append((f"{where}.date", "must be a date (YYYY-MM-DD): the day the note "
                             "changed; references agreed before it are re-checked"))
            continue
        lists = {}
        for key in ("recheck", "reworded"):
            value = entry.get(key) or []
            if not isinstance(value, list):
                problems.append((f"{where}.{key}", "must be a list of item codes"))
                value = []
            for code in value:
                if code not in codes:
                    problems.append((f"{where}.{key}", f"{code!r} is not an item of this "
                                     "instrument"))
            lists[key] = tuple(str(c) for c in value)
        if version_key(version) > version_key(current):
            problems.append((f"{where}.version", f"{version!r} is later than the file's "
                             f"version {current!r}"))
        changes.append(NoteChange(version, date, lists["recheck"], lists["reworded"],
                                  " ".join(str(entry.get("summary") or "").split())))
    keys = [version_key(c.version) for c in changes]
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        problems.append(("coding_note_changes", "list each version once, oldest first"))
    return changes, problems


def undeclared_note_changes(
    *, previous_notes: Mapping[str, str], previous_label: str, data: Mapping
) -> list[str]:
    """Problems when a file changes item coding notes without saying so.

    `previous_notes` are the item code -> coding note of the version loaded before. A changed
    note needs a new version label and an entry for it in `coding_note_changes` naming the
    item under `recheck` (the rule changed) or `reworded` (only the words did), so that
    every reference scored under the old note is listed for re-check or knowingly not."""
    label = str(data.get("version", ""))
    changed = sorted(
        item["code"] for item in data.get("items") or []
        if item.get("code") in previous_notes
        and " ".join(str(item.get("coding_notes", "")).split())
        != " ".join(previous_notes[item["code"]].split())
    )
    if not changed:
        return []
    if label == previous_label:
        return [f"the coding notes of {', '.join(changed)} changed: give the instrument a new "
                f"version label (it is still {label!r})"]
    changes, _problems = parse_note_changes(data)
    entry = next((c for c in changes if c.version == label), None)
    declared = set(entry.recheck + entry.reworded) if entry else set()
    missing = [code for code in changed if code not in declared]
    if not missing:
        return []
    return [f"the coding notes of {', '.join(missing)} changed in version {label!r}: list "
            f"them in coding_note_changes under recheck (the rule changed) or reworded (only "
            "the words did)"]


@dataclass(frozen=True)
class Recheck:
    """A bundled reference scored under an older coding note of one or more of its items."""

    vignette: str
    path: str
    instrument: str
    items: tuple[str, ...]
    since_version: str  # the latest version that changed one of those notes
    last_checked: str  # "checked under 1.1" or "agreed 2026-09-22"

    def __str__(self) -> str:
        return (f"{self.vignette} {self.instrument}: {', '.join(self.items)} changed in "
                f"version {self.since_version}; reference {self.last_checked}")


def reference_rechecks(doc, instruments: Mapping) -> list[Recheck]:
    """The references of one vignette that are still to be re-checked.

    A reference was last checked under its `checked_under` label when it has one, otherwise
    when it was agreed (`agreed_on`). It is to re-check when a later version changed the
    rule of any item it scores."""
    out = []
    for slug, ref in doc.references.items():
        inst = instruments.get(slug)
        if inst is None or not ref.applicable:
            continue
        changes, _problems = parse_note_changes(inst.data)
        items: list[str] = []
        since = ""
        for change in changes:
            if ref.checked_under:
                stale = version_key(ref.checked_under) < version_key(change.version)
            else:
                stale = doc.agreed_on is None or doc.agreed_on < change.date
            hit = [code for code in change.recheck if code in ref.items]
            if stale and hit:
                items.extend(code for code in hit if code not in items)
                since = change.version
        if items:
            last = (f"checked under {ref.checked_under}" if ref.checked_under
                    else f"agreed {doc.agreed_on.isoformat() if doc.agreed_on else '(no date)'}")
            out.append(Recheck(doc.slug, doc.path, slug, tuple(items), since, last))
    return out


def references_to_recheck(vignettes: Iterable, instruments: Mapping) -> list[Recheck]:
    """Every reference still to re-check, for content_report (retired vignettes excepted)."""
    out = []
    for doc in vignettes:
        if doc.status != "retired":
            out.extend(reference_rechecks(doc, instruments))
    return out


def checked_under_problems(ref, inst_data: Mapping) -> list[tuple[str, str]]:
    if ref.checked_under is None:
        return []
    current = str(inst_data.get("version", ""))
    if version_key(ref.checked_under) > version_key(current):
        return [("checked_under", f"{ref.checked_under!r} is later than the instrument's "
                 f"version {current!r}")]
    return []


# --- child victims -------------------------------------------------------------------------


def child_victim(doc, item: Mapping) -> bool | None:
    """Whether the case has a child victim (under 18 at the offence) for an item that is
    scored only then: the vignette's `child_victim` where it says, else True for the item's
    `scored_if_any` case types, else None (the files do not say; nothing is enforced)."""
    if doc.child_victim is not None:
        return doc.child_victim
    if set(doc.case_types) & set(item.get("scored_if_any") or []):
        return True
    return None


def child_victim_problems(doc, item: Mapping, state) -> list[tuple[str, str]]:
    """`state` is the reference's (value, rationale) for the item, or None."""
    scored_if_any = set(item.get("scored_if_any") or [])
    if not scored_if_any:
        return []
    problems = []
    case_types = set(doc.case_types)
    overridable = set(item.get("child_victim_declared") or [])
    fixed = (case_types & scored_if_any) - overridable
    if doc.child_victim is False and fixed:
        problems.append(("child_victim", f"case type {', '.join(sorted(fixed))} always has a "
                         f"child victim under {item['code']}'s rule; it cannot be false"))
        return problems
    has_child = child_victim(doc, item)
    if state is None:
        return problems
    value = state[0]
    rule = " ".join(str(item.get("omission_rule", "")).split())
    if has_child and value is None:
        why = (": child_victim is true" if doc.child_victim
               else f" for case type {', '.join(sorted(case_types & scored_if_any))}")
        problems.append((f"items.{item['code']}", f"may not be omitted{why} ({rule})"))
    if has_child is False and value is not None:
        problems.append((f"items.{item['code']}", f"must be omitted: child_victim is false "
                         f"({rule})"))
    return problems


# --- validity caveats ----------------------------------------------------------------------


def validity_caveats(caveats: Iterable[Mapping], case_types: Iterable[str]) -> list[dict]:
    """The caveats (text and source) that apply to a case of these case types: those whose
    `if_only_case_types` contain every one of them."""
    types = set(case_types)
    if not types:
        return []
    return [
        {"text": " ".join(str(c.get("text", "")).split()),
         "source": " ".join(str(c.get("source", "")).split())}
        for c in caveats or []
        if types <= set(c.get("if_only_case_types") or [])
    ]


def caveat_problems(data: Mapping, case_types: Iterable[str]) -> list[tuple[str, str]]:
    raw = data.get("validity_caveats") or []
    if not isinstance(raw, list):
        return [("validity_caveats", "must be a list of {if_only_case_types, text, source}")]
    problems = []
    known = set(case_types)
    for index, entry in enumerate(raw, start=1):
        where = f"validity_caveats[{index}]"
        if not isinstance(entry, Mapping):
            problems.append((where, "must be a mapping"))
            continue
        types = entry.get("if_only_case_types")
        if not isinstance(types, list) or not types:
            problems.append((f"{where}.if_only_case_types", "must be a non-empty list"))
        else:
            for t in types:
                if t not in known:
                    problems.append((f"{where}.if_only_case_types", f"unknown case type {t!r}"))
        for key in ("text", "source"):
            if not str(entry.get(key) or "").strip():
                problems.append((f"{where}.{key}", "is missing: a caveat names its source"))
    return problems
