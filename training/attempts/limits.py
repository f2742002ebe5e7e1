"""What a rating's input may hold: one set of limits and one text rule, kept by the API's
input serializer, the no-JavaScript scoring form and the service alike."""

from django.utils.translation import gettext as _

MAX_NOTE_CHARS = 2000
MAX_RATIONALE_CHARS = 10000
# No instrument has this many items; the bound keeps a draft save's work small.
MAX_ITEMS_PER_RATING = 100
MAX_ITEM_CODE_CHARS = 32  # vignettes.Item.code
MAX_REVISION = 2**31 - 1  # the largest revision a rating can reach (a 32-bit column)


def text_problem(value, limit: int) -> str | None:
    """Why `value` cannot be stored as a note or rationale of at most `limit` characters, in
    the trainee's terms; None when it can."""
    if not isinstance(value, str):
        return _("Must be text.")
    if "\x00" in value:
        return _("Must not contain NUL characters.")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _("Contains an invalid character (a lone surrogate).")
    if len(value) > limit:
        return _("At most %(n)d characters (this has %(m)d).") % {"n": limit, "m": len(value)}
    return None
