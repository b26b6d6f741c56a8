from django.urls import path

from . import catalogue

app_name = "api"

urlpatterns = [
    path("events/", catalogue.EventListApi.as_view(), name="event-list"),
    path(
        "events/<slug:slug>/", catalogue.EventDetailApi.as_view(), name="event-detail"
    ),
]
