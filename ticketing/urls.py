from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.views import SpectacularAPIView

from partner_api.docs import ApiDocsView
from ticketing import login
from ticketing.health import healthz, healthz_full, metrics_view

admin.site.site_header = _("Ticketing back office")
admin.site.site_title = _("Ticketing")

urlpatterns = [
    # Before the admin's own URLs, which would answer them with a 404.
    path("admin/otp/verify/", login.otp_verify, name="otp-verify"),
    path("admin/otp/setup/", login.otp_setup, name="otp-setup"),
    path("admin/reports/", include("backoffice.urls")),
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("healthz/full", healthz_full, name="healthz-full"),
    path("metrics", metrics_view, name="metrics"),
    # The schema and its docs are public; every endpoint they describe needs a key.
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[]),
        name="api-schema",
    ),
    path(
        "api/docs/",
        ApiDocsView.as_view(
            url_name="api-schema", authentication_classes=[], permission_classes=[]
        ),
        name="api-docs",
    ),
    path("api/v1/", include("partner_api.urls")),
    path("api/v1/", include("partner_api.invoice_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # Shop pages first: /b/lookup/ must win over /b/<reference>/.
    path("", include("bookings.urls")),
    path("", include("admission.urls")),
    path("", include("payments.urls")),
    path("", include("integrations.urls")),
    path("", include("integrations.xero.urls")),
    path("", include("notifications.urls")),
]
