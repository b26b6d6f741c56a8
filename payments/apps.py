from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from ticketing import health

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .services.webhooks import webhooks_oldest_due

        health.register_backlog("payment_webhooks", webhooks_oldest_due)

