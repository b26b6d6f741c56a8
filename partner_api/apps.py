from django.apps import AppConfig


class PartnerApiConfig(AppConfig):
    name = "partner_api"
    verbose_name = "Partner API"

    def ready(self) -> None:
        from ticketing import health

        from .webhooks import receivers  # noqa: F401  (connects the receivers)
        from .webhooks.services import deliveries_oldest_due

        health.register_backlog("partner_webhook_deliveries", deliveries_oldest_due)
