"""Input of the certificate lists: one rule for the status filter of the API and of the org
admin's certificate register page."""

from django.utils.translation import gettext_lazy
from rest_framework import serializers

CERTIFICATE_FILTERS = ("active", "expiring", "suspended", "revoked")


def _status_filter(**kwargs) -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=CERTIFICATE_FILTERS, required=False, allow_blank=True,
        error_messages={"invalid_choice": gettext_lazy(
            "Unknown filter {input!r}; use one of active, expiring, suspended, revoked.")},
        help_text="active, expiring (within 60 days), suspended or revoked; empty for all.",
        **kwargs,
    )


class CertificateListQuerySerializer(serializers.Serializer):
    """The query of GET /certificates/ (both filters apply to org admins only)."""

    status = _status_filter()
    holder = serializers.CharField(required=False, max_length=150,
                                   help_text="A holder's username.")


class CertificateRegisterQuerySerializer(serializers.Serializer):
    """The query of the certificate register page: the same filter, named `filter`, and
    `format=csv` for the export."""

    filter = _status_filter()
    format = serializers.ChoiceField(
        choices=["csv"], required=False, allow_blank=True,
        error_messages={"invalid_choice": gettext_lazy("Only csv, or nothing for the page.")},
    )
