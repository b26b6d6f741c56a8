from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StripeCatalogConfig(AppConfig):
    name = "integrations.stripe_catalog"
    label = "stripe_catalog"
    verbose_name = _("Stripe catalogue")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ticketing import outbox
        from ticketing.lib.retry import RetryPolicy

        from . import receivers  # noqa: F401
        from .push import handle
        from .services import KIND, PUSH_DELAY

        # 429 and 5xx: seconds apart at first (a rate-limit storm passes quickly),
        # Retry-After honoured; a rejected push (other 4xx) is dead at once. An
        # object changed while it was being pushed is pushed again PUSH_DELAY later.
        outbox.register(
            KIND,
            handle,
            policy=RetryPolicy(base=5, cap=900),
            min_interval=PUSH_DELAY,
        )
