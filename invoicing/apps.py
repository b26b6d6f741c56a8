from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvoicingConfig(AppConfig):
    name = "invoicing"
    verbose_name = _("Invoicing")

    def ready(self) -> None:
        from bookings.models import Notification
        from bookings.notifications.services import notification_attachment_register

        from . import receivers  # noqa: F401  (connects the receivers)
        from .services.sales import booking_invoice_attachment

        notification_attachment_register(
            Notification.Template.CONFIRMATION, booking_invoice_attachment
        )
