from django.urls import path

from . import views

app_name = "integrations"

urlpatterns = [
    path(
        "webhooks/eventbrite/<str:token>/",
        views.eventbrite_webhook,
        name="eventbrite-webhook",
    ),
    path(
        "webhooks/humanitix/<str:token>/",
        views.humanitix_webhook,
        name="humanitix-webhook",
    ),
]
