"""`POST /integrations/{platform}/sync/` (scope `sync`): queue a sync of the key's
organiser's connection to a platform, and `GET /integrations/{platform}/sync/{run}/`
to follow it.

The POST answers 202 at once with the run (`Location` points at it): a new one, or
the one already running for the connection (no second sync is started). 404 when the
organiser has no connection to that platform; 409 when it is disabled or lacks
credentials, or another sync holds it and has no run to show yet.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from integrations.exceptions import SyncError
from integrations.models import Platform, SyncRun
from integrations.selectors import organiser_connection, organiser_sync_run
from integrations.services.sync_jobs import connection_sync_enqueue
from partner_api.endpoints.bookings import api_actor
from partner_api.endpoints.serializers import ErrorSerializer
from partner_api.errors import ApiError

EXAMPLE = {
    "id": 812,
    "status": "partial",
    "trigger": "api",
    "started_at": "2026-11-22T10:00:00Z",
    "finished_at": "2026-11-22T10:00:02Z",
    "synced": 11,
    "failed": 1,
    "orders_imported": 4,
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
    session = serializers.IntegerField(required=False)
    code = serializers.CharField()
    message = serializers.CharField()


class SyncOutput(serializers.Serializer):
    id = serializers.IntegerField(help_text="The run; GET it at the `Location`.")
    status = serializers.ChoiceField(
        choices=SyncRun.Status.choices,
        help_text="`running` until the run ends; then success, partial or failed.",
    )
    trigger = serializers.ChoiceField(choices=SyncRun.Trigger.choices)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    synced = serializers.IntegerField(
        help_text="Listings up to date so far (fetched now, or fetched within the "
        "cache TTL)."
    )
    failed = serializers.IntegerField(
        help_text="Listings whose fetch failed; they keep their last good figures."
    )
    orders_imported = serializers.IntegerField()
    errors = SyncErrorOutput(many=True)
    duration_ms = serializers.IntegerField(help_text="0 while running.")


def sync_output(run: SyncRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "trigger": run.trigger,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "synced": run.listings_synced + run.listings_cached,
        "failed": run.listings_failed,
        "orders_imported": run.orders_imported,
        "errors": run.errors,
        "duration_ms": run.duration_ms or 0,
    }


_PLATFORM = OpenApiParameter(
    "platform", str, OpenApiParameter.PATH, enum=list(Platform.values)
)


class IntegrationSyncApi(APIView):
    """Queue a sync of one platform for the key's organiser (or join the one
    running)."""

    required_scope = "sync"

    @extend_schema(
        tags=["integrations"],
        operation_id="integration_sync",
        request=None,
        parameters=[
            _PLATFORM,
            OpenApiParameter(
                "Location",
                str,
                OpenApiParameter.HEADER,
                response=[202],
                description="The run's URL: GET it to follow the sync.",
            ),
        ],
        responses={202: SyncOutput, 404: ErrorSerializer, 409: ErrorSerializer},
        examples=[OpenApiExample("Finished", value=EXAMPLE, response_only=True)],
    )
    def post(self, request, platform: str):
        connection = organiser_connection(request.user.organiser_id, platform)
        if connection is None:
            raise ApiError(
                code="not_found",
                message="No connection to this platform.",
                status_code=404,
            )
        actor = api_actor(request)
        try:
            run, _created = connection_sync_enqueue(
                connection_id=connection.pk,
                trigger=SyncRun.Trigger.API,
                actor=actor,
                actor_label=actor,
            )
        except SyncError as error:
            raise ApiError(
                code=error.code, message=error.message, status_code=409
            ) from error
        run.refresh_from_db()  # tasks run in-process (eager) may have finished it
        location = reverse("api:integration-sync-run", args=[platform, run.pk])
        return Response(
            SyncOutput(sync_output(run)).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": request.build_absolute_uri(location)},
        )


class IntegrationSyncRunApi(APIView):
    """One sync run of the key's organiser: its status, counts and errors so far."""

    required_scope = "sync"

    @extend_schema(
        tags=["integrations"],
        operation_id="integration_sync_run",
        parameters=[_PLATFORM],
        responses={200: SyncOutput, 404: ErrorSerializer},
        examples=[OpenApiExample("Finished", value=EXAMPLE, response_only=True)],
    )
    def get(self, request, platform: str, run_id: int):
        try:
            run = organiser_sync_run(request.user.organiser_id, platform, run_id)
        except SyncRun.DoesNotExist:
            raise ApiError(
                code="not_found", message="No such sync run.", status_code=404
            ) from None
        return Response(SyncOutput(sync_output(run)).data)
