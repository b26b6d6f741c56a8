"""Provider callbacks for notifications (delivery status)."""

from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("webhooks/twilio/status/", views.twilio_status, name="twilio-status"),
]
