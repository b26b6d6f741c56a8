"""The demo's sales, on top of `events.demo`: bookings on the shop and through the
partner API, sales recorded from Billetweb and Humanitix as a finished sync run would
have left them, a sold-out session and a past one with people checked in.

Everything goes through the services that real sales use (the locked sale, the
confirmation, the sync's writer, the check-in), so the demo's counters, tickets and
audit trail are what production would hold. Idempotent: each booking carries an
idempotency key and is made only when that key is new; each external order is keyed
by its platform id; the sync run is written once per connection.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from admission.checkin import ticket_check_in
from bookings.models import Booking
from bookings.services.holds import AttendeeInput, BuyerInput, LineInput, booking_create
from bookings.services.lifecycle import booking_confirm
from events.demo import Catalogue
from events.models import Organiser, Session
from payments.services import offline_payment_enable

from .models import Connection, Listing, Platform, SyncRun
from .platforms.base import ExternalOrder, ExternalTicket, Places
from .services.apply import (
    ListingFetched,
    listing_apply_success,
    session_external_refresh,
)

BUYERS = [
    ("Camille Martin", "camille.martin@example.com"),
    ("Léa Bernard", "lea.bernard@example.com"),
    ("Hugo Dubois", "hugo.dubois@example.com"),
    ("Chloé Laurent", "chloe.laurent@example.com"),
    ("Louis Moreau", "louis.moreau@example.com"),
    ("Inès Girard", "ines.girard@example.com"),
    ("Adaeze Okafor", "adaeze.okafor@example.com"),
    ("Tunde Bakare", "tunde.bakare@example.com"),
    ("Ngozi Eze", "ngozi.eze@example.com"),
    ("Emeka Obi", "emeka.obi@example.com"),
]


@dataclass(frozen=True)
class SalesSummary:
    bookings: int
    external_orders: int
    checked_in: int


def _ticket_type(session: Session, name: str) -> int:
    return session.event.ticket_types.get(name=name).pk


def _book(
    session: Session,
    key: str,
    buyer_index: int,
    lines: list[tuple[str, int]],
    *,
    channel: str = Booking.Channel.WEB,
    confirm: bool = True,
) -> Booking:
    """One booking, made once: a re-run finds it by its idempotency key."""
    organiser_id = session.event.organiser_id
    existing = Booking.objects.filter(
        organiser_id=organiser_id, idempotency_key=f"demo-{key}"
    ).first()
    if existing is not None:
        return existing
    name, email = BUYERS[buyer_index % len(BUYERS)]
    quantity = sum(count for _, count in lines)
    booking = booking_create(
        session_id=session.pk,
        lines=[LineInput(_ticket_type(session, tt), count) for tt, count in lines],
        buyer=BuyerInput(name=name, email=email),
        attendees=[
            AttendeeInput(name=f"{name} ({n + 1})" if n else name, email=email)
            for n in range(quantity)
        ],
        channel=channel,
        idempotency_key=f"demo-{key}",
        language="fr" if session.event.currency == "EUR" else "en",
    )
    if confirm and booking.status == Booking.Status.PENDING:
        # As if paid: the confirmation a provider's webhook (or the organiser's
        # "mark paid") would make.
        booking = booking_confirm(booking_id=booking.pk)
    return booking


def _sessions(organiser: Organiser) -> dict[str, Session]:
    sessions = Session.objects.filter(event__organiser=organiser).select_related(
        "venue", "event"
    )
    return {session.venue.city: session for session in sessions}


def _paris_sales(catalogue: Catalogue) -> list[Booking]:
    sessions = _sessions(catalogue.paris)
    made = []
    for n in range(8):
        made.append(_book(sessions["Paris"], f"paris-web-{n}", n,
                          [("Regular", 1 + n % 3)]))
    for n in range(4):
        made.append(_book(sessions["Paris"], f"paris-api-{n}", n + 3,
                          [("Early bird", 2)], channel=Booking.Channel.API))
    made.append(_book(sessions["Paris"], "paris-group", 4, [("Group (5 or more)", 6)]))
    for n in range(5):
        made.append(_book(sessions["Lyon"], f"lyon-web-{n}", n, [("Regular", 2)]))
        made.append(_book(sessions["Lyon"], f"lyon-free-{n}", n + 5,
                          [("Open rehearsal", 1)]))
    made.append(_book(sessions["Bordeaux"], "bordeaux-hold", 2, [("Regular", 2)],
                      confirm=False))
    for n in range(4):  # 12 seats: the Marseille hall is full
        made.append(_book(catalogue.sold_out, f"marseille-{n}", n, [("Regular", 3)]))
    return made


def _lagos_sales(catalogue: Catalogue) -> list[Booking]:
    session = _sessions(catalogue.lagos)["Lagos"]
    made = []
    for n in range(6):
        made.append(_book(session, f"lagos-web-{n}", n + 6,
                          [("General admission", 1 + n % 4)]))
    for n in range(3):
        made.append(_book(session, f"lagos-api-{n}", n + 6, [("VIP table", 2)],
                          channel=Booking.Channel.API))
    return made


def _past_session_with_check_ins(catalogue: Catalogue) -> tuple[list[Booking], int]:
    """Sold while upcoming, then moved to ten days ago; half its tickets scanned."""
    past = catalogue.past
    starts_at = past.starts_at
    upcoming = timezone.now() + dt.timedelta(days=10)
    Session.objects.filter(pk=past.pk).update(
        starts_at=upcoming, ends_at=upcoming + dt.timedelta(hours=4)
    )
    made = [_book(past, f"nantes-{n}", n, [("Regular", 2)]) for n in range(5)]
    before = starts_at - dt.timedelta(days=20)
    Session.objects.filter(pk=past.pk).update(
        starts_at=before, ends_at=before + dt.timedelta(hours=4)
    )
    checked_in = 0
    door = catalogue.paris.memberships.get(user__username="paris-door").user
    for booking in made[:3]:
        for ticket in booking.tickets.all():
            if ticket.status == ticket.Status.VALID:
                ticket_check_in(token=ticket.code, organiser_ids=[catalogue.paris.pk],
                                actor=door)
            checked_in += 1
    return made, checked_in


def _external_sales(organiser: Organiser, platform: str, session: Session,
                    sold: int, total: int | None, orders: int) -> int:
    """What a successful sync of one listing leaves behind, written by the sync's
    own writer. The connection is off: it has no credentials to call the platform
    with, and its figures stay as recorded (shown as such in admin)."""
    connection, _ = Connection.objects.get_or_create(
        organiser=organiser,
        platform=platform,
        defaults={"name": f"{Platform(platform).label} (demo)", "is_enabled": False,
                  "account_id": "demo"},
    )
    listing, _ = Listing.objects.get_or_create(
        connection=connection,
        session=session,
        defaults={"external_event_id": f"demo-{session.pk}"},
    )
    now = timezone.now()
    # The orders' tickets add up to the listing's figure, so reports built from the
    # orders agree with the dashboard built from the listing.
    sizes = [sold // orders + (n < sold % orders) for n in range(orders)]
    fetched = [
        ExternalOrder(
            external_id=f"{platform}-demo-{n}",
            tickets=tuple(
                ExternalTicket(external_id=f"{platform}-demo-{n}-{t}", is_active=True)
                for t in range(sizes[n])
            ),
            buyer_name=BUYERS[n % len(BUYERS)][0],
            buyer_email=BUYERS[n % len(BUYERS)][1],
            currency=session.event.currency,
            placed_at=now - dt.timedelta(days=orders - n),
        )
        for n in range(orders)
    ]
    imported, _ = listing_apply_success(
        listing,
        ListingFetched(places=Places(total=total, sold=sold), orders=fetched,
                       started_at=now),
    )
    session_external_refresh(session.pk)
    if not SyncRun.objects.filter(connection=connection).exists():
        SyncRun.objects.create(
            connection=connection,
            platform=platform,
            trigger=SyncRun.Trigger.MANUAL,
            status=SyncRun.Status.SUCCESS,
            started_at=now - dt.timedelta(seconds=2),
            finished_at=now,
            listings_synced=1,
            orders_imported=imported,
            duration_ms=2000,
        )
    Connection.objects.filter(pk=connection.pk).update(
        last_sync_at=now, last_success_at=now
    )
    return len(fetched)


def _bank_transfer(catalogue: Catalogue) -> None:
    """Both demo organisers take bank transfers: the one way to pay in a demo that
    has no provider keys."""
    offline_payment_enable(
        organiser_id=catalogue.paris.pk,
        account_holder="Paris Masterclass SAS",
        account_number="FR76 3000 6000 0112 3456 7890 189",
        bank_name="Banque de démonstration",
        bank_code="AGRIFRPPXXX",
        payment_days=5,
    )
    offline_payment_enable(
        organiser_id=catalogue.lagos.pk,
        account_holder="Lagos Live Ltd",
        account_number="0123456789",
        bank_name="Demo Bank Nigeria",
        bank_code="058",
        payment_days=3,
    )


def seed_sales(catalogue: Catalogue) -> SalesSummary:
    _bank_transfer(catalogue)
    bookings = _paris_sales(catalogue) + _lagos_sales(catalogue)
    past, checked_in = _past_session_with_check_ins(catalogue)
    paris_sessions = _sessions(catalogue.paris)
    external = _external_sales(
        catalogue.paris, Platform.BILLETWEB, paris_sessions["Paris"], 14, 120, 5
    )
    external += _external_sales(
        catalogue.lagos, Platform.HUMANITIX, _sessions(catalogue.lagos)["Lagos"],
        9, None, 3,
    )
    return SalesSummary(len(bookings) + len(past), external, checked_in)
