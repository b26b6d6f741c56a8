from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import alerts, db_health, health, outbox
        from .metrics import outbox_depth

        db_health.connect_signals()

        health.register_backlog("outbox", outbox.oldest_due, depth=outbox_depth)
        outbox.register(alerts.EMAIL_KIND, alerts.alert_email_handler)
