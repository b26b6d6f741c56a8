from django.apps import AppConfig


class BookingsConfig(AppConfig):
    name = "bookings"

    def ready(self) -> None:
        from .notifications import receivers  # noqa: F401  (connects the receivers)
        from .partner_webhooks import receivers as _webhooks  # noqa: F401
