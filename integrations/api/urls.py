from django.urls import path

from .views import IntegrationSyncApi, IntegrationSyncRunApi

urlpatterns = [
    path(
        "integrations/<str:platform>/sync/",
        IntegrationSyncApi.as_view(),
        name="integration-sync",
    ),
    path(
        "integrations/<str:platform>/sync/<int:run_id>/",
        IntegrationSyncRunApi.as_view(),
        name="integration-sync-run",
    ),
]
