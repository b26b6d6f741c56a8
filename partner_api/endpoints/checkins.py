"""`POST /checkins/` (scope `checkin`): scan a ticket at the door.

`{"secret": "...", "session": 12}` (the QR code's content, or the human code printed
on the ticket; optionally the session, or `sessions`, being checked in) -> 200
`{"result": "ok" | "already_used" | "void" | "wrong_session" | "unknown", "ticket":
{...}}`. The result is in the body, never an HTTP error: a door scanner shows it as it
is. A ticket of another organiser is `unknown` with `ticket: null`, exactly like a
made-up secret; a ticket of one's own for another session is `wrong_session`, with
its session named (`ticket.session.label`), and is not checked in. Of simultaneous
scans of one ticket exactly one gets `ok` (`admission.checkin`).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from admission.checkin import ALREADY_USED, OK, CheckInResult, ticket_check_in
from admission.door import session_label, sessions_by_id
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
        "session": {
            "id": 12,
            "starts_at": "2026-11-22T19:00:00+01:00",
            "city": "Lyon",
            "label": "Lyon, 22 Nov 19:00 CET",
        },
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
    city = serializers.CharField(source="venue.city")
    label = serializers.SerializerMethodField(
        help_text='The city and local start, as door staff say it: "Lyon, 18 Jan '
        "20:00 CET\" (in the request's language)"
    )

    def get_label(self, session) -> str:
        return session_label(session)


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
    result = serializers.ChoiceField(
        ["ok", "already_used", "void", "wrong_session", "unknown"],
        help_text="wrong_session: the ticket is for another session than the ones "
        "given (named in ticket.session); it was not checked in",
    )
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
        session = serializers.IntegerField(
            required=False,
            min_value=1,
            help_text="The session being checked in: a ticket of another session "
            "answers wrong_session. Omitted (with sessions): any session.",
        )
        sessions = serializers.ListField(
            child=serializers.IntegerField(min_value=1),
            required=False,
            allow_empty=False,
            max_length=50,
            help_text="The sessions being checked in, for a door that admits "
            "several; combined with session if both are given.",
        )

        def validate(self, data):
            wanted = set(data.get("sessions", []))
            if "session" in data:
                wanted.add(data["session"])
            if not wanted:
                data["session_ids"] = None
                return data
            organiser_id = self.context["organiser_id"]
            found = {s.pk for s in sessions_by_id(wanted, [organiser_id])}
            # Another organiser's session reads exactly like one that does not exist.
            if missing := sorted(wanted - found):
                field = "sessions" if "sessions" in data else "session"
                raise serializers.ValidationError(
                    {
                        field: [
                            _("Unknown session: %(ids)s.")
                            % {"ids": ", ".join(map(str, missing))}
                        ]
                    }
                )
            data["session_ids"] = sorted(found)
            return data

    @extend_schema(
        tags=["check-in"],
        operation_id="checkin_create",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=InputSerializer,
        responses={200: CheckInOutput, 400: ErrorSerializer, 409: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Request",
                value={"secret": "q0Vf...43 characters", "session": 12},
                request_only=True,
            ),
            OpenApiExample("Already used", value=EXAMPLE, response_only=True),
            OpenApiExample(
                "Another session's ticket",
                value={**EXAMPLE, "result": "wrong_session"},
                response_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request):
        organiser_id = request.user.organiser_id
        serializer = self.InputSerializer(
            data=request.data, context={"organiser_id": organiser_id}
        )
        serializer.is_valid(raise_exception=True)
        actor = api_actor(request)
        outcome = ticket_check_in(
            token=serializer.validated_data["secret"],
            organiser_ids=[organiser_id],
            actor=actor,
            session_ids=serializer.validated_data["session_ids"],
        )
        return Response(check_in_output(outcome, actor))
