"""Provider callbacks for notifications (delivery status)."""

from django.urls import path

from . import email_webhooks, views

app_name = "notifications"

urlpatterns = [
    path("webhooks/twilio/status/", views.twilio_status, name="twilio-status"),
    # Only the sending ESP's delivery-status webhook, never all of anymail's URLs.
    path(
        "anymail/<slug:esp>/tracking/",
        email_webhooks.email_tracking_webhook,
        name="email-tracking",
    ),
]
