from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BackofficeConfig(AppConfig):
    """The organiser's day in admin: dashboard, reports, exports. It reads every app
    below it and writes only through their services."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "backoffice"
    verbose_name = _("Back office")
