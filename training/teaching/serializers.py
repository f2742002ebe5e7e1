"""Input of the cohort analytics: one rule for the reliability window, shared by the API and
the dashboard page, so the same query answers the same way on both; and the one output shape of
band agreement and decision consistency (cohort API and certification decisions)."""

from django.utils.translation import gettext_lazy
from rest_framework import serializers

from training.reliability.sufficiency import MIN_UNITS

WINDOWS = ("month", "week", "units")
# "rolling" (windows of N first ratings) was replaced by count windows of N vignettes; the old
# name is still accepted and means "units".
WINDOW_ALIASES = {"rolling": "units"}
DEFAULT_WINDOW = "month"
DEFAULT_SIZE = MIN_UNITS
MIN_SIZE, MAX_SIZE = MIN_UNITS, 1000

_WHOLE_NUMBER = gettext_lazy("A whole number.")
_SIZE_RANGE = gettext_lazy("Between 10 and 1000.")


class ReliabilityWindowSerializer(serializers.Serializer):
    """`window` and `size` of the reliability over time. An empty value is the default."""

    window = serializers.ChoiceField(
        choices=WINDOWS + tuple(WINDOW_ALIASES), default=DEFAULT_WINDOW,
        error_messages={"invalid_choice": gettext_lazy("One of month, week, units.")},
        help_text=(
            "Calendar month, calendar week, or `units`: count windows of `size` vignettes "
            "that have two or more first ratings, counted back from the latest (the last "
            "window is the last `size` vignettes). `rolling` is an old name for `units`."
        ),
    )
    size = serializers.IntegerField(
        min_value=MIN_SIZE, max_value=MAX_SIZE, default=DEFAULT_SIZE,
        error_messages={"invalid": _WHOLE_NUMBER, "max_string_length": _WHOLE_NUMBER,
                        "min_value": _SIZE_RANGE, "max_value": _SIZE_RANGE},
        help_text=("Vignettes (with two or more first ratings) per count window "
                   f"(window=units); at least {MIN_UNITS}, the minimum a reliability value "
                   "needs."),
    )

    def validate_window(self, value):
        return WINDOW_ALIASES.get(value, value)


class CohortReliabilityQuerySerializer(ReliabilityWindowSerializer):
    """The query of GET /cohorts/{id}/reliability/."""

    instrument = serializers.CharField(
        max_length=64, help_text="An instrument slug the cohort has rated.")


# --- output: decision consistency ---------------------------------------------------------


class ShareSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    ci95 = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    n = serializers.IntegerField(help_text="Ratings the share rests on.")
    undefined_reason = serializers.CharField(allow_null=True)


class BoundarySerializer(serializers.Serializer):
    lower = serializers.CharField(help_text="Band below the boundary.")
    upper = serializers.CharField(help_text="Band above it.")
    cut = serializers.IntegerField(help_text="Lowest total of the upper band.")
    crossed = ShareSerializer(help_text="Ratings whose reference total is within `near` "
                                        "points of the boundary: the share on the other side.")
    from_below = ShareSerializer()
    from_above = ShareSerializer()


class BandConsistencySerializer(serializers.Serializer):
    applicable = serializers.BooleanField(
        help_text="False for an instrument without published bands (CPORT).")
    reason = serializers.CharField(allow_blank=True)
    near = serializers.IntegerField(required=False)
    band_agreement = ShareSerializer(required=False)
    disagreements_changing_band = ShareSerializer(required=False)
    boundaries = BoundarySerializer(many=True, required=False)
