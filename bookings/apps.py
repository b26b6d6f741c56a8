from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        from ticketing import health

        from .notifications import receivers  # noqa: F401  (connects the receivers)
        from .partner_webhooks import receivers as _webhooks  # noqa: F401
        from .partner_webhooks.services import deliveries_oldest_due

        health.register_backlog("partner_webhook_deliveries", deliveries_oldest_due)
