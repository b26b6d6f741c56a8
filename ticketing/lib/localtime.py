"""Local time for people: one helper that every page, email, SMS, PDF and admin uses.

A session's clock is its venue's time zone, an event's its own, an organiser's its
own (see ARCHITECTURE.md, "Time"). The database and the API keep UTC; everything a
person reads is shown here, in the active language, with the zone's abbreviation
(CET/CEST, WAT) so that "14:00" is never ambiguous.

`ticketing` sits below `events`: objects are asked for their `tzinfo` (Session,
Venue, Event and Organiser have one) rather than imported.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from django.utils import formats, timezone

# Styles, as Django date formats (month and day names follow the active language:
# "jeudi 14 janvier 2027, 14:00 CET"). "T" is the zone's abbreviation at that moment.
STYLES = {
    "long": "l j F Y, H:i T",
    "default": "j F Y, H:i T",
    "date": "l j F Y",
    "short_date": "j F Y",
    "time": "H:i T",
    "short": "j/m H:i T",  # SMS
    "admin": "Y-m-d H:i T",  # admin lists: sortable at a glance
}


def zone_of(source) -> dt.tzinfo:
    """The time zone of a Session, Venue, Event or Organiser (their `tzinfo`), of an
    IANA name, or a tzinfo itself. UTC for None."""
    if source is None or source == "":
        return dt.UTC
    if isinstance(source, dt.tzinfo):
        return source
    if isinstance(source, str):
        return zoneinfo.ZoneInfo(source)
    zone = getattr(source, "tzinfo", None)
    if zone is None:
        raise TypeError(f"{type(source).__name__} has no time zone")
    return zone


def to_local(value: dt.datetime, source) -> dt.datetime:
    """`value` (aware) on the clock of `source`."""
    return timezone.localtime(value, zone_of(source))


def local_datetime(value: dt.datetime | None, source, style: str = "default") -> str:
    """`value` as people at `source` read it, e.g. "14 janvier 2027, 14:00 CET"
    in French; "" for None."""
    if value is None:
        return ""
    return formats.date_format(to_local(value, source), STYLES.get(style, style))


def zone_label(source, at: dt.datetime | None = None) -> str:
    """ "Europe/Paris (CET)": the zone and its abbreviation at `at` (now)."""
    zone = zone_of(source)
    moment = timezone.localtime(at or timezone.now(), zone)
    name = getattr(zone, "key", None) or str(zone)
    abbreviation = moment.tzname() or ""
    if not abbreviation or abbreviation == name:
        return name
    return f"{name} ({abbreviation})"
