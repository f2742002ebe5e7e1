"""Content files: parse and validate instruments, vignettes and sets.

Pure Python (PyYAML, no Django), used by ``load_content``, ``content_report`` and content-pack
import. Every problem is one line naming the file, the field and what is wrong; a bundle with
problems is never loaded.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from vignettes import content_checks, content_rules, scoring

SECTIONS = (
    "Identifying information",
    "Sources reviewed",
    "Index offence",
    "Criminal history",
    "Conditional release and supervision history",
    "Relationships and living situation",
    "Employment, education, social network and influences",
    "Substance use and mental health",
    "Sexual history and interests, as assessed",
    "Attitudes, problem-solving and emotional functioning",
    "Treatment and cooperation with supervision",
    "Current situation",
)
CASE_TYPES = (
    "csem-exclusive",
    "csem-contact-conviction",
    "csem-contact-charged",
    "csem-admitted-contact",
    "luring-real-child",
    "luring-decoy",
    "sextortion",
    "ncii-adult",
    "contact-only",
)
DIFFICULTIES = ("introductory", "standard", "hard")
# "man": an adult man (18 or over at the index offence), the default; "woman"; "under-18": a
# person under 18 at the index offence. Only "man" can be scored on the bundled instruments.
PERSONS = ("man", "woman", "under-18")
POOLS = ("practice", "exam", "recalibration")
STATUSES = ("draft", "in_review", "published", "retired")
SET_KINDS = ("practice", "exam")
INSTRUMENT_KINDS = ("static", "dynamic")
# A tidy summary runs to 400-900 words; a "real file" whose sources disagree to 2,000.
MIN_WORDS, MAX_WORDS = 400, 2000
MAX_RATIONALE_SENTENCES = 4
MAX_RATIONALE_CHARS = 900
MIN_SHARED_PARAGRAPH_CHARS = 60
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
# "Daniel R." : an invented first name and the initial of a last name.
NAME_RE = re.compile(r"\b([A-Z][a-z]+) ([A-Z])\.")
# Abbreviations whose full stop does not end a sentence.
_ABBREVIATIONS = re.compile(r"\b(?:e\.g|i\.e|etc|approx|vs|no|cf|Dr|Mr|Ms|Mrs|St)\.", re.I)
_INITIAL = re.compile(r"\b[A-Z]\.")


@dataclass(frozen=True)
class ContentProblem:
    file: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.message}"


@dataclass
class InstrumentDoc:
    path: str
    data: dict
    spec: scoring.InstrumentSpec
    content_hash: str

    @property
    def slug(self) -> str:
        return self.data["slug"]


@dataclass
class ReferenceDoc:
    instrument: str
    applicable: bool
    reason: str = ""
    items: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    stated_total: int | None = None
    stated_band: str | None = None
    # The instrument version label it was last checked against (after a coding note changed).
    checked_under: str | None = None
    # How a change of this bundled reference treats past results: {re_evaluate, note}.
    correction: dict | None = None

    def item_states(self) -> dict[str, int | None]:
        return {code: value for code, (value, _rationale) in self.items.items()}


@dataclass
class VignetteDoc:
    path: str
    slug: str
    title: str
    case_types: list[str]
    difficulty: str
    hard_because: str
    pool: str
    status: str
    panel: str
    agreed_on: dt.date | None
    body: str
    references: dict[str, ReferenceDoc]
    # Slugs this vignette was known by: `load_content` renames such a vignette in place, so its
    # ratings, references and history stay attached, and old URLs redirect.
    formerly: list[str] = field(default_factory=list)
    # Who the case is about: every bundled instrument is for adult men, so for a woman or a
    # person under 18 none applies (the instruments' applicability rules).
    person: str = "man"
    # Whether the case has a victim under 18 at the offence, where the case types do not say.
    child_victim: bool | None = None

    @property
    def revision_hash(self) -> str:
        return content_hash(
            {
                "title": self.title,
                "case_types": sorted(self.case_types),
                "difficulty": self.difficulty,
                "hard_because": self.hard_because,
                "body": self.body,
            }
        )

    def reference_hash(self, instrument: str) -> str:
        ref = self.references[instrument]
        return content_hash(
            {
                "applicable": ref.applicable,
                "reason": ref.reason,
                "items": {code: list(v) for code, v in sorted(ref.items.items())},
                "panel": self.panel,
                "agreed_on": self.agreed_on.isoformat() if self.agreed_on else None,
            }
        )

    @property
    def word_count(self) -> int:
        return len(self.body.split())


@dataclass
class SetDoc:
    path: str
    slug: str
    title: str
    kind: str
    instrument: str | None
    vignettes: list[str]

    @property
    def content_hash(self) -> str:
        return content_hash(
            {
                "title": self.title,
                "kind": self.kind,
                "instrument": self.instrument,
                "vignettes": self.vignettes,
            }
        )


@dataclass
class ContentBundle:
    instruments: dict[str, InstrumentDoc] = field(default_factory=dict)
    vignettes: dict[str, VignetteDoc] = field(default_factory=dict)
    sets: dict[str, SetDoc] = field(default_factory=dict)
    explicit_terms: list[str] = field(default_factory=list)
    problems: list[ContentProblem] = field(default_factory=list)

    def problem(self, file: str, field_name: str, message: str) -> None:
        self.problems.append(ContentProblem(file, field_name, message))


def normalise_whitespace(value):
    """Collapse whitespace in every string so whitespace-only edits do not change a hash."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, Mapping):
        return {str(k): normalise_whitespace(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise_whitespace(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def content_hash(value) -> str:
    canonical = json.dumps(normalise_whitespace(value), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def count_sentences(text: str) -> int:
    cleaned = _INITIAL.sub("X", _ABBREVIATIONS.sub("abbr", text))
    cleaned = re.sub(r"\d\.\d", "0", cleaned)
    parts = [p for p in re.split(r"[.!?]+(?:\s+|$)", cleaned.strip()) if p.strip()]
    return len(parts)


def split_front_matter(text: str) -> tuple[str, str] | None:
    if not text.startswith("---"):
        return None
    match = re.match(r"^---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)(.*)$", text, re.S)
    if not match:
        return None
    return match.group(1), match.group(2)


# --- YAML: the one reader for every content file -------------------------------------------

# Limits on one YAML document (an instrument, a set, a vignette's front matter). The bundled
# files are far below them: the largest instrument is ~10 KB, ~600 values, 5 levels deep.
YAML_MAX_CHARS = 200_000
YAML_MAX_NODES = 10_000
YAML_MAX_DEPTH = 20


class YAMLRefused(yaml.MarkedYAMLError):
    """YAML that is well formed but not accepted in a content file."""


class ContentYAMLLoader(yaml.SafeLoader):
    """PyYAML's safe loader (plain data only) without anchors and aliases, and with a bound on
    the number of values and their nesting. Each alias repeats what it names, so a few nested
    aliases turn a few kilobytes into hundreds of megabytes; content files never need them."""

    def __init__(self, stream):
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YAMLRefused(
                None, None, "anchors and aliases (&name, *name) are not allowed in content "
                "files; write the value out", event.start_mark,
            )
        self._nodes += 1
        if self._nodes > YAML_MAX_NODES:
            raise YAMLRefused(None, None, f"holds more than {YAML_MAX_NODES} values",
                              event.start_mark)
        self._depth += 1
        try:
            if self._depth > YAML_MAX_DEPTH:
                raise YAMLRefused(None, None, f"is nested more than {YAML_MAX_DEPTH} levels "
                                  "deep", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class ContentYAMLDumper(yaml.SafeDumper):
    """Writes content files the loader reads back: a value used twice is written out twice,
    never as an anchor and an alias."""

    def ignore_aliases(self, data):
        return True


def dump_yaml(data) -> str:
    return yaml.dump(data, Dumper=ContentYAMLDumper, sort_keys=False, allow_unicode=True,
                     width=100)


def load_yaml(text: str):
    """Parse one YAML document of a content file, or raise yaml.YAMLError (reported by
    _yaml_error as a problem line). Every content file is read through here."""
    if len(text) > YAML_MAX_CHARS:
        raise YAMLRefused(problem=f"is longer than {YAML_MAX_CHARS} characters")
    loader = ContentYAMLLoader(text)
    try:
        return loader.get_single_data()
    except (ValueError, TypeError, OverflowError) as exc:
        # A value YAML recognises but cannot build, such as the date 2026-13-45.
        raise YAMLRefused(problem=f"has a value that cannot be read ({exc})") from exc
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if isinstance(exc, YAMLRefused):
        return f"YAML{where}: {problem}" if mark else f"YAML {problem}"
    return f"malformed YAML{where}: {problem}"


def _str(data: Mapping, key: str, bundle: ContentBundle, path: str, *, required=True) -> str:
    value = data.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            bundle.problem(path, key, "is missing")
        return ""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        bundle.problem(path, key, f"must be text, not {type(value).__name__}")
        return ""
    return str(value).strip()


# --- instruments ---------------------------------------------------------------------------


def _load_mapping(path: str, text: str, bundle: ContentBundle, *, field: str,
                  must: str) -> dict | None:
    """The YAML mapping `text` holds, or None with one problem line on `field`: the parse
    error, or `must` when the document is not a mapping."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        bundle.problem(path, field, _yaml_error(exc))
        return None
    if not isinstance(data, dict):
        bundle.problem(path, field, must)
        return None
    return data


def parse_instrument(path: str, text: str, bundle: ContentBundle) -> InstrumentDoc | None:
    data = _load_mapping(path, text, bundle, field="-",
                         must="must be a YAML mapping of instrument fields")
    if data is None:
        return None
    before = len(bundle.problems)
    for key in ("slug", "name", "short_name", "version", "description", "source", "notice",
                "applicability_rule"):
        _str(data, key, bundle, path)
    slug = data.get("slug")
    if isinstance(slug, str) and not SLUG_RE.match(slug):
        bundle.problem(path, "slug", f"{slug!r} must be lowercase letters, digits and hyphens")
    if data.get("kind") not in INSTRUMENT_KINDS:
        bundle.problem(path, "kind", f"must be one of {', '.join(INSTRUMENT_KINDS)}")
    items = data.get("items")
    if not isinstance(items, list) or not items:
        bundle.problem(path, "items", "must be a non-empty list")
        items = []
    seen_codes: set[str] = set()
    for index, item in enumerate(items, start=1):
        where = f"items[{index}]"
        if not isinstance(item, dict):
            bundle.problem(path, where, "must be a mapping")
            continue
        code = _str(item, "code", bundle, path) if "code" in item else ""
        if not code:
            bundle.problem(path, f"{where}.code", "is missing")
            continue
        where = f"items.{code}"
        if code in seen_codes:
            bundle.problem(path, where, "item code appears twice")
        seen_codes.add(code)
        for key in ("name", "description", "coding_notes"):
            if not isinstance(item.get(key), str) or not item[key].strip():
                bundle.problem(path, f"{where}.{key}", "is missing")
        values = item.get("values")
        if not isinstance(values, list) or not values:
            bundle.problem(path, f"{where}.values", "must be a non-empty list of {value, label}")
            continue
        seen_values = set()
        for v in values:
            if not isinstance(v, dict) or isinstance(v.get("value"), bool) or not isinstance(
                v.get("value"), int
            ):
                bundle.problem(path, f"{where}.values", f"{v!r} needs an integer value")
                continue
            if not isinstance(v.get("label"), str) or not v["label"].strip():
                bundle.problem(path, f"{where}.values", f"value {v['value']} needs a label")
            if v["value"] in seen_values:
                bundle.problem(path, f"{where}.values", f"value {v['value']} appears twice")
            seen_values.add(v["value"])
        if item.get("omissible") and not str(item.get("omission_rule") or "").strip():
            bundle.problem(path, f"{where}.omission_rule", "an omissible item must say when")
    # Bands are optional: only an instrument whose published scheme defines risk bands has
    # them (CPORT's authors publish rates by score, not categories).
    bands = data.get("bands", [])
    if not isinstance(bands, list):
        bundle.problem(path, "bands", "must be a list of {code, label, min, max}, or absent "
                       "when the published scheme defines no bands")
        bands = []
    for b in bands:
        if not isinstance(b, dict) or not all(k in b for k in ("code", "label", "min", "max")):
            bundle.problem(path, "bands", f"{b!r} needs code, label, min and max")
        elif not all(isinstance(b[k], int) and not isinstance(b[k], bool) for k in ("min", "max")):
            bundle.problem(path, f"bands.{b['code']}", "min and max must be integers")
    _check_missing_information(path, data, bundle)
    if len(bundle.problems) > before:
        return None
    _changes, change_problems = content_rules.parse_note_changes(data)
    for field_name, message in [*change_problems,
                                *content_rules.caveat_problems(data, CASE_TYPES)]:
        bundle.problem(path, field_name, message)
    if data.get("rating_period") is not None and not str(data["rating_period"]).strip():
        bundle.problem(path, "rating_period", "is empty")
    spec = scoring.spec_from_definition(data)
    for message in scoring.band_gaps(spec):
        bundle.problem(path, "bands", message)
    if len(bundle.problems) > before:
        return None
    return InstrumentDoc(path=path, data=data, spec=spec, content_hash=content_hash(data))


def _check_missing_information(path: str, data: Mapping, bundle: ContentBundle) -> None:
    """`missing_information`: {items: [codes], max_omitted: n, total: without_item |
    not_computable, source: manual | training, rule: text}. Optional; without it no item may be
    omitted for lack of information."""
    block = data.get("missing_information")
    if block is None:
        return
    where = "missing_information"
    if not isinstance(block, Mapping):
        bundle.problem(path, where, "must be a mapping with items, max_omitted, total, source "
                       "and rule")
        return
    codes = {str(i.get("code")): i for i in data.get("items") or [] if isinstance(i, Mapping)}
    items = block.get("items")
    if not isinstance(items, list):
        bundle.problem(path, f"{where}.items", "must be a list of item codes (may be empty)")
        items = []
    for code in items:
        if str(code) not in codes:
            bundle.problem(path, f"{where}.items", f"{code!r} is not an item of the instrument")
        elif codes[str(code)].get("omissible"):
            bundle.problem(path, f"{where}.items", f"{code} is already omissible by its own "
                           "rule; list only items that may be omitted for lack of information")
    most = block.get("max_omitted")
    if isinstance(most, bool) or not isinstance(most, int) or most < 0 or (
            items and most < 1) or most > len(items):
        bundle.problem(path, f"{where}.max_omitted", "must be a whole number from 1 to the "
                       "number of items listed (0 when none is listed)")
    if block.get("total") not in scoring.MISSING_TOTALS:
        bundle.problem(path, f"{where}.total", f"must be one of {', '.join(scoring.MISSING_TOTALS)}")
    if block.get("source") not in ("manual", "training"):
        bundle.problem(path, f"{where}.source", "must be manual (the instrument's authors) or "
                       "training (the project's own rule)")
    if not str(block.get("rule") or "").strip():
        bundle.problem(path, f"{where}.rule", "must say the rule in words, for the feedback and "
                       "instrument pages")
    unknown = set(block) - {"items", "max_omitted", "total", "source", "rule"}
    for key in sorted(unknown):
        bundle.problem(path, f"{where}.{key}", "is not a missing-information field")


# --- vignettes -----------------------------------------------------------------------------


def parse_vignette(
    path: str, text: str, bundle: ContentBundle, *, expected_slug: str | None = None
) -> VignetteDoc | None:
    split = split_front_matter(text)
    if split is None:
        bundle.problem(path, "front matter", "the file must start with YAML front matter "
                       "between two '---' lines")
        return None
    front, body = split
    meta = _load_mapping(path, front, bundle, field="front matter",
                         must="must be a YAML mapping")
    if meta is None:
        return None
    slug = _str(meta, "slug", bundle, path)
    if slug and not SLUG_RE.match(slug):
        bundle.problem(path, "slug", f"{slug!r} must be lowercase letters, digits and hyphens")
    if slug and expected_slug and slug != expected_slug:
        bundle.problem(path, "slug", f"{slug!r} must match the file name ({expected_slug}.md)")
    title = _str(meta, "title", bundle, path)
    case_types = meta.get("case_types")
    if not isinstance(case_types, list) or not case_types:
        bundle.problem(path, "case_types", f"must be a non-empty list of: {', '.join(CASE_TYPES)}")
        case_types = []
    for ct in case_types:
        if ct not in CASE_TYPES:
            bundle.problem(path, "case_types", f"unknown case type {ct!r}")
    difficulty = meta.get("difficulty")
    if difficulty not in DIFFICULTIES:
        bundle.problem(path, "difficulty", f"must be one of {', '.join(DIFFICULTIES)}")
    hard_because = _str(meta, "hard_because", bundle, path, required=difficulty == "hard")
    pool = meta.get("pool")
    if pool not in POOLS:
        bundle.problem(path, "pool", f"must be one of {', '.join(POOLS)}")
    status = meta.get("status", "draft")
    if status not in STATUSES:
        bundle.problem(path, "status", f"must be one of {', '.join(STATUSES)}")
    panel = _str(meta, "panel", bundle, path, required=status == "published")
    agreed_on = meta.get("agreed_on")
    if agreed_on is not None and not isinstance(agreed_on, dt.date):
        try:
            agreed_on = dt.date.fromisoformat(str(agreed_on))
        except ValueError:
            bundle.problem(path, "agreed_on", f"{agreed_on!r} is not a date (YYYY-MM-DD)")
            agreed_on = None
    elif agreed_on is None and status == "published":
        bundle.problem(path, "agreed_on", "is missing")
    references = meta.get("references") or {}
    if not isinstance(references, dict):
        bundle.problem(path, "references", "must be a mapping of instrument slug to scoring")
        references = {}
    parsed_refs: dict[str, ReferenceDoc] = {}
    for instrument, ref in references.items():
        parsed = _parse_reference(path, str(instrument), ref, bundle)
        if parsed:
            parsed_refs[str(instrument)] = parsed
    person = meta.get("person", "man")
    if person not in PERSONS:
        bundle.problem(path, "person", f"must be one of {', '.join(PERSONS)} (default man: an "
                       "adult man)")
        person = "man"
    formerly = meta.get("formerly") or []
    if not isinstance(formerly, list) or not all(isinstance(f, str) for f in formerly):
        bundle.problem(path, "formerly", "must be a list of the slugs this vignette had before")
        formerly = []
    for former in formerly:
        if not SLUG_RE.match(former) or former == slug:
            bundle.problem(path, "formerly", f"{former!r} must be an earlier slug (lowercase "
                           "letters, digits and hyphens), not the current one")
    child = meta.get("child_victim")
    if child is not None and not isinstance(child, bool):
        bundle.problem(path, "child_victim", "must be true or false (a victim under 18 at the "
                       "offence)")
        child = None
    unknown = set(meta) - {
        "slug", "title", "case_types", "difficulty", "hard_because", "pool", "status", "panel",
        "agreed_on", "references", "formerly", "person", "child_victim",
    }
    for key in sorted(unknown):
        bundle.problem(path, key, "is not a vignette field")
    return VignetteDoc(
        path=path,
        slug=slug,
        title=title,
        case_types=[str(c) for c in case_types],
        difficulty=str(difficulty),
        hard_because=hard_because,
        pool=str(pool),
        status=str(status),
        panel=panel,
        agreed_on=agreed_on,
        body=body.strip() + "\n",
        references=parsed_refs,
        formerly=[str(f) for f in formerly],
        person=str(person),
        child_victim=child,
    )


def _parse_reference(path, instrument, ref, bundle) -> ReferenceDoc | None:
    where = f"references.{instrument}"
    if not isinstance(ref, dict):
        bundle.problem(path, where, "must be a mapping with 'applicable'")
        return None
    applicable = ref.get("applicable")
    if not isinstance(applicable, bool):
        bundle.problem(path, f"{where}.applicable", "must be true or false")
        return None
    checked_under = ref.get("checked_under")
    if checked_under is not None and not isinstance(checked_under, str):
        bundle.problem(path, f"{where}.checked_under", "must be an instrument version label in "
                       "quotes, e.g. \"1.1\"")
        checked_under = None
    correction = ref.get("correction")
    if correction is not None and (
        not isinstance(correction, dict) or not isinstance(correction.get("re_evaluate"), bool)
        or not isinstance(correction.get("note", ""), str)
        or not isinstance(correction.get("items"), list) or not correction["items"]
    ):
        bundle.problem(path, f"{where}.correction", "must be {items: [the item codes that "
                       "changed, or applicable], re_evaluate: true|false, note: \"what changed "
                       "and why\"}")
        correction = None
    if not applicable:
        reason = ref.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            bundle.problem(path, f"{where}.reason", "'not applicable' needs a reason")
            reason = ""
        if ref.get("items"):
            bundle.problem(path, f"{where}.items", "a 'not applicable' scoring has no items")
        return ReferenceDoc(instrument=instrument, applicable=False, reason=reason.strip(),
                            checked_under=checked_under, correction=correction)
    items = ref.get("items")
    if not isinstance(items, dict):
        bundle.problem(path, f"{where}.items", "must map every item code to {value, rationale}")
        items = {}
    parsed: dict[str, tuple[int | None, str]] = {}
    for code, entry in items.items():
        item_where = f"{where}.items.{code}"
        if not isinstance(entry, dict) or "value" not in entry:
            bundle.problem(path, item_where, "must be {value: ..., rationale: ...}")
            continue
        value = entry.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            bundle.problem(path, f"{item_where}.value", f"{value!r} is not an integer or null")
            continue
        rationale = entry.get("rationale")
        if not isinstance(rationale, str) or not rationale.strip():
            bundle.problem(path, f"{item_where}.rationale", "is missing")
            rationale = ""
        elif len(rationale) > MAX_RATIONALE_CHARS:
            bundle.problem(
                path, f"{item_where}.rationale", f"is longer than {MAX_RATIONALE_CHARS} characters"
            )
        elif count_sentences(rationale) > MAX_RATIONALE_SENTENCES:
            bundle.problem(
                path,
                f"{item_where}.rationale",
                f"has {count_sentences(rationale)} sentences; write one to "
                f"{MAX_RATIONALE_SENTENCES}",
            )
        parsed[str(code)] = (value, rationale.strip())
    stated_total = ref.get("total")
    if stated_total is not None and (isinstance(stated_total, bool) or not isinstance(
        stated_total, int
    )):
        bundle.problem(path, f"{where}.total", f"{stated_total!r} is not an integer")
        stated_total = None
    stated_band = ref.get("band")
    return ReferenceDoc(
        instrument=instrument,
        applicable=True,
        items=parsed,
        stated_total=stated_total,
        stated_band=str(stated_band) if stated_band is not None else None,
        checked_under=checked_under,
        correction=correction,
    )


def check_vignette_against_instruments(
    doc: VignetteDoc, instruments: Mapping[str, InstrumentDoc], bundle: ContentBundle
) -> None:
    """Scoring completeness, stated totals and bands, and the machine-checkable rules."""
    path = doc.path
    for slug in doc.references:
        if slug not in instruments:
            bundle.problem(path, f"references.{slug}", f"unknown instrument {slug!r}")
    if doc.status == "published":
        for slug in instruments:
            if slug not in doc.references:
                bundle.problem(
                    path,
                    f"references.{slug}",
                    "is missing: a published vignette has a reference on every instrument "
                    "('applicable: false' with a reason where it does not apply)",
                )
    case_types = set(doc.case_types)
    for slug, ref in doc.references.items():
        inst = instruments.get(slug)
        if inst is None:
            continue
        where = f"references.{slug}"
        if doc.person != "man":
            if ref.applicable:
                bundle.problem(path, f"{where}.applicable", (
                    f"{inst.data['short_name']} is scored only for adult men; this case is "
                    f"about a {'woman' if doc.person == 'woman' else 'person under 18'} "
                    "(person), so it is 'not applicable' with the reason"))
            continue
        check = inst.data.get("applicability_check") or {}
        if_any = set(check.get("applicable_if_any") or [])
        if_only = set(check.get("not_applicable_if_only") or [])
        if not ref.applicable and case_types & if_any:
            bundle.problem(
                path,
                f"{where}.applicable",
                f"{inst.data['short_name']} applies to case type "
                f"{', '.join(sorted(case_types & if_any))} under its rule; it cannot be "
                "'not applicable' here",
            )
        if ref.applicable and case_types and case_types <= if_only:
            bundle.problem(
                path,
                f"{where}.applicable",
                f"{inst.data['short_name']} does not apply to case type "
                f"{', '.join(sorted(case_types))} under its rule",
            )
        for field_name, message in content_rules.checked_under_problems(ref, inst.data):
            bundle.problem(path, f"{where}.{field_name}", message)
        if not ref.applicable:
            continue
        result = scoring.score(inst.spec, ref.item_states())
        for problem in result.problems:
            bundle.problem(path, f"{where}.items.{problem.item_code}", problem.message)
        for item in inst.data["items"]:
            for field_name, message in content_rules.child_victim_problems(
                doc, item, ref.items.get(item["code"])
            ):
                bundle.problem(path, field_name if field_name == "child_victim"
                               else f"{where}.{field_name}", message)
        if result.complete:
            if ref.stated_total is not None and ref.stated_total != result.total:
                bundle.problem(
                    path,
                    f"{where}.total",
                    f"says {ref.stated_total} but the items add up to {result.total}",
                )
            if ref.stated_band is not None and not inst.spec.bands:
                bundle.problem(
                    path,
                    f"{where}.band",
                    f"{inst.data['short_name']} has no bands; remove the band line",
                )
            elif ref.stated_band is not None and ref.stated_band != result.band_code:
                bundle.problem(
                    path,
                    f"{where}.band",
                    f"says {ref.stated_band!r} but a total of {result.total} is band "
                    f"{result.band_code!r}",
                )


def check_vignette_text(
    doc: VignetteDoc, bundle: ContentBundle, explicit_terms: Iterable[str]
) -> None:
    path = doc.path
    words = doc.word_count
    if not MIN_WORDS <= words <= MAX_WORDS:
        bundle.problem(path, "body", f"has {words} words; a case file has {MIN_WORDS} to {MAX_WORDS}")
    headings = re.findall(r"^##\s+(.+?)\s*$", doc.body, re.M)
    before_first = doc.body.split("\n## ", 1)[0] if not doc.body.startswith("## ") else ""
    if before_first.strip():
        bundle.problem(path, "body", "has text before the first section heading")
    if tuple(headings) != SECTIONS:
        missing = [s for s in SECTIONS if s not in headings]
        extra = [h for h in headings if h not in SECTIONS]
        if missing:
            bundle.problem(path, "body", f"missing section(s): {'; '.join(missing)}")
        if extra:
            bundle.problem(path, "body", f"unexpected section(s): {'; '.join(extra)}")
        if not missing and not extra:
            bundle.problem(path, "body", "sections are not in the order of CONTENT.md")
    if re.search(r"^#\s", doc.body, re.M) or re.search(r"^###", doc.body, re.M):
        bundle.problem(path, "body", "use only '##' section headings")
    texts = [("body", doc.body), ("title", doc.title), ("hard_because", doc.hard_because)]
    for slug, ref in doc.references.items():
        texts.append((f"references.{slug}.reason", ref.reason))
        texts.extend(
            (f"references.{slug}.items.{code}.rationale", rationale)
            for code, (_v, rationale) in ref.items.items()
        )
    for field_name, text in texts:
        for term in find_explicit_terms(text, explicit_terms):
            bundle.problem(path, field_name, f"uses the term {term!r} from the explicit-terms list")
    name = NAME_RE.search(doc.title)
    if not name:
        bundle.problem(path, "title", "must name the person by an invented first name and initial "
                       "('Daniel R.')")
    elif name.group(0) not in doc.body:
        bundle.problem(path, "body", f"does not name {name.group(0)} as the title does")


def find_explicit_terms(text: str, terms: Iterable[str]) -> list[str]:
    found = []
    lowered = text.lower()
    for term in terms:
        if re.search(r"(?<![a-z])" + re.escape(term) + r"(?![a-z])", lowered):
            found.append(term)
    return found


def paragraphs(body: str) -> list[str]:
    """Paragraphs of a case file, without headings (which every vignette shares)."""
    without_headings = re.sub(r"^#.*$", "", body, flags=re.M)
    out = []
    for block in re.split(r"\n\s*\n", without_headings):
        text = " ".join(block.split())
        if len(text) >= MIN_SHARED_PARAGRAPH_CHARS:
            out.append(text)
    return out


def check_shared_paragraphs(docs: Iterable[VignetteDoc], bundle: ContentBundle) -> None:
    seen: dict[str, str] = {}
    for doc in docs:
        for para in paragraphs(doc.body):
            key = para.lower()
            if key in seen and seen[key] != doc.slug:
                bundle.problem(
                    doc.path, "body", f"shares a paragraph with {seen[key]}: {para[:60]!r}..."
                )
            seen.setdefault(key, doc.slug)


# --- sets ----------------------------------------------------------------------------------


def parse_set(path: str, text: str, bundle: ContentBundle) -> SetDoc | None:
    data = _load_mapping(path, text, bundle, field="-", must="must be a YAML mapping of set fields")
    if data is None:
        return None
    before = len(bundle.problems)
    slug = _str(data, "slug", bundle, path)
    if slug and not SLUG_RE.match(slug):
        bundle.problem(path, "slug", f"{slug!r} must be lowercase letters, digits and hyphens")
    title = _str(data, "title", bundle, path)
    kind = data.get("kind")
    if kind not in SET_KINDS:
        bundle.problem(path, "kind", f"must be one of {', '.join(SET_KINDS)}")
    vignettes = data.get("vignettes")
    if not isinstance(vignettes, list) or not all(isinstance(v, str) for v in vignettes or [0]):
        bundle.problem(path, "vignettes", "must be a list of vignette slugs")
        vignettes = []
    dupes = {v for v in vignettes if vignettes.count(v) > 1}
    for v in sorted(dupes):
        bundle.problem(path, "vignettes", f"{v} appears twice")
    if len(bundle.problems) > before:
        return None
    instrument = data.get("instrument")
    return SetDoc(path, slug, title, str(kind), str(instrument) if instrument else None, vignettes)


def check_set(doc: SetDoc, content: ContentBundle, known_vignettes: Mapping[str, str]) -> None:
    """known_vignettes: slug -> pool, for every vignette the set may refer to."""
    if doc.instrument and doc.instrument not in content.instruments:
        content.problem(doc.path, "instrument", f"unknown instrument {doc.instrument!r}")
    for slug in doc.vignettes:
        pool = known_vignettes.get(slug)
        if pool is None:
            content.problem(doc.path, "vignettes", f"unknown vignette {slug!r}")
        elif doc.kind == "practice" and pool != "practice":
            content.problem(
                doc.path, "vignettes", f"{slug} is a {pool} vignette; a practice set holds only "
                "practice vignettes"
            )
        elif doc.kind == "exam" and pool != "exam":
            content.problem(
                doc.path, "vignettes", f"{slug} is a {pool} vignette; an exam pool holds only "
                "exam vignettes"
            )


# --- a whole directory ---------------------------------------------------------------------


def read_explicit_terms(path: Path) -> list[str]:
    if not path.exists():
        return []
    terms = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip().lower()
        if line and not line.startswith("#"):
            terms.append(line)
    return terms


def _read(path: Path, root: Path, bundle: ContentBundle) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        bundle.problem(str(path.relative_to(root)), "-", "is not UTF-8 text")
    except OSError as exc:
        bundle.problem(str(path.relative_to(root)), "-", f"cannot be read: {exc.strerror}")
    return None


MIN_RATIONALE_SENTENCES = 2  # bundled content: the fact the code turns on, and the rule


def _check_rationales_teach(doc: VignetteDoc, bundle: ContentBundle) -> None:
    """A bundled rationale (or not-applicable reason) names the fact and the rule: two
    sentences or more, so feedback teaches rather than restates the code."""
    for slug, ref in doc.references.items():
        texts = ([(f"references.{slug}.reason", ref.reason)] if not ref.applicable else
                 [(f"references.{slug}.items.{code}.rationale", rationale)
                  for code, (_value, rationale) in ref.items.items()])
        for where, text in texts:
            if text and count_sentences(text) < MIN_RATIONALE_SENTENCES:
                bundle.problem(doc.path, where, "a bundled rationale teaches in two sentences "
                               "or more: the fact the code turns on, and the rule that decides it")


def add_vignette_files(
    bundle: ContentBundle,
    files: Iterable[tuple[str, str | None]],
    instruments: Mapping[str, InstrumentDoc],
    *,
    bundled: bool = False,
) -> None:
    """Parse vignette files (name, text) into the bundle and run every check on them, against
    `instruments`. A text of None is a file that could not be read (already reported).
    `bundled`: the project's own content, whose titles must be the neutral "Name I. (case
    NNN)"."""
    for name, text in files:
        if text is None:
            continue
        if text == "":
            bundle.problem(name, "-", "is empty")
            continue
        doc = parse_vignette(name, text, bundle, expected_slug=PurePosixPath(name).stem)
        if doc is None or not doc.slug:
            continue
        if doc.slug in bundle.vignettes:
            bundle.problem(name, "slug", f"{doc.slug!r} is also used by "
                           f"{bundle.vignettes[doc.slug].path}")
            continue
        bundle.vignettes[doc.slug] = doc
    former_owner: dict[str, str] = {}
    for doc in bundle.vignettes.values():
        check_vignette_against_instruments(doc, instruments, bundle)
        check_vignette_text(doc, bundle, bundle.explicit_terms)
        for message in content_checks.title_problems(doc.title, bundled=bundled):
            bundle.problem(doc.path, "title", message)
        for message in content_checks.body_problems(doc.body):
            bundle.problem(doc.path, "body", message)
        if bundled:
            _check_rationales_teach(doc, bundle)
        for former in doc.formerly:
            if former in bundle.vignettes:
                bundle.problem(doc.path, "formerly", f"{former!r} is the slug of "
                               f"{bundle.vignettes[former].path}")
            elif former in former_owner:
                bundle.problem(doc.path, "formerly", f"{former!r} is also claimed by "
                               f"{former_owner[former]}")
            former_owner.setdefault(former, doc.path)
    check_shared_paragraphs(bundle.vignettes.values(), bundle)


def read_content_dir(root: Path, *, explicit_terms_path: Path | None = None) -> ContentBundle:
    """Parse and validate every file under ``root``; problems are collected, not raised."""
    bundle = ContentBundle()
    root = Path(root)
    if not root.is_dir():
        bundle.problem(str(root), "-", "is not a directory")
        return bundle
    bundle.explicit_terms = read_explicit_terms(explicit_terms_path or root / "explicit-terms.txt")

    for path in sorted((root / "instruments").glob("*.y*ml")):
        rel = str(path.relative_to(root))
        text = _read(path, root, bundle)
        doc = parse_instrument(rel, text, bundle) if text is not None else None
        if doc is None:
            continue
        if doc.slug in bundle.instruments:
            bundle.problem(rel, "slug", f"{doc.slug!r} is also defined in "
                           f"{bundle.instruments[doc.slug].path}")
            continue
        bundle.instruments[doc.slug] = doc

    add_vignette_files(
        bundle,
        (
            (str(path.relative_to(root)), _read(path, root, bundle))
            for path in sorted((root / "vignettes").glob("*.md"))
        ),
        bundle.instruments,
        bundled=True,
    )

    known = {slug: doc.pool for slug, doc in bundle.vignettes.items()}
    for path in sorted((root / "sets").glob("*.y*ml")):
        rel = str(path.relative_to(root))
        text = _read(path, root, bundle)
        doc = parse_set(rel, text, bundle) if text is not None else None
        if doc is None:
            continue
        if doc.slug in bundle.sets:
            bundle.problem(rel, "slug", f"{doc.slug!r} is also used by {bundle.sets[doc.slug].path}")
            continue
        check_set(doc, bundle, known)
        bundle.sets[doc.slug] = doc
    return bundle
