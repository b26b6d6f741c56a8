from django.urls import path

from . import checkin_views, checkout_views, lookup, views
from .tickets import views as ticket_views

app_name = "shop"

urlpatterns = [
    path("", views.event_list, name="event-list"),
    path("e/<slug:slug>/", views.event_detail, name="event-detail"),
    path("e/<slug:slug>/checkout/", checkout_views.checkout, name="checkout"),
    path("b/lookup/", lookup.booking_lookup, name="booking-lookup"),
    path(
        "b/<str:reference>/tickets.pdf",
        ticket_views.booking_tickets_pdf,
        name="booking-tickets-pdf",
    ),
    path(
        "b/<str:reference>/tickets/<str:code>.png",
        ticket_views.ticket_qr,
        name="ticket-qr",
    ),
    path("checkin/", checkin_views.checkin, name="checkin"),
    path("checkin/undo/", checkin_views.checkin_undo, name="checkin-undo"),
]
