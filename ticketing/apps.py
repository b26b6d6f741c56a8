from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketingConfig(AppConfig):
    name = "ticketing"
    verbose_name = _("Core")

    def ready(self) -> None:
        from . import alerts, db_health, health, outbox
        from .health import admin_link
        from .metrics import outbox_depth

        db_health.connect_signals()

        health.register_backlog(
            "outbox",
            outbox.oldest_due,
            depth=outbox_depth,
            link=lambda: admin_link("ticketing_outboxmessage", status="pending"),
        )
        outbox.register(alerts.EMAIL_KIND, alerts.alert_email_handler)
