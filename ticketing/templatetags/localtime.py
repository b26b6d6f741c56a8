"""Times in the clock of the place they happen, in the buyer's language.

    {% load localtime %}
    {{ session.starts_at|local_datetime:session }}     14 January 2027, 14:00 CET
    {{ session.starts_at|local_time:session }}         14:00 CET
    {% local_datetime booking.expires_at session "short" as until %}

The argument is what gives the clock: a Session (its venue's zone), a Venue, an
Event, an Organiser, or an IANA name. Django's own `date` filter would show the
*current* zone (UTC in a Celery worker), which is how emails came to print UTC.
"""

from __future__ import annotations

from django import template

from ticketing.lib import localtime as lib

register = template.Library()


@register.filter(name="local_datetime")
def local_datetime_filter(value, source):
    return lib.local_datetime(value, source)


@register.filter(name="local_time")
def local_time_filter(value, source):
    return lib.local_datetime(value, source, "time")


@register.filter(name="local_date")
def local_date_filter(value, source):
    return lib.local_datetime(value, source, "date")


@register.simple_tag(name="local_datetime")
def local_datetime_tag(value, source, style="default"):
    """`style`: one of ticketing.lib.localtime.STYLES, or a Django date format."""
    return lib.local_datetime(value, source, style)
