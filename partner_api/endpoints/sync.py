"""`POST /integrations/{platform}/sync/` (scope `sync`): sync the key's organiser's
connection to a platform now, and answer with what happened.

200 `{"synced": n, "failed": n, "errors": [...], "duration_ms": n}` even when some
listings failed (the run's outcome is in the body, as with a partial sync in the
admin); 404 when the organiser has no connection to that platform; 409 when a sync of
it is already running or it is disabled or lacks credentials.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.exceptions import SyncError
from integrations.models import Connection, Platform, SyncRun
from integrations.services.sync import connection_sync
from partner_api.endpoints.bookings import api_actor
from partner_api.endpoints.serializers import ErrorSerializer
from partner_api.errors import ApiError

EXAMPLE = {
    "synced": 11,
    "failed": 1,
    "errors": [
        {
            "listing": 31,
            "session": 12,
            "code": "ExternalUnavailable",
            "message": "billetweb answered 503 at /api/event/1234/dates",
        }
    ],
    "duration_ms": 2140,
}


class SyncErrorOutput(serializers.Serializer):
    listing = serializers.IntegerField(required=False)
    session = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()


class SyncOutput(serializers.Serializer):
    synced = serializers.IntegerField(
        help_text="Listings up to date after the run (fetched now, or fetched "
        "within the cache TTL)."
    )
    failed = serializers.IntegerField(
        help_text="Listings whose fetch failed; they keep their last good figures."
    )
    errors = SyncErrorOutput(many=True)
    duration_ms = serializers.IntegerField()


def sync_output(run: SyncRun) -> dict:
    return {
        "synced": run.listings_synced + run.listings_cached,
        "failed": run.listings_failed,
        "errors": run.errors,
        "duration_ms": run.duration_ms or 0,
    }


class IntegrationSyncApi(APIView):
    """Run a sync of one platform now, for the key's organiser."""

    required_scope = "sync"

    @extend_schema(
        tags=["integrations"],
        operation_id="integration_sync",
        request=None,
        parameters=[
            OpenApiParameter(
                "platform", str, OpenApiParameter.PATH, enum=list(Platform.values)
            )
        ],
        responses={
            200: SyncOutput,
            404: ErrorSerializer,
            409: ErrorSerializer,
        },
        examples=[OpenApiExample("Partial", value=EXAMPLE, response_only=True)],
    )
    def post(self, request, platform: str):
        connection = Connection.objects.filter(
            organiser_id=request.user.organiser_id, platform=platform
        ).first()
        if connection is None:
            raise ApiError(
                code="not_found",
                message="No connection to this platform.",
                status_code=404,
            )
        try:
            run = connection_sync(
                connection_id=connection.pk,
                trigger=SyncRun.Trigger.API,
                actor=api_actor(request),
            )
        except SyncError as error:
            raise ApiError(
                code=error.code, message=error.message, status_code=409
            ) from error
        return Response(sync_output(run))
