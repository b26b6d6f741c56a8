from django.shortcuts import get_object_or_404, render

from events import selectors as event_selectors

from . import selectors


def event_list(request):
    return render(request, "events/event_list.html",
                  {"events": event_selectors.published_event_list()})


def event_detail(request, slug: str):
    event = get_object_or_404(event_selectors.published_events(), slug=slug)
    return render(request, "events/event_detail.html",
                  {"event": event, "availability": selectors.event_availability(event)})
