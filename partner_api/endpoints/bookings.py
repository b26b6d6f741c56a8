"""Bookings: `POST /bookings/`, `GET /bookings/{ref}/`, `POST /bookings/{ref}/cancel/`.

Domain errors become the API's error shape: BasketInvalid 400 `validation_error` (its
field paths; more tickets than the event's `max_tickets_per_order` is a `lines`
error), NotOnSale 409 `not_on_sale` (`sales_closed` once the session's sales window is
over: at its `sales_close_at`, by default its start), HoldLimitReached 409
`hold_limit` (the buyer email already holds its share of the session unpaid),
SoldOut 409 `sold_out`, DiscountCodeUsedUp 409 `code_used_up` (an unknown or
inapplicable `code` is a 400 field error on `code`), InventoryBusy 503 `busy` with
Retry-After, InvalidTransition on cancel 409 `not_cancellable`.

A `sold_out` error says what is left twice: for people in `fields`
(`{"session": ["3 left"], "lines.0.quantity": ["1 left"]}`, only for what is short)
and for programs in `available`
(`{"session": 3, "ticket_types": [{"id": 4, "available": 1}]}`, every line's type).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings import services
from bookings.exceptions import (
    BasketInvalid,
    DiscountCodeUsedUp,
    HoldLimitReached,
    InvalidTransition,
    InventoryBusy,
    NotOnSale,
    SoldOut,
)
from bookings.models import Booking
from partner_api.errors import ApiError
from partner_api.parsers import SafeJSONParser
from partner_api.validation import validated_data

from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from .serializers import BookingInput, BookingOutput, ErrorSerializer, booking_output

BOOKING_EXAMPLE = {
    "reference": "MC26-7K3QXZ",
    "status": "PENDING",
    "expires_at": "2026-11-22T10:15:00+01:00",
    "subtotal": {"amount": 9000, "currency": "EUR"},
    "discount": {"amount": 0, "currency": "EUR"},
    "total": {"amount": 9000, "currency": "EUR"},
    "lines": [
        {
            "ticket_type": 4,
            "quantity": 2,
            "unit_price": {"amount": 4500, "currency": "EUR"},
            "discount": {"amount": 0, "currency": "EUR"},
            "total": {"amount": 9000, "currency": "EUR"},
        }
    ],
    "payment_url": "https://tickets.example.org/b/MC26-7K3QXZ/?t=...",
    "session": 12,
    "event": "masterclass",
    "created_at": "2026-11-22T10:00:00+01:00",
}
REQUEST_EXAMPLE = {
    "session": 12,
    "lines": [{"ticket_type": 4, "quantity": 2}],
    "buyer": {
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "phone": "+33612345678",
    },
    "attendees": [
        {"name": "Ada Lovelace", "email": "ada@example.org"},
        {"name": "Charles Babbage"},
    ],
}
SOLD_OUT_EXAMPLE = {
    "error": {
        "code": "sold_out",
        "message": "Not enough seats left for this order.",
        "fields": {"session": ["1 left"], "lines.0.quantity": ["1 left"]},
        "available": {"session": 1, "ticket_types": [{"id": 4, "available": 1}]},
    }
}

HOLD_LIMIT_EXAMPLE = {
    "error": {
        "code": "hold_limit",
        "message": "You already hold as many seats for this date as one buyer may. "
        "Pay for or let go of the seats you hold first.",
        "fields": {},
        "seats_left": 2,
    }
}
SALES_CLOSED_EXAMPLE = {
    "error": {
        "code": "sales_closed",
        "message": "Sales for this session have closed.",
        "fields": {},
    }
}


def organiser_booking(request, reference: str) -> Booking:
    return get_object_or_404(
        Booking.objects.select_related("event").prefetch_related("lines"),
        organiser_id=request.user.organiser_id,
        reference=reference.upper(),
    )


def api_actor(request) -> str:
    """How a key appears in audit rows and check-ins."""
    key = request.user.key
    return f"api key {key.name} (tk_{key.prefix})"


def _sold_out(error: SoldOut, lines) -> Response:
    fields: dict[str, list[str]] = {}
    quantity = sum(line.quantity for line in lines)
    if error.session_available < quantity:
        fields["session"] = [_("%(n)d left") % {"n": error.session_available}]
    available = []
    for index, line in enumerate(lines):
        left = error.ticket_types_available.get(
            line.ticket_type_id, error.session_available
        )
        available.append({"id": line.ticket_type_id, "available": left})
        if left < line.quantity:
            fields[f"lines.{index}.quantity"] = [_("%(n)d left") % {"n": left}]
    # Returned rather than raised: the shared handler knows no `available` key.
    body = {
        "code": "sold_out",
        "message": error.message,
        "fields": fields,
        "available": {"session": error.session_available, "ticket_types": available},
    }
    return Response({"error": body}, status=status.HTTP_409_CONFLICT)


def _busy(error: InventoryBusy) -> ApiError:
    return ApiError(
        code="busy",
        message=error.message,
        status_code=503,
        retry_after=error.retry_after_seconds,
    )


class BookingCreateApi(APIView):
    """Hold seats and create a booking (PENDING until paid at `payment_url`; a free
    booking comes back CONFIRMED).

    409 `sales_closed`: the session's sales window is over (it closes at its
    `sales_close_at`, by default its start). 409 `hold_limit`: the buyer email already
    holds, unpaid, its share of the session (the event's maximum tickets per order or
    a tenth of the capacity, whichever is more); `seats_left` says how many more it may
    hold. `buyer.phone` must be a valid number in international form (400 otherwise)."""

    required_scope = "write"
    parser_classes = [SafeJSONParser]

    @extend_schema(
        tags=["bookings"],
        operation_id="booking_create",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=BookingInput,
        responses={
            201: BookingOutput,
            400: ErrorSerializer,
            409: ErrorSerializer,
            503: ErrorSerializer,
        },
        examples=[
            OpenApiExample("Request", value=REQUEST_EXAMPLE, request_only=True),
            OpenApiExample(
                "Created", value=BOOKING_EXAMPLE, response_only=True, status_codes=[201]
            ),
            OpenApiExample(
                "Sold out",
                value=SOLD_OUT_EXAMPLE,
                response_only=True,
                status_codes=[409],
            ),
            OpenApiExample(
                "Hold limit",
                value=HOLD_LIMIT_EXAMPLE,
                response_only=True,
                status_codes=[409],
            ),
            OpenApiExample(
                "Sales closed",
                value=SALES_CLOSED_EXAMPLE,
                response_only=True,
                status_codes=[409],
            ),
        ],
    )
    @idempotent
    def post(self, request):
        data = validated_data(BookingInput, request.data)
        record = request.idempotency_record
        lines = [
            services.LineInput(line["ticket_type"], line["quantity"])
            for line in data["lines"]
        ]
        try:
            booking = services.booking_create(
                session_id=data["session"],
                lines=lines,
                buyer=services.BuyerInput(**data["buyer"]),
                attendees=[
                    services.AttendeeInput(**attendee) for attendee in data["attendees"]
                ],
                channel=Booking.Channel.API,
                idempotency_key=(
                    f"api:{request.user.key.pk}:{record.key}" if record else None
                ),
                actor=api_actor(request),
                organiser_id=request.user.organiser_id,
                discount_code=data.get("code", ""),
            )
        except BasketInvalid as error:
            raise ApiError(
                code="validation_error", message=error.message, fields=error.fields
            ) from error
        except (NotOnSale, DiscountCodeUsedUp) as error:
            raise ApiError(
                code=error.code, message=error.message, status_code=409
            ) from error
        except HoldLimitReached as error:
            body = {
                "code": error.code,
                "message": error.message,
                "fields": {},
                "seats_left": error.seats_left,
            }
            return Response({"error": body}, status=status.HTTP_409_CONFLICT)
        except SoldOut as error:
            return _sold_out(error, lines)
        except InventoryBusy as error:
            raise _busy(error) from error
        if record is not None and booking.created_at < record.created_at:
            # The service's own key outlives the 24 h replay window: this key made a
            # booking before, so it cannot make another one.
            raise ApiError(
                code="idempotency_conflict",
                message="This Idempotency-Key was already used for another booking.",
                status_code=409,
            )
        if not hasattr(booking, "written_lines"):  # made by an earlier request
            booking = organiser_booking(request, booking.reference)
        return Response(booking_output(booking), status=status.HTTP_201_CREATED)


class BookingDetailApi(APIView):
    """One booking of the key's organiser, by reference."""

    required_scope = "read"

    @extend_schema(
        tags=["bookings"],
        operation_id="booking_detail",
        responses={200: BookingOutput, 404: ErrorSerializer},
        examples=[OpenApiExample("Booking", value=BOOKING_EXAMPLE)],
    )
    def get(self, request, reference: str):
        return Response(booking_output(organiser_booking(request, reference)))


class BookingCancelApi(APIView):
    """Cancel a pending or confirmed booking: its seats return; refunds follow the
    organiser's policy. An already cancelled, expired or refunded booking is 409
    `not_cancellable`."""

    required_scope = "write"
    parser_classes = [SafeJSONParser]

    @extend_schema_serializer(component_name="BookingCancelInput")
    class InputSerializer(serializers.Serializer):
        reason = serializers.CharField(
            max_length=500, required=False, allow_blank=True, default=""
        )

    @extend_schema(
        tags=["bookings"],
        operation_id="booking_cancel",
        parameters=[IDEMPOTENCY_PARAMETER],
        request=InputSerializer,
        responses={
            200: BookingOutput,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
            503: ErrorSerializer,
        },
    )
    @idempotent
    def post(self, request, reference: str):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        booking = organiser_booking(request, reference)
        try:
            services.booking_cancel(
                booking_id=booking.pk,
                actor=api_actor(request),
                reason=serializer.validated_data["reason"],
            )
        except InvalidTransition as error:
            raise ApiError(
                code="not_cancellable", message=error.message, status_code=409
            ) from error
        except InventoryBusy as error:
            raise _busy(error) from error
        return Response(booking_output(organiser_booking(request, reference)))
