"""The two checks every request's input passes before anything else reads it.

- ``load_json``: the one way the project parses a JSON request body. It refuses a body over
  the size limit or nested deeper than ``CALIBRATE_MAX_JSON_DEPTH`` *before* parsing (deep
  nesting exhausts Python's recursion limit in the parser and in everything that walks the
  result), and a key given twice in one object.
- ``text_problem`` and ``TextGuardMiddleware`` (config.middleware): text that no person types
  and that the database cannot store — a NUL character (PostgreSQL refuses it in any string), a
  lone surrogate (not encodable as UTF-8) and control characters other than tab, CR and LF — is
  refused at the edge with 400 naming the field, before sign-in throttling, authentication or
  any view sees it.

Pure functions on text and bytes; the middleware turns their answers into responses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.utils.translation import gettext as _

# C0 controls except tab, LF and CR; DEL; C1 controls; the UTF-16 surrogate range.
_BAD_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_JSON_SPECIAL = re.compile(r'[\[\]{}"\\]')
_FIELD_NAME_SHOWN = 80


class JSONInputError(ValueError):
    """A JSON body the guard refuses. ``status`` is 413 for a body over the size limit, else 400."""

    def __init__(self, message: str, *, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def _reject_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(_("the key %(key)r appears twice in one object") % {"key": key})
        seen[key] = value
    return seen


def json_nesting_depth(text: str, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in JSON text, found without parsing it (a
    linear scan that skips string contents); stops early once ``stop_above`` is exceeded.

    >>> json_nesting_depth('{"a": [1, {"b": "[["}]}')
    3
    """
    depth = deepest = 0
    in_string = False
    skip_to = -1  # the character after a backslash inside a string is escaped
    for match in _JSON_SPECIAL.finditer(text):
        position, char = match.start(), match.group()
        if position < skip_to:
            continue
        if in_string:
            if char == "\\":
                skip_to = position + 2
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if stop_above is not None and deepest > stop_above:
                    return deepest
        elif char in "]}":
            depth -= 1
    return deepest


def load_json(raw: bytes | str, *, encoding: str = "utf-8"):
    """Parse a JSON request body, or raise JSONInputError with a message a client can act on.

    Limits: ``CALIBRATE_MAX_JSON_BODY`` bytes and ``CALIBRATE_MAX_JSON_DEPTH`` levels of
    nested arrays/objects. A key given twice in one object is an error, not "last one wins".
    """
    size_limit = settings.CALIBRATE_MAX_JSON_BODY
    depth_limit = settings.CALIBRATE_MAX_JSON_DEPTH
    size = len(raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw)
    if size > size_limit:
        raise JSONInputError(
            _("The JSON body (%(size)d bytes) is larger than the limit (%(limit)d bytes).")
            % {"size": size, "limit": size_limit},
            status=413,
        )
    if isinstance(raw, bytes):
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise JSONInputError(
                _("JSON parse error - the body is not %(encoding)s text") % {"encoding": encoding}
            ) from exc
    else:
        text = raw
    if json_nesting_depth(text, stop_above=depth_limit) > depth_limit:
        raise JSONInputError(
            _("JSON parse error - arrays and objects are nested more than %(limit)d levels deep")
            % {"limit": depth_limit}
        )
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates)
    except RecursionError as exc:  # cannot happen below the depth limit; never a 500 if it does
        raise JSONInputError(_("JSON parse error - nested too deeply")) from exc
    except ValueError as exc:
        raise JSONInputError(_("JSON parse error - %(problem)s") % {"problem": exc}) from exc


# --- text ----------------------------------------------------------------------------------


def shown(name: str) -> str:
    """A field name as it can be printed in a message: bad characters escaped, shortened."""
    text = _BAD_TEXT.sub(lambda m: f"\\u{ord(m.group()):04x}", name)
    if len(text) > _FIELD_NAME_SHOWN:
        text = text[: _FIELD_NAME_SHOWN - 1] + "…"
    return text


def text_problem(value: str) -> str | None:
    """What is wrong with a piece of text a request carries, or None: a NUL character, a lone
    surrogate or a control character other than tab, CR and LF."""
    match = _BAD_TEXT.search(value)
    if match is None:
        return None
    char = match.group()
    if char == "\x00":
        return _("contains a NUL character")
    if "\ud800" <= char <= "\udfff":
        return _("contains a lone surrogate (U+%(code)04X), which is not text") % {
            "code": ord(char)}
    return _("contains the control character U+%(code)04X") % {"code": ord(char)}


def field_problem(field: str, problem: str) -> str:
    return _("Field '%(field)s' %(problem)s.") % {"field": shown(field), "problem": problem}


def _decode_raw(raw: bytes) -> tuple[str | None, str | None]:
    """Raw (percent-decoded) bytes of a query or form value as text, or what is wrong."""
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        pass
    try:
        with_surrogates = raw.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return None, _("is not UTF-8 text")
    return None, text_problem(with_surrogates) or _("is not UTF-8 text")


def urlencoded_problem(raw: bytes) -> tuple[str, str] | None:
    """(field, problem) for the first bad key or value in a query string or an
    application/x-www-form-urlencoded body, read from the raw bytes: Django would replace
    invalid UTF-8 (a percent-encoded surrogate such as %ED%A0%80) and hide it."""
    for pair in raw.split(b"&"):
        if not pair:
            continue
        raw_key, _sep, raw_value = pair.partition(b"=")
        key, key_problem = _decode_raw(unquote_to_bytes(raw_key.replace(b"+", b" ")))
        if key is None:
            name = raw_key.decode("ascii", "backslashreplace")
            return name, key_problem
        problem = text_problem(key)
        if problem:
            return key, problem
        value, value_problem = _decode_raw(unquote_to_bytes(raw_value.replace(b"+", b" ")))
        problem = value_problem if value is None else text_problem(value)
        if problem:
            return key, problem
    return None


def _json_strings(value, path: str) -> Iterator[tuple[str, str]]:
    """(field path, text) for every key and string value in parsed JSON."""
    if isinstance(value, str):
        yield path or "(body)", value
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}" if path else key
            yield child, key
            yield from _json_strings(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_strings(item, f"{path}[{index}]")


def json_text_problem(data) -> tuple[str, str] | None:
    """(field path, problem) for the first bad key or string value in parsed JSON."""
    for path, text in _json_strings(data, ""):
        problem = text_problem(text)
        if problem:
            return path, problem
    return None


def fields_problem(fields) -> tuple[str, str] | None:
    """(field, problem) for the first bad key or value in a QueryDict of form fields."""
    for key, values in fields.lists():
        problem = text_problem(key)
        if problem:
            return key, problem
        for value in values:
            problem = text_problem(value)
            if problem:
                return key, problem
    return None


def files_problem(files) -> tuple[str, str] | None:
    """(field, problem) for an uploaded file whose field name or file name is bad text. The
    file's contents are the view's to judge (a content pack is binary)."""
    for key, uploads in files.lists():
        problem = text_problem(key)
        if problem:
            return key, problem
        for upload in uploads:
            problem = text_problem(upload.name or "")
            if problem:
                return key, _("has a file name that %(problem)s") % {"problem": problem}
    return None


# --- messages for the middleware -----------------------------------------------------------


def address_problem(problem: str) -> str:
    return _("The address %(problem)s.") % {"problem": problem}


def cookie_problem(name: str, problem: str) -> str:
    return _("Cookie '%(name)s' %(problem)s.") % {"name": shown(name), "problem": problem}


def header_problem(name: str, problem: str) -> str:
    return _("Header '%(name)s' %(problem)s.") % {"name": name, "problem": problem}


def body_too_big_message() -> str:
    return _("The request body is larger than this address accepts.")


def unreadable_form_message() -> str:
    return _("The form data could not be read. Send it again from the page.")
