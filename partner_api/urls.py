from django.urls import path

from .endpoints import (
    availability,
    bookings,
    catalogue,
    checkins,
    quotes,
    sync,
    tickets,
)

app_name = "api"

urlpatterns = [
    path("events/", catalogue.EventListApi.as_view(), name="event-list"),
    path(
        "events/<slug:slug>/", catalogue.EventDetailApi.as_view(), name="event-detail"
    ),
    path(
        "sessions/<int:pk>/availability/",
        availability.SessionAvailabilityApi.as_view(),
        name="session-availability",
    ),
    path("quotes/", quotes.QuoteCreateApi.as_view(), name="quote-create"),
    path("bookings/", bookings.BookingCreateApi.as_view(), name="booking-create"),
    path(
        "bookings/<str:reference>/",
        bookings.BookingDetailApi.as_view(),
        name="booking-detail",
    ),
    path(
        "bookings/<str:reference>/cancel/",
        bookings.BookingCancelApi.as_view(),
        name="booking-cancel",
    ),
    path(
        "bookings/<str:reference>/tickets/",
        tickets.BookingTicketsApi.as_view(),
        name="booking-tickets",
    ),
    path("checkins/", checkins.CheckInCreateApi.as_view(), name="checkin-create"),
    path(
        "integrations/<str:platform>/sync/",
        sync.IntegrationSyncApi.as_view(),
        name="integration-sync",
    ),
    path(
        "integrations/<str:platform>/sync/<int:run_id>/",
        sync.IntegrationSyncRunApi.as_view(),
        name="integration-sync-run",
    ),
]
