"""`POST /checkins/` (scope `checkin`): scan a ticket at the door.

`{"secret": "..."}` (the QR code's content, or the human code printed on the ticket)
-> 200 `{"result": "ok" | "already_used" | "void" | "unknown", "ticket": {...}}`. The
result is in the body, never an HTTP error: a door scanner shows it as it is. A ticket
of another organiser is `unknown` with `ticket: null`, exactly like a made-up secret.
Of simultaneous scans of one ticket exactly one gets `ok` (`admission.checkin`).
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from admission.checkin import ALREADY_USED, OK, CheckInResult, ticket_check_in
from partner_api.parsers import SafeJSONParser

from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from .bookings import api_actor
from .serializers import ErrorSerializer, LocalDateTimeField

EXAMPLE = {
    "result": "already_used",
    "ticket": {
        "code": "7K3Q-XZ2M",
        "status": "USED",
        "booking": "MC26-7K3QXZ",
        "attendee": {"name": "Charles Babbage"},
        "ticket_type": {"id": 4, "name": "Early bird"},
        "session": {"id": 12, "starts_at": "2026-11-22T19:00:00+01:00"},
        "checked_in_at": "2026-11-22T18:41:07+01:00",
        "checked_in_by": "api key door 1 (tk_3f2a9c01b7e4)",
    },
}


class CheckInAttendeeOutput(serializers.Serializer):
    name = serializers.CharField()


class CheckInTicketTypeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CheckInSessionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    starts_at = LocalDateTimeField()


class CheckInTicketOutput(serializers.Serializer):
    """Context: `tz`, and `checked_in_by` for an already used ticket."""

    code = serializers.CharField()
    status = serializers.SerializerMethodField(help_text="VALID, USED or VOID")
    booking = serializers.CharField(source="booking.reference")
    attendee = CheckInAttendeeOutput()
    ticket_type = CheckInTicketTypeOutput()
    session = CheckInSessionOutput()
    checked_in_at = LocalDateTimeField(allow_null=True)
    checked_in_by = serializers.SerializerMethodField()

    def get_status(self, ticket) -> str:
        return ticket.status.upper()

    def get_checked_in_by(self, ticket) -> str | None:
        return self.context.get("checked_in_by")

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.checked_in_at is None:
            data["checked_in_at"] = None
        return data


class CheckInOutput(serializers.Serializer):
    result = serializers.ChoiceField(["ok", "already_used", "void", "unknown"])
    ticket = CheckInTicketOutput(allow_null=True)


def check_in_output(outcome: CheckInResult, actor: str) -> dict:
    ticket = outcome.ticket
    if ticket is None:
        return {"result": outcome.result, "ticket": None}
    used_by = {OK: actor, ALREADY_USED: outcome.used_by or None}.get(outcome.result)
    context = {"tz": ticket.session.event.tzinfo, "checked_in_by": used_by}
    return {
        "result": outcome.result,
        "ticket": CheckInTicketOutput(ticket, context=context).data,
    }


class CheckInCreateApi(APIView):
    """Check a ticket in. `secret` is the QR code's content or the ticket's code."""

    required_scope = "checkin"
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="CheckInInput")
    class InputSerializer(serializers.Serializer):
        secret = serializers.CharField(max_length=200)

    @extend_schema(
        tags=["check-in"],
        operation_id="checkin_create",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=InputSerializer,
        responses={200: CheckInOutput, 400: ErrorSerializer, 409: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Request", value={"secret": "q0Vf...43 characters"}, request_only=True
            ),
            OpenApiExample("Already used", value=EXAMPLE, response_only=True),
        ],
    )
    @idempotent
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = api_actor(request)
        outcome = ticket_check_in(
            token=serializer.validated_data["secret"],
            organiser_ids=[request.user.organiser_id],
            actor=actor,
        )
        return Response(check_in_output(outcome, actor))
