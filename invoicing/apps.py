from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("Invoicing")

    def ready(self) -> None:
        from ticketing import outbox

        from . import receivers  # noqa: F401  (connects the receivers)
        from .services import sending

        for kind, handler in (
            (sending.SEND_KIND, sending.invoice_send_handler),
            (sending.REMINDER_KIND, sending.invoice_reminder_handler),
        ):
            outbox.register(
                kind, handler, policy=sending.SEND_POLICY, lease=sending.SEND_LEASE
            )
