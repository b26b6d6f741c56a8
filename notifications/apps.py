from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

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
