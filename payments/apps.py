from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from bookings.models import Notification
        from bookings.notifications.services import notification_context_register
        from ticketing import health

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .services import offline_instructions
        from .services.webhooks import webhooks_oldest_due

        notification_context_register(
            Notification.Template.PAYMENT_INSTRUCTIONS,
            lambda booking: {"offline": offline_instructions(booking)},
        )
        notification_context_register(
            Notification.Template.PAYMENT_FAILED, _failure_context
        )
        health.register_backlog("payment_webhooks", webhooks_oldest_due)


def _failure_context(booking) -> dict:
    from .failures import payment_failure_reason
    from .models import Payment

    failed = booking.payments.filter(status=Payment.Status.FAILED).first()
    return {"failure_reason": payment_failure_reason(failed)}
