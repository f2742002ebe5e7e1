"""Input of the cohort analytics: one rule for the reliability window, shared by the API and
the dashboard page, so the same query answers the same way on both."""

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
