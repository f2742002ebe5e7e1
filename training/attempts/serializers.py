"""Trainee-facing serializers. None of them has a reference field: reference data reaches a
trainee only through FeedbackSerializer, which the API serves only when feedback is allowed."""

from rest_framework import serializers

from training.attempts import disclosure
from training.models import Assignment, Attempt
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


class RatingSaveSerializer(serializers.Serializer):
    """For the schema: the body of PUT /attempts/{id}/ratings/ (validated by the service)."""

    vignette = serializers.CharField()
    instrument = serializers.CharField()
    applicable = serializers.BooleanField(allow_null=True, required=False)
    items = serializers.DictField(
        child=serializers.IntegerField(allow_null=True), required=False,
        help_text="item code -> value; null = omitted (only where the item allows it)",
    )
    notes = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    rationale = serializers.CharField(allow_blank=True, required=False)
    revision = serializers.IntegerField(help_text="The rating's revision you last saw; 0 if new.")


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
    summary = serializers.CharField()
    reference_number = serializers.IntegerField()
    comments = serializers.ListField(child=serializers.DictField(), read_only=True)


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
                  "effective_feedback_policy"]

    def get_effective_feedback_policy(self, obj) -> str:
        return disclosure.assignment_policy(obj)


class MembershipSerializer(serializers.Serializer):
    organization = serializers.CharField(source="organization.slug")
    organization_name = serializers.CharField(source="organization.name")
    role = serializers.CharField()
    active = serializers.BooleanField()
