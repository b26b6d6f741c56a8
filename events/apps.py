from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EventsConfig(AppConfig):
    name = "events"
    verbose_name = _("Events")

    def ready(self) -> None:
        from ticketing.alerts import register_recipients

        register_recipients(alert_recipients)


def alert_recipients(organiser_id: int) -> list[str]:
    """An organiser's alerts go to its owners and managers."""
    from .models import Membership

    return list(
        Membership.objects.filter(
            organiser_id=organiser_id,
            role__in=[Membership.Role.OWNER, Membership.Role.MANAGER],
            user__is_active=True,
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
