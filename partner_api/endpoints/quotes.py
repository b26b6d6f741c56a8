"""`POST /quotes/`: price a basket without holding anything.

The same pricing as the shop and bookings (`bookings.pricing.price_basket`). An unknown
session or ticket type, or another organiser's, is a 400 field error ("does not
exist"), as for bookings: ids in a body are input, not resources. Availability is not
checked here; `GET /sessions/{id}/availability/` says what is left. A session whose
sales window is over (at its `sales_close_at`, by default its start) no longer
quotes: 409 `sales_closed`, as bookings answer. A session not on sale yet, or paused,
still quotes.
"""

from __future__ import annotations

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.discounts import discount_code_check_uses, discount_code_get
from bookings.exceptions import BasketInvalid, DiscountCodeUsedUp, SalesClosed
from bookings.pricing import price_basket
from events import selectors as event_selectors
from partner_api.errors import ApiError
from partner_api.parsers import SafeJSONParser

from .serializers import (
    BasketInput,
    ErrorSerializer,
    LineTaxFields,
    LocalDateTimeField,
    MoneyField,
)

QUOTE_EXAMPLE = {
    "session": 12,
    "subtotal": {"amount": 9000, "currency": "EUR"},
    "discount": {"amount": 900, "currency": "EUR"},
    "total": {"amount": 8100, "currency": "EUR"},
    "net": {"amount": 6750, "currency": "EUR"},
    "tax": {"amount": 1350, "currency": "EUR"},
    "prices_include_tax": True,
    "lines": [
        {
            "ticket_type": 4,
            "quantity": 2,
            "unit_price": {"amount": 4500, "currency": "EUR"},
            "discount": {"amount": 900, "currency": "EUR"},
            "total": {"amount": 8100, "currency": "EUR"},
            "rule": "group",
            "net": {"amount": 6750, "currency": "EUR"},
            "tax": {"amount": 1350, "currency": "EUR"},
            "tax_rate": {"name": "TVA", "percent": "20.000", "code": "OUTPUT"},
        }
    ],
    "code": "",
    "priced_at": "2026-11-22T10:00:00+01:00",
}


class QuoteLineOutput(LineTaxFields):
    ticket_type = serializers.IntegerField(source="ticket_type_id")
    quantity = serializers.IntegerField()
    unit_price = MoneyField("unit_price_minor")
    discount = MoneyField("discount_minor")
    total = MoneyField("total_minor")
    rule = serializers.CharField(help_text="regular, early_bird or group")


class QuoteOutput(serializers.Serializer):
    """Context: `currency`, `tz` and `session_id`."""

    session = serializers.SerializerMethodField()
    subtotal = MoneyField("subtotal_minor")
    discount = MoneyField("discount_minor")
    total = MoneyField("total_minor", help_text="What the buyer pays, tax included")
    net = MoneyField("net_minor", help_text="The total before tax")
    tax = MoneyField("tax_minor")
    prices_include_tax = serializers.BooleanField()
    lines = QuoteLineOutput(many=True)
    code = serializers.CharField(help_text="The discount code applied, or empty")
    priced_at = LocalDateTimeField()

    def get_session(self, quote) -> int:
        return self.context["session_id"]


class QuoteCreateApi(APIView):
    """Price a basket at the current prices (early bird, group discounts).

    409 `sales_closed` once the session's sales window is over (at its
    `sales_close_at`, by default its start); more tickets than the event's maximum
    per order is a 400 `lines` field error."""

    required_scope = "read"
    parser_classes = [SafeJSONParser]

    @extend_schema(
        tags=["bookings"],
        operation_id="quote_create",
        request=BasketInput,
        responses={200: QuoteOutput, 400: ErrorSerializer, 409: ErrorSerializer},
        examples=[
            OpenApiExample(
                "Request",
                value={"session": 12, "lines": [{"ticket_type": 4, "quantity": 2}]},
                request_only=True,
            ),
            OpenApiExample("Quote", value=QUOTE_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request):
        serializer = BasketInput(
            data=request.data, context={"organiser_id": request.user.organiser_id}
        )
        serializer.is_valid(raise_exception=True)
        session = serializer.validated_data["session"]
        now = timezone.now()
        reason = event_selectors.session_sale_closed_reason(session, now)
        if reason == event_selectors.SALES_CLOSED:
            raise ApiError(
                code=SalesClosed.code,
                message=str(SalesClosed.default_message),
                status_code=409,
            )
        try:
            code = discount_code_get(
                organiser_id=request.user.organiser_id,
                text=serializer.validated_data.get("code", ""),
            )
            quote = price_basket(
                event=session.event,
                lines=serializer.validated_data["lines"],
                at=now,
                code=code,
                session=session,
            )
            if code is not None:  # a hint only: the booking decides under the lock
                discount_code_check_uses(code, email="", now=now)
        except BasketInvalid as error:
            raise ApiError(
                code="validation_error", message=error.message, fields=error.fields
            ) from error
        except DiscountCodeUsedUp as error:
            raise ApiError(
                code=error.code, message=error.message, status_code=409
            ) from error
        context = {
            "currency": quote.currency,
            "tz": session.event.tzinfo,
            "session_id": session.pk,
        }
        return Response(QuoteOutput(quote, context=context).data)
