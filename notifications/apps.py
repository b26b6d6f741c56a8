from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = _("Notifications")

    def ready(self) -> None:
        from ticketing import outbox

        from . import receivers  # noqa: F401  (connects the signal receivers)
        from .services import sending
        from .services.queueing import SEND_KIND

        outbox.register(
            SEND_KIND,
            sending.notification_send_handler,
            policy=sending.SEND_POLICY,
            lease=sending.SEND_LEASE,
        )
