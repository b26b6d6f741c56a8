"""Admin pages on the clock of what they show.

Django's admin shows and reads datetimes in the current zone, UTC on this server.
`LocalTimeAdminMixin` activates a zone for a whole change page (`admin_zone(obj)`:
a booking's session, say) and for a changelist (the organiser's zone when the user
belongs to one organiser), and renders the page inside it, so read-only times and
filters read local. Editable datetimes that depend on the row (a session's venue)
use `ticketing.forms.LocalisedModelForm` instead, which works per form.
"""

from __future__ import annotations

import datetime as dt

from django.contrib.admin.utils import unquote
from django.utils import timezone
from django.utils.translation import gettext as _

from ticketing.admin_scoping import (
    is_superuser,
    organiser_model,
    user_organiser_ids,
)
from ticketing.lib.localtime import zone_label


class LocalTimeAdminMixin:
    def admin_zone(self, request, obj) -> dt.tzinfo | None:
        """The clock of `obj`'s change page (None: the organiser's)."""
        return None

    def organiser_zone(self, request) -> dt.tzinfo | None:
        if is_superuser(request):
            return None
        organiser_ids = user_organiser_ids(request)
        if len(organiser_ids) != 1:
            return None
        organiser = organiser_model().objects.filter(pk=organiser_ids[0]).first()
        return organiser.tzinfo if organiser else None

    def _render_in(self, zone, view, *args, **kwargs):
        if zone is None:
            return view(*args, **kwargs)
        with timezone.override(zone):
            response = view(*args, **kwargs)
            if hasattr(response, "render") and not response.is_rendered:
                response.render()  # a TemplateResponse renders late, after the with
        return response

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        zone = self.admin_zone(request, obj) if obj is not None else None
        zone = zone or self.organiser_zone(request)
        if zone is not None and obj is not None:
            extra_context = {
                **(extra_context or {}),
                "subtitle": _("%(object)s · times in %(zone)s")
                % {"object": obj, "zone": zone_label(zone)},
            }
        return self._render_in(
            zone,
            super().changeform_view,
            request,
            object_id,
            form_url,
            extra_context,
        )

    def changelist_view(self, request, extra_context=None):
        return self._render_in(
            self.organiser_zone(request),
            super().changelist_view,
            request,
            extra_context,
        )
