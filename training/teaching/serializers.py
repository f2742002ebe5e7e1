"""Input of the cohort analytics: one rule for the reliability window, shared by the API and
the dashboard page, so the same query answers the same way on both."""

from django.utils.translation import gettext_lazy
from rest_framework import serializers

WINDOWS = ("month", "week", "rolling")
DEFAULT_WINDOW = "month"
DEFAULT_SIZE = 50
MIN_SIZE, MAX_SIZE = 4, 1000

_WHOLE_NUMBER = gettext_lazy("A whole number.")
_SIZE_RANGE = gettext_lazy("Between 4 and 1000.")


class ReliabilityWindowSerializer(serializers.Serializer):
    """`window` and `size` of the reliability over time. An empty value is the default."""

    window = serializers.ChoiceField(
        choices=WINDOWS, default=DEFAULT_WINDOW,
        error_messages={"invalid_choice": gettext_lazy("One of month, week, rolling.")},
        help_text="Calendar month, calendar week, or rolling windows of `size` ratings.",
    )
    size = serializers.IntegerField(
        min_value=MIN_SIZE, max_value=MAX_SIZE, default=DEFAULT_SIZE,
        error_messages={"invalid": _WHOLE_NUMBER, "max_string_length": _WHOLE_NUMBER,
                        "min_value": _SIZE_RANGE, "max_value": _SIZE_RANGE},
        help_text="Ratings per rolling window.",
    )


class CohortReliabilityQuerySerializer(ReliabilityWindowSerializer):
    """The query of GET /cohorts/{id}/reliability/."""

    instrument = serializers.CharField(
        max_length=64, help_text="An instrument slug the cohort has rated.")
