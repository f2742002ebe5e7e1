"""Trainee-facing serializers. None of them has a reference field: reference data reaches a
trainee only through FeedbackSerializer, which the API serves only when feedback is allowed."""

from collections.abc import Mapping

from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.settings import api_settings

from training.attempts import disclosure
from training.attempts.limits import (
    MAX_ITEM_CODE_CHARS,
    MAX_ITEMS_PER_RATING,
    MAX_NOTE_CHARS,
    MAX_RATIONALE_CHARS,
    MAX_REVISION,
    text_problem,
)
from training.models import Assignment, Attempt, Mode
from vignettes.rendering import render_markdown


class AttemptVignetteSerializer(serializers.Serializer):
    slug = serializers.CharField(source="vignette_revision.vignette.slug")
    title = serializers.CharField(source="vignette_revision.title")
    revision = serializers.IntegerField(source="vignette_revision.number")
    body_markdown = serializers.CharField(source="vignette_revision.body")
    body_html = serializers.SerializerMethodField()

    def get_body_html(self, obj) -> str:
        return str(render_markdown(obj.vignette_revision.body))


class AttemptInstrumentSerializer(serializers.Serializer):
    slug = serializers.CharField(source="instrument.slug")
    short_name = serializers.CharField(source="instrument.short_name")
    version = serializers.IntegerField(source="number")
    version_label = serializers.CharField()


class RatingDraftSerializer(serializers.Serializer):
    vignette = serializers.CharField(source="vignette_slug")
    instrument = serializers.CharField(source="instrument_slug")
    applicable = serializers.BooleanField(allow_null=True)
    items = serializers.DictField(child=serializers.IntegerField(allow_null=True))
    notes = serializers.DictField(child=serializers.CharField())
    rationale = serializers.CharField(allow_blank=True)
    revision = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Computed by the scoring function.")
    band = serializers.CharField(source="band_code", allow_null=True)
    band_label = serializers.CharField(allow_null=True)
    complete = serializers.BooleanField()
    unscored = serializers.ListField(child=serializers.CharField())


class AttemptListSerializer(serializers.ModelSerializer):
    assignment = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    vignettes = serializers.SerializerMethodField()
    instruments = serializers.SerializerMethodField()

    class Meta:
        model = Attempt
        fields = ["id", "mode", "status", "assignment", "started_at", "deadline", "submitted_at",
                  "vignettes", "instruments"]

    def get_vignettes(self, obj) -> list[str]:
        return [av.vignette_revision.vignette.slug for av in obj.attempt_vignettes.all()]

    def get_instruments(self, obj) -> list[str]:
        return [v.instrument.slug for v in obj.instrument_versions.all()]


class AttemptDetailSerializer(serializers.ModelSerializer):
    assignment = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    vignettes = AttemptVignetteSerializer(source="attempt_vignettes", many=True)
    instruments = AttemptInstrumentSerializer(source="instrument_versions", many=True)
    ratings = serializers.SerializerMethodField()
    feedback_available = serializers.SerializerMethodField()

    class Meta:
        model = Attempt
        fields = ["id", "mode", "status", "assignment", "started_at", "deadline", "submitted_at",
                  "vignettes", "instruments", "ratings", "feedback_available"]

    def get_ratings(self, obj) -> list[dict]:
        drafts = self.context["drafts"]
        return RatingDraftSerializer(list(drafts.values()), many=True).data

    def get_feedback_available(self, obj) -> bool:
        return self.context["feedback_available"]


class AttemptCreateSerializer(serializers.Serializer):
    assignment = serializers.IntegerField(required=False)
    vignette = serializers.CharField(required=False, max_length=100)
    instrument = serializers.CharField(required=False, max_length=64)
    instruments = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=20
    )
    accept_undertaking = serializers.BooleanField(
        required=False, default=False,
        help_text="Exams only: true = the candidate accepts the confidentiality undertaking "
                  "shown on the briefing; an exam does not start without it.")

    def validate(self, attrs):
        if "assignment" in attrs:
            if "instrument" in attrs or "instruments" in attrs:
                raise serializers.ValidationError(
                    "An assignment sets its own instruments; send only 'assignment' (and "
                    "optionally 'vignette')."
                )
            return attrs
        if "vignette" not in attrs:
            raise serializers.ValidationError(
                "Send 'assignment', or 'vignette' with 'instrument' or 'instruments'."
            )
        if "instrument" in attrs and "instruments" in attrs:
            raise serializers.ValidationError("Send 'instrument' or 'instruments', not both.")
        instruments = attrs.pop("instruments", None) or (
            [attrs.pop("instrument")] if "instrument" in attrs else []
        )
        if not instruments:
            raise serializers.ValidationError({"instruments": "Choose at least one instrument."})
        attrs["instruments"] = instruments
        return attrs


class RatingTextField(serializers.CharField):
    """A note or rationale exactly as sent: never made from a number, never trimmed; NUL
    characters, lone surrogates and over-long text are refused (limits.text_problem)."""

    def __init__(self, *, limit: int, **kwargs):
        super().__init__(max_length=limit, allow_blank=True, allow_null=True,
                         trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        problem = text_problem(data, self.max_length)
        if problem:
            raise serializers.ValidationError(problem)
        return data


class ItemValueField(serializers.IntegerField):
    """An item's value as JSON sends it: a whole number (never a string or true/false), or
    null for an omitted item. Whether the value is allowed is the instrument's rule, which
    the service applies."""

    default_error_messages = {
        "invalid": gettext_lazy("{value} is not an allowed value: send the item's value as a "
                                "whole number, or null to omit it."),
    }

    def __init__(self, **kwargs):
        super().__init__(allow_null=True, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid", value=repr(data))
        return data


class ItemCodeMapField(serializers.DictField):
    """An object keyed by item code, with at most MAX_ITEMS_PER_RATING entries."""

    default_error_messages = {
        "too_many": gettext_lazy("At most {n} items."),
        "long_code": gettext_lazy("An item code has at most {n} characters."),
    }

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            if len(data) > MAX_ITEMS_PER_RATING:
                self.fail("too_many", n=MAX_ITEMS_PER_RATING)
            if any(len(str(code)) > MAX_ITEM_CODE_CHARS for code in data):
                self.fail("long_code", n=MAX_ITEM_CODE_CHARS)
        return super().to_internal_value(data)


class ItemCodeMapFieldSchema(OpenApiSerializerFieldExtension):
    """The schema of an ItemCodeMapField states its bounds."""

    target_class = "training.attempts.serializers.ItemCodeMapField"

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction,
                                                   bypass_extensions=True)
        return {**schema, "maxProperties": MAX_ITEMS_PER_RATING}


class StrictBooleanField(serializers.BooleanField):
    """true or false as JSON sends them, never "yes", "1" or 1."""

    default_error_messages = {"invalid": gettext_lazy("Must be true, false or null.")}

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class RevisionField(serializers.IntegerField):
    """A rating's revision as JSON sends it: a whole number from 0, never a string."""

    def __init__(self, **kwargs):
        message = gettext_lazy("Send the revision you last saw (0 for a new rating).")
        errors = ("null", "invalid", "min_value", "max_value", "max_string_length")
        super().__init__(min_value=0, max_value=MAX_REVISION,
                         error_messages=dict.fromkeys(errors, message), **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return data


RATING_DRAFT_FIELDS = frozenset({"applicable", "items", "notes", "rationale"})


class RatingSaveSerializer(serializers.Serializer):
    """The body of PUT /attempts/{id}/ratings/: one draft of one rating (vignette x
    instrument). Only the fields below may be sent (a computed total, a status or a
    reference value is refused by name); errors about an entry of `items` or `notes` are
    named by its path (`items.CPORT-1`), as the service names them."""

    default_error_messages = {
        "invalid": gettext_lazy("The body must be a JSON object."),
        "unknown": gettext_lazy("This field cannot be set by a client."),
    }

    vignette = serializers.CharField(max_length=100)
    instrument = serializers.CharField(max_length=64)
    applicable = StrictBooleanField(allow_null=True, required=False)
    items = ItemCodeMapField(
        child=ItemValueField(), required=False, allow_null=True,
        error_messages={"not_a_dict": gettext_lazy("Must be an object of item code to value.")},
        help_text="item code -> value; null = omitted (only where the item allows it). "
                  f"An item code has at most {MAX_ITEM_CODE_CHARS} characters.",
    )
    notes = ItemCodeMapField(
        child=RatingTextField(limit=MAX_NOTE_CHARS), required=False, allow_null=True,
        error_messages={"not_a_dict": gettext_lazy("Must be an object of item code to note.")},
        help_text="item code -> note; an empty note (or null) removes it. An item code "
                  f"has at most {MAX_ITEM_CODE_CHARS} characters.",
    )
    rationale = RatingTextField(limit=MAX_RATIONALE_CHARS, required=False)
    revision = RevisionField(help_text="The rating's revision you last saw; 0 if new.")

    def validate_empty_values(self, data):
        if data is None:  # a body of JSON null
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [self.error_messages["invalid"]]},
                code="invalid")
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    dict.fromkeys(unknown, [self.error_messages["unknown"]]), code="unknown")
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError(_by_path(exc.detail)) from None


def _by_path(detail):
    """{"items": {"CPORT-1": [...]}} -> {"items.CPORT-1": [...]}: one level of errors, keyed
    by the path of what is wrong."""
    if not isinstance(detail, dict):
        return detail
    flat = {}
    for field, errors in detail.items():
        if isinstance(errors, dict):
            for key, inner in errors.items():
                flat[f"{field}.{key}"] = inner
        else:
            flat[field] = errors
    return flat


class RatingSavedSerializer(RatingDraftSerializer):
    pass


class ItemFeedbackSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    value = serializers.IntegerField(allow_null=True)
    scored = serializers.BooleanField()
    reference_value = serializers.IntegerField(allow_null=True)
    match = serializers.BooleanField()
    rationale = serializers.CharField()
    note = serializers.CharField()
    coding_notes = serializers.CharField(help_text="The item's coding note in the instrument "
                                         "version the reference was scored under.")


class FeedbackSerializer(serializers.Serializer):
    vignette = serializers.CharField(source="vignette_slug")
    instrument = serializers.CharField(source="instrument_slug")
    applicable = serializers.BooleanField(allow_null=True)
    reference_applicable = serializers.BooleanField()
    reference_reason = serializers.CharField()
    applicability_match = serializers.BooleanField()
    items = ItemFeedbackSerializer(many=True)
    total = serializers.IntegerField(allow_null=True)
    band = serializers.CharField(allow_null=True)
    reference_total = serializers.IntegerField(allow_null=True)
    reference_band = serializers.CharField(allow_null=True)
    bands_applicable = serializers.BooleanField(
        help_text="False for an instrument without published bands (CPORT): band and "
                  "reference_band are null.")
    summary = serializers.CharField()
    reference_number = serializers.IntegerField()
    comments = serializers.ListField(child=serializers.DictField(), read_only=True)
    case_types = serializers.ListField(
        child=serializers.CharField(), help_text="What kind of case it was: shown only once the "
        "reference is released, never before scoring.")
    hard_because = serializers.CharField(help_text="What makes the case hard (may be empty).")
    caveats = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField()), help_text="Validity caveats "
        "the instrument's file gives for this kind of case: [{text, source}] (may be empty).")
    rating_period = serializers.CharField(help_text="The period the items are rated over, "
                                          "where the instrument says (may be empty).")


class AssignmentSerializer(serializers.ModelSerializer):
    cohort = serializers.CharField(source="cohort.name")
    vignette_set = serializers.CharField(source="vignette_set.slug")
    instruments = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    effective_feedback_policy = serializers.SerializerMethodField(
        help_text="The feedback candidates actually get: for an exam, the assignment's own "
                  "choice made no looser than the organisation's certification rule.")

    class Meta:
        model = Assignment
        fields = ["id", "title", "cohort", "vignette_set", "instruments", "mode", "opens_at",
                  "closes_at", "time_limit_minutes", "attempts_allowed", "feedback_policy",
                  "effective_feedback_policy", "cases_per_attempt"]

    cases_per_attempt = serializers.SerializerMethodField(
        help_text="Exams: the cases one attempt draws (not the pool's size); practice: null.")

    def get_effective_feedback_policy(self, obj) -> str:
        return disclosure.assignment_policy(obj)

    def get_cases_per_attempt(self, obj) -> int | None:
        if obj.mode != Mode.EXAM:
            return None
        pool = obj.vignette_set.members.count()
        return min(obj.draw_size or pool, pool)


class MembershipSerializer(serializers.Serializer):
    organization = serializers.CharField(source="organization.slug")
    organization_name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    active = serializers.BooleanField()
