from django.urls import path

from .views import IntegrationSyncApi

urlpatterns = [
    path(
        "integrations/<str:platform>/sync/",
        IntegrationSyncApi.as_view(),
        name="integration-sync",
    ),
]
