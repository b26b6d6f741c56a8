from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self) -> None:
        from bookings.models import Notification
        from bookings.notifications.services import notification_context_register

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .services import offline_instructions

        notification_context_register(
            Notification.Template.PAYMENT_INSTRUCTIONS,
            lambda booking: {"offline": offline_instructions(booking)},
        )
        notification_context_register(
            Notification.Template.PAYMENT_FAILED, _failure_context
        )


def _failure_context(booking) -> dict:
    from .failures import payment_failure_reason
    from .models import Payment

    failed = booking.payments.filter(status=Payment.Status.FAILED).first()
    return {"failure_reason": payment_failure_reason(failed)}
