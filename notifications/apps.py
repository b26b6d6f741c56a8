from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"

    def ready(self) -> None:
        from ticketing import outbox

        from . import (
            receivers,  # noqa: F401  (connects the signal receivers)
            services,
        )

        outbox.register(
            services.SEND_KIND,
            services.notification_send_handler,
            policy=services.SEND_POLICY,
            lease=services.SEND_LEASE,
        )
