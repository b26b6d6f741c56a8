from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class XeroConfig(AppConfig):
    name = "integrations.xero"
    label = "xero"
    verbose_name = _("Xero")

    def ready(self) -> None:
        from ticketing import health, outbox

        from . import receivers  # noqa: F401  (connects the receivers)
        from .services.pull import webhook_events_oldest_due
        from .services.push import PUSH_KIND, PUSH_LEASE, PUSH_POLICY, invoice_push

        health.register_backlog("xero_webhooks", webhook_events_oldest_due)

        outbox.register(PUSH_KIND, invoice_push, policy=PUSH_POLICY, lease=PUSH_LEASE)
