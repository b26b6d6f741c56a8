from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from ticketing import health

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .services.webhooks import webhooks_oldest_due

        health.register_backlog(
            "payment_webhooks",
            webhooks_oldest_due,
            link=lambda: health.admin_link("payments_webhookdelivery"),
        )

        from ticketing import outbox

        from .services import cancel_refunds

        outbox.register(
            cancel_refunds.KIND,
            cancel_refunds.refund_cancelled_handler,
            policy=cancel_refunds.POLICY,
        )

        from ticketing.alerts_checks import register_alert_check

        from .alerting import refunds_unknown_check

        register_alert_check("refunds_unknown", refunds_unknown_check)
