"""How dates, times and numbers read on every page and in every e-mail.

One presentation for a moment: "6 Dec 2026, 14:05 (Europe/London)", in the organisation's
time zone with the zone named; a day reads "6 Dec 2026" (the day in that zone). Machine-readable
forms (the `datetime` attribute of <time>, CSV, the API) stay ISO 8601 in UTC.

Numbers read as what they are: a count is an integer, a share is a percentage with its sign,
a coefficient has a fixed number of decimals.
"""

import datetime as dt
import zoneinfo

from django.template.defaultfilters import floatformat
from django.utils import dateformat, timezone

UTC = dt.UTC


def zone_of(zone=None) -> dt.tzinfo:
    """A tzinfo from a zone name, a tzinfo, an organisation (its time_zone) or nothing (the
    active zone: the organisation's, which the middleware activates, else UTC)."""
    if zone is None or zone == "":
        return timezone.get_current_timezone()
    if isinstance(zone, dt.tzinfo):
        return zone
    name = getattr(zone, "time_zone", zone)
    try:
        return zoneinfo.ZoneInfo(str(name or "UTC"))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def zone_name(zone=None) -> str:
    tz = zone_of(zone)
    if tz is UTC:
        return "UTC"
    return getattr(tz, "key", None) or str(tz)


def _local(value, zone):
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value.astimezone(zone_of(zone))


def local_date(value: dt.datetime, zone=None) -> dt.date:
    """The calendar day of a moment in the zone (the organisation's)."""
    return _local(value, zone).date()


def when(value, zone=None) -> str:
    """A moment: '6 Dec 2026, 14:05 (Europe/London)'. A plain date reads as `day`."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return f"{dateformat.format(_local(value, zone), 'j M Y, H:i')} ({zone_name(zone)})"
    if isinstance(value, dt.date):
        return day(value)
    return str(value)


def day(value, zone=None) -> str:
    """The day of a moment in the zone, or a plain date: '6 Dec 2026'."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, dt.datetime):
        value = _local(value, zone)
    if isinstance(value, dt.date):
        return dateformat.format(value, "j M Y")
    return str(value)


def iso(value) -> str:
    """ISO 8601 in UTC, for the datetime attribute of <time> and for machines."""
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return _local(value, UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def count(value) -> str:
    """A count: an integer, whatever type it was stored as ('12', never '12.00')."""
    if value is None or value == "":
        return ""
    try:
        return str(int(round(float(value))))
    except (TypeError, ValueError):
        return str(value)


def percent(value, digits=0) -> str:
    """A share in [0, 1] as a percentage: '83 %'."""
    if value is None or value == "":
        return "–"
    try:
        return f"{100 * float(value):.{int(digits)}f} %"
    except (TypeError, ValueError):
        return str(value)


def coefficient(value, digits=2) -> str:
    """A coefficient or a mean with a fixed number of decimals: '0.70', '-1.25'."""
    if value is None or value == "":
        return ""
    return floatformat(value, str(int(digits)))
