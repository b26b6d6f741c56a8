from django.urls import path

from . import downloads, views

app_name = "admission"

urlpatterns = [
    path(
        "b/<str:reference>/tickets.pdf",
        downloads.booking_tickets_pdf,
        name="booking-tickets-pdf",
    ),
    path(
        "b/<str:reference>/tickets/<str:code>.png",
        downloads.ticket_qr,
        name="ticket-qr",
    ),
    path("checkin/", views.checkin, name="checkin"),
    path("checkin/undo/", views.checkin_undo, name="checkin-undo"),
    path("checkin/sessions/", views.checkin_sessions, name="checkin-sessions"),
    path("checkin/count/", views.checkin_count, name="checkin-count"),
]
