from django.apps import AppConfig


class TicketingConfig(AppConfig):
    name = "ticketing"
    verbose_name = "Core"

    def ready(self) -> None:
        from . import health, outbox

        health.register_backlog("outbox", outbox.oldest_due)
