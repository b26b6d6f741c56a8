from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        from ticketing import health

        from . import signals  # noqa: F401
        from .health import connections_check
        from .services.webhooks import platform_webhooks_oldest_due

        health.register_backlog(
            "platform_webhooks",
            platform_webhooks_oldest_due,
            link=lambda: health.admin_link("integrations_platformwebhook"),
        )
        health.register_check("connections", connections_check)
