import dataclasses

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PartnerApiConfig(AppConfig):
    name = "partner_api"
    verbose_name = _("Partner API")

    def ready(self) -> None:
        from ticketing import health, outbox

        from .webhooks import receivers  # noqa: F401  (connects the receivers)
        from .webhooks import services as webhooks

        health.register_backlog(
            "partner_webhook_deliveries",
            webhooks.deliveries_oldest_due,
            link=lambda: health.admin_link("partner_api_partnerwebhookdelivery"),
        )
        outbox.register(
            webhooks.DELIVERY_KIND,
            webhooks.delivery_send_handler,
            # The delivery counts its own attempts and gives up first; the
            # outbox's limit is only a net under a row that keeps being pending.
            policy=dataclasses.replace(
                webhooks.RETRY_POLICY, max_attempts=webhooks.MAX_ATTEMPTS + 2
            ),
            lease=webhooks.OUTBOX_LEASE,
        )
