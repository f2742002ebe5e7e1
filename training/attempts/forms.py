"""The no-JavaScript scoring form: the same rating input as the API's RatingSaveSerializer,
in the shape a browser posts it, checked against the same limits."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from training.attempts.limits import (
    MAX_NOTE_CHARS,
    MAX_RATIONALE_CHARS,
    MAX_REVISION,
    text_problem,
)
from vignettes.scoring import InstrumentSpec

OMIT = "omit"
_UNSCORED = object()  # an item left without a choice: not part of the save


class RatingTextField(forms.CharField):
    """A note or rationale exactly as typed (not stripped), under the rating's text rule."""

    def __init__(self, *, limit: int, **kwargs):
        super().__init__(max_length=limit, strip=False, required=False, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        problem = text_problem(value, self.max_length)
        if problem:
            raise forms.ValidationError(problem, code="invalid")
        return value


def _item_value(raw: str):
    return None if raw == OMIT else int(raw)


class RatingForm(forms.Form):
    """One instrument's form on the scoring page: radio groups item-<code> (a value, or
    "omit"; whether the item may be omitted is the service's rule), textareas note-<code>,
    applicability yes/no, the rationale and the revision the page was loaded with."""

    applicable = forms.TypedChoiceField(
        choices=[("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))],
        coerce={"yes": True, "no": False}.get, required=False, empty_value=None,
        error_messages={"invalid_choice": gettext_lazy("Must be yes, no or not decided.")},
    )
    rationale = RatingTextField(limit=MAX_RATIONALE_CHARS)
    revision = forms.IntegerField(
        min_value=0, max_value=MAX_REVISION,
        error_messages=dict.fromkeys(
            ("required", "invalid", "min_value", "max_value"),
            gettext_lazy("Send the revision you last saw (0 for a new rating)."),
        ),
    )

    def __init__(self, data, *, spec: InstrumentSpec):
        super().__init__(data)
        self.spec = spec
        for item in spec.items:
            allowed = ", ".join(str(v) for v in item.values)
            self.fields[f"item-{item.code}"] = forms.TypedChoiceField(
                choices=[(str(v), str(v)) for v in item.values] + [(OMIT, OMIT)],
                coerce=_item_value, required=False, empty_value=_UNSCORED,
                error_messages={"invalid_choice": _(
                    "%(value)s is not an allowed value (allowed: %(allowed)s).")
                    % {"value": "%(value)s", "allowed": allowed}},
            )
            self.fields[f"note-{item.code}"] = RatingTextField(limit=MAX_NOTE_CHARS)

    def rating_input(self) -> dict:
        """The validated input, as rating_save_draft takes it: items chosen, notes whose box
        was on the page (an empty one removes the note), applicability and rationale."""
        data = self.cleaned_data
        items, notes = {}, {}
        for item in self.spec.items:
            if data[f"item-{item.code}"] is not _UNSCORED:
                items[item.code] = data[f"item-{item.code}"]
            if f"note-{item.code}" in self.data:
                notes[item.code] = data[f"note-{item.code}"]
        return {"applicable": data["applicable"], "items": items, "notes": notes,
                "rationale": data["rationale"], "revision": data["revision"]}

    def rating_errors(self) -> dict[str, list[str]]:
        """The errors keyed as the API and the service name them (items.CPORT-1, not
        item-CPORT-1), so the page lists them in the same words."""
        paths = {}
        for name, errors in self.errors.items():
            for prefix, path in (("item-", "items."), ("note-", "notes.")):
                if name.startswith(prefix):
                    name = path + name.removeprefix(prefix)
                    break
            paths[name] = list(errors)
        return paths
