"""Serializers that trainees see. None of them has a reference field to leak."""

from rest_framework import serializers

from vignettes.models import Band, Instrument, Item, ItemValue, Vignette
from vignettes.rendering import render_markdown


class ItemValueSerializer(serializers.ModelSerializer):
    class Meta:
        model = ItemValue
        fields = ["value", "label"]


class ItemSerializer(serializers.ModelSerializer):
    allowed_values = ItemValueSerializer(many=True, read_only=True)
    missing_ok = serializers.BooleanField(
        read_only=True, help_text="May be omitted (null) for lack of information, under the "
        "instrument's missing_information rule.")

    class Meta:
        model = Item
        fields = [
            "code", "order", "name", "description", "coding_notes", "omissible",
            "omission_rule", "missing_ok", "allowed_values",
        ]


class BandSerializer(serializers.ModelSerializer):
    class Meta:
        model = Band
        fields = ["code", "label", "min_total", "max_total"]


class InstrumentSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="current_version.number")
    version_label = serializers.CharField(source="current_version.version_label")
    kind = serializers.CharField(source="current_version.kind")
    description = serializers.CharField(source="current_version.description")
    source = serializers.CharField(source="current_version.source")
    notice = serializers.CharField(source="current_version.notice")
    applicability_rule = serializers.CharField(source="current_version.applicability_rule")
    missing_information = serializers.JSONField(
        source="current_version.missing_information", read_only=True,
        help_text="Which items may be omitted for lack of information (items), how many at "
        "most (max_omitted), what becomes of the total (total: without_item or "
        "not_computable), whose rule it is (source: manual or training) and the rule (rule).")
    rating_period = serializers.CharField(
        source="current_version.rating_period", read_only=True,
        help_text="The period the items are rated over, where the instrument says (may be empty).")
    items = ItemSerializer(source="current_version.items", many=True, read_only=True)
    bands = BandSerializer(source="current_version.bands", many=True, read_only=True)
    bundled = serializers.BooleanField(source="is_bundled")

    class Meta:
        model = Instrument
        fields = [
            "slug", "name", "short_name", "version", "version_label", "kind", "description",
            "source", "notice", "applicability_rule", "missing_information", "rating_period",
            "bundled", "items",
            "bands",
        ]


class VignetteListSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="current_revision.title")
    revision = serializers.IntegerField(source="current_revision.number")
    # No case types: a trainee reads the list before scoring, and a case type says whether an
    # instrument applies. They are on feedback and on instructors' pages.
    difficulty = serializers.CharField(source="current_revision.difficulty")
    bundled = serializers.BooleanField(source="is_bundled")
    attempted = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Vignette
        fields = ["slug", "title", "revision", "difficulty", "pool", "bundled", "attempted"]


class VignetteDetailSerializer(VignetteListSerializer):
    # No hard_because: it names the trap, which is for instructors and feedback.
    body_markdown = serializers.CharField(source="current_revision.body")
    body_html = serializers.SerializerMethodField()
    word_count = serializers.IntegerField(source="current_revision.word_count")

    class Meta(VignetteListSerializer.Meta):
        fields = VignetteListSerializer.Meta.fields + [
            "word_count", "body_markdown", "body_html",
        ]

    def get_body_html(self, obj) -> str:
        return str(render_markdown(obj.current_revision.body))
