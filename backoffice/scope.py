"""Which organisers a back-office page shows: the user's, or for a superuser every
organiser, narrowed by an `organiser` query parameter."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

from django.conf import settings

from events.models import Organiser
from ticketing.admin_scoping import is_superuser, user_organiser_ids


@dataclass(frozen=True)
class Scope:
    organiser_ids: list[int] | None  # None: every organiser (a superuser, no filter)
    organisers: list[Organiser]  # the choices of the organiser filter
    selected: Organiser | None

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        """Days start at midnight in the organiser's zone (the site's for several)."""
        if self.selected is not None:
            return zoneinfo.ZoneInfo(self.selected.timezone)
        if len(self.organisers) == 1:
            return zoneinfo.ZoneInfo(self.organisers[0].timezone)
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)

    def filter(self, queryset, path: str):
        if self.organiser_ids is None:
            return queryset
        return queryset.filter(**{f"{path}__in": self.organiser_ids})


def scope_for(request) -> Scope:
    if is_superuser(request):
        organisers = list(Organiser.objects.order_by("name"))
    else:
        ids = user_organiser_ids(request)
        organisers = list(Organiser.objects.filter(pk__in=ids).order_by("name"))
    wanted = request.GET.get("organiser", "")
    selected = next((o for o in organisers if str(o.pk) == wanted), None)
    if selected is not None:
        ids = [selected.pk]
    elif is_superuser(request):
        ids = None
    else:
        ids = [o.pk for o in organisers]
    return Scope(organiser_ids=ids, organisers=organisers, selected=selected)
