from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from .models import Event, Session


def published_events() -> QuerySet[Event]:
    return Event.objects.filter(status=Event.Status.PUBLISHED).select_related("organiser")


def published_event_list() -> QuerySet[Event]:
    upcoming = Session.objects.filter(starts_at__gte=timezone.now()).select_related("venue")
    return published_events().prefetch_related(
        Prefetch("sessions", queryset=upcoming, to_attr="upcoming_sessions"))
