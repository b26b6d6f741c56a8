"""The channels sales are split by on the dashboard and in reports.

Own sales come from `bookings.Booking.channel` (comps apart, whatever their channel);
platform sales from the integrations' listings and external orders.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

WEB, API, ADMIN, COMP = "web", "api", "admin", "comp"
BILLETWEB, HUMANITIX, EVENTBRITE = "billetweb", "humanitix", "eventbrite"

LABELS = {
    WEB: _("Web shop"),
    API: _("Partner API"),
    ADMIN: _("Back office (paid offline)"),
    COMP: _("Comps"),
    BILLETWEB: "Billetweb",
    HUMANITIX: "Humanitix",
    EVENTBRITE: "Eventbrite",
}
# Column headings, where the full labels would not fit.
SHORT_LABELS = {
    WEB: _("Web"),
    API: _("API"),
    ADMIN: _("Box office"),
    COMP: _("Comps"),
    BILLETWEB: "Billetweb",
    HUMANITIX: "Humanitix",
    EVENTBRITE: "Eventbrite",
}
OWN = (WEB, API, ADMIN, COMP)
PLATFORMS = (BILLETWEB, HUMANITIX, EVENTBRITE)
ALL = OWN + PLATFORMS


def own_channel(channel: str, is_complimentary: bool) -> str:
    return COMP if is_complimentary else channel
