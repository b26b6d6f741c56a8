"""A new booking's rows, written in one statement: the hot path of every sale.

The booking, its lines, its attendees and its audit row go to PostgreSQL as one
`WITH ... INSERT` statement while the session lock is held. Four ORM inserts cost four
round trips and four SQL compilations inside the lock, and the time the lock is held
is what caps a hot session's sales per second (figures in bench/README.md). The
statement is plain SQL on purpose; `tests/test_holds.py` reads every row back through
the ORM, so a column that drifts from the models fails there.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

from django.contrib.contenttypes.models import ContentType
from django.db import connection

from ticketing.audit import actor_fields
from ticketing.models import AuditEntry

from ..models import Attendee, Booking, BookingLine
from ..pricing import PriceQuote

_LINE_ROW = (
    "(%s::bigint, %s::int, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s,"
    " %s::bigint, %s::bigint, %s, %s::numeric, %s)"
)
_ATTENDEE_ROW = "(%s::int, %s::bigint, %s, %s)"

_INSERT_SQL = """
WITH new_booking AS (
    INSERT INTO {booking} (
        organiser_id, event_id, session_id, reference, status, channel, quantity,
        currency, subtotal_minor, discount_minor, total_minor, buyer_name,
        buyer_email, buyer_phone, idempotency_key, needs_attention, expires_at,
        created_at, confirmed_at, language, client_key, tax_minor,
        prices_include_tax, invoice_requested, billing_name, billing_address,
        billing_tax_id, discount_code_id, is_complimentary)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, false, %s,
            %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id
), line_values (ticket_type_id, quantity, unit_price_minor, subtotal_minor,
                discount_minor, total_minor, price_rule, tax_minor, tax_rate_id,
                tax_name, tax_percent, tax_code) AS (
    VALUES {line_rows}
), new_lines AS (
    INSERT INTO {line} (booking_id, ticket_type_id, quantity, unit_price_minor,
                        subtotal_minor, discount_minor, total_minor, price_rule,
                        tax_minor, tax_rate_id, tax_name, tax_percent, tax_code)
    SELECT new_booking.id, v.ticket_type_id, v.quantity, v.unit_price_minor,
           v.subtotal_minor, v.discount_minor, v.total_minor, v.price_rule,
           v.tax_minor, v.tax_rate_id, v.tax_name, v.tax_percent, v.tax_code
    FROM new_booking, line_values v
    RETURNING id, ticket_type_id
), attendee_values (position, ticket_type_id, name, email) AS (
    VALUES {attendee_rows}
), new_attendees AS (
    INSERT INTO {attendee} (booking_id, line_id, name, email)
    SELECT new_booking.id, new_lines.id, a.name, a.email
    FROM new_booking, attendee_values a
    JOIN new_lines ON new_lines.ticket_type_id = a.ticket_type_id
    ORDER BY a.position
), new_audit AS (
    INSERT INTO {audit} (organiser_id, actor_id, actor_label, action,
                         content_type_id, object_id, data, created_at)
    SELECT %s, %s, %s, %s, %s, new_booking.id::text, %s::jsonb, %s
    FROM new_booking
)
SELECT id FROM new_booking
"""


def booking_rows_insert(
    *,
    session,
    quote: PriceQuote,
    reference: str,
    status: str,
    channel: str,
    buyer,
    attendees: Sequence,
    idempotency_key: str | None,
    expires_at: dt.datetime | None,
    now: dt.datetime,
    audit_action: str,
    actor,
    language: str,
    client_key: str | None = None,
    billing=None,
    discount_code_id: int | None = None,
    is_complimentary: bool = False,
) -> Booking:
    """Insert a booking with its lines, attendees (filling lines in order) and audit
    row; return the booking as a model instance without reading it back."""
    fields = {
        "organiser_id": session.event.organiser_id,
        "event_id": session.event_id,
        "session_id": session.pk,
        "reference": reference,
        "status": status,
        "channel": channel,
        "quantity": quote.quantity,
        "currency": quote.currency,
        "subtotal_minor": quote.subtotal_minor,
        "discount_minor": quote.discount_minor,
        "total_minor": quote.total_minor,
        "buyer_name": buyer.name.strip(),
        "buyer_email": buyer.email.strip(),
        "buyer_phone": buyer.phone.strip(),
        "idempotency_key": idempotency_key or None,
        "expires_at": expires_at,
        "created_at": now,
        "confirmed_at": now if status == Booking.Status.CONFIRMED else None,
        "language": language,
        "client_key": client_key or None,
        "tax_minor": quote.tax_minor,
        "prices_include_tax": quote.prices_include_tax,
        "invoice_requested": billing is not None,
        "billing_name": billing.name.strip() if billing else "",
        "billing_address": billing.address.strip() if billing else "",
        "billing_tax_id": billing.tax_id.strip() if billing else "",
        "discount_code_id": discount_code_id,
        "is_complimentary": is_complimentary,
    }
    line_params, attendee_params = [], []
    people = iter(attendees)
    position = 0
    for line in quote.lines:
        line_params += [
            line.ticket_type_id,
            line.quantity,
            line.unit_price_minor,
            line.subtotal_minor,
            line.discount_minor,
            line.total_minor,
            line.rule,
            line.tax_minor,
            line.tax_rate_id,
            line.tax_name,
            line.tax_percent,
            line.tax_code,
        ]
        for _ in range(line.quantity):
            person = next(people)
            attendee_params += [
                position,
                line.ticket_type_id,
                person.name.strip(),
                person.email.strip(),
            ]
            position += 1
    actor = actor_fields(actor)
    audit_data = {
        "reference": reference,
        "quantity": quote.quantity,
        "total_minor": quote.total_minor,
        "channel": channel,
    }
    if is_complimentary:
        audit_data["complimentary"] = True
    if quote.code:
        audit_data["discount_code"] = quote.code
        audit_data["discount_minor"] = quote.discount_minor
    sql = _INSERT_SQL.format(
        booking=Booking._meta.db_table,
        line=BookingLine._meta.db_table,
        attendee=Attendee._meta.db_table,
        audit=AuditEntry._meta.db_table,
        line_rows=", ".join([_LINE_ROW] * len(quote.lines)),
        attendee_rows=", ".join([_ATTENDEE_ROW] * position),
    )
    params = [
        *fields.values(),
        *line_params,
        *attendee_params,
        fields["organiser_id"],
        actor["actor"].pk if actor["actor"] else None,
        actor["actor_label"],
        audit_action,
        ContentType.objects.get_for_model(Booking).pk,
        json.dumps(audit_data),
        now,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (booking_id,) = cursor.fetchone()
    booking = Booking(pk=booking_id, **fields)
    booking._state.adding = False
    booking._state.db = connection.alias
    return booking
