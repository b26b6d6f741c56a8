"""Tickets per second: QR codes and the booking PDF, for bookings of 1, 10, 100 tickets.

    .venv/bin/python bench/tickets.py [--sizes 1,10,100] [--seconds 10]

For each size it books free tickets (`booking_create` confirms them and issues the
ticket rows), then times `booking_document_get_or_render` on fresh bookings, the
whole path a worker or a first download takes: read the booking and its tickets,
draw one QR PNG per ticket, render the template, WeasyPrint, write the file to local
storage (a temporary MEDIA_ROOT) and save the row. Each size gets at least --seconds
of work and 3 bookings. It also times the parts (QR, template, WeasyPrint) and the
ticket rows written inside the confirming transaction (`tickets_issue_rows`, rolled
back), which is what issuing adds to the time a sale holds the session lock.

Baseline in the same run: WeasyPrint rendering a blank one-page PDF (`<p></p>`), the
floor of any PDF page, timed just before each size so that both see the same load
(pgbench, the baseline of the other benches, measures the database, which this path
hardly uses). The ratio is tickets/s to blank pages/s. CPU time per booking (this
process only) is printed too: other work on the machine moves it less than wall time.

Database and cache as bench/holds.py (BENCH_DATABASE_URL, Redis db 1). Tasks go to an
in-memory broker and are never run: the after-commit render would otherwise race the
timed one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import holds as hold_bench  # noqa: E402  (the same database and fixtures)

# The issue's targets (issue 24): tickets/s over blank pages/s, by booking size.
TARGETS = {1: 0.33, 10: 0.5}


def _timed(fn, *, seconds: float, minimum: int, cpu: list | None = None) -> list[float]:
    """Wall times of fn; with `cpu`, this process's CPU time of each call too (on a
    loaded machine the steadier figure)."""
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < minimum or time.perf_counter() < deadline:
        began, began_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - began)
        if cpu is not None:
            cpu.append(time.process_time() - began_cpu)
    return times


def _book(session_id: int, ticket_type_id: int, size: int) -> int:
    from bookings.services import AttendeeInput, BuyerInput, LineInput, booking_create

    booking = booking_create(
        session_id=session_id,
        lines=[LineInput(ticket_type_id, size)],
        buyer=BuyerInput(name="Bench Buyer", email="buyer@example.org"),
        attendees=[AttendeeInput(name=f"Guest {n}") for n in range(size)],
    )
    return booking.pk


def _parts(booking_id: int, seconds: float) -> dict:
    from admission.pdf import html_pdf, tickets_pdf_html, tickets_pdf_render
    from admission.qr import qr_png
    from admission.services import booking_tickets
    from bookings.models import Booking

    booking = Booking.objects.select_related(
        "event", "session__venue", "organiser"
    ).get(pk=booking_id)
    tickets = booking_tickets(booking_id)
    qr = _timed(lambda: qr_png(tickets[0].secret), seconds=seconds / 4, minimum=20)
    html = tickets_pdf_html(booking, tickets)
    # The template with its QR codes, as the render makes them.
    template = _timed(
        lambda: tickets_pdf_html(booking, tickets), seconds=seconds / 4, minimum=3
    )
    weasy = _timed(lambda: html_pdf(html), seconds=seconds / 4, minimum=3)
    size = len(tickets_pdf_render(booking, tickets))
    qr_ms = statistics.median(qr) * 1000
    return {
        "qr_ms": qr_ms,
        "template_ms": statistics.median(template) * 1000 - len(tickets) * qr_ms,
        "weasyprint_ms": statistics.median(weasy) * 1000,
        "pdf_kb": size / 1024,
    }


def _issue_rows_ms(booking_id: int, seconds: float) -> float:
    from django.db import transaction

    from bookings.models import Booking, Ticket
    from bookings.tickets.rows import tickets_issue_rows

    booking = Booking.objects.get(pk=booking_id)

    def issue() -> None:
        with transaction.atomic():
            Ticket.objects.filter(booking_id=booking_id).delete()
            began = time.perf_counter()
            tickets_issue_rows(booking)
            timings.append(time.perf_counter() - began)
            transaction.set_rollback(True)

    timings: list[float] = []
    _timed(issue, seconds=seconds, minimum=5)
    return statistics.median(timings) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,100")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    goals = []

    media = tempfile.TemporaryDirectory(prefix="bench-tickets-")
    os.environ["MEDIA_ROOT"] = media.name
    os.environ["CELERY_BROKER_URL"] = "memory://localhost/"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0"
    hold_bench._ensure_database()
    hold_bench._django_setup()
    from django.core.management import call_command
    from django.db import connection
    from weasyprint import HTML

    from admission.models import BookingDocument
    from admission.pdf import html_pdf
    from admission.services import booking_document_get_or_render
    from events.models import TicketType

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        # Other benches fill these tables faster than autovacuum re-analyses them; on
        # stale statistics the tickets query scans every attendee (5 ms, not 0.1).
        cursor.execute(
            "ANALYZE bookings_booking, bookings_bookingline, bookings_attendee, "
            "bookings_ticket"
        )
    (session_id,), paid_type_id = hold_bench._fixtures(1, 10**9)
    paid = TicketType.objects.get(pk=paid_type_id)
    free = TicketType.objects.create(
        event_id=paid.event_id, name="Free seat", price_minor=0, max_per_order=1000
    )

    booking_document_get_or_render(_book(session_id, free.pk, 1))  # fonts, imports

    for size in sizes:
        blank_cpu: list[float] = []
        blank = _timed(
            lambda: HTML(string="<p></p>").write_pdf(),
            seconds=args.seconds / 4,
            minimum=10,
            cpu=blank_cpu,
        )
        blank_per_s = 1 / statistics.median(blank)
        blank_cpu_ms = statistics.median(blank_cpu) * 1000
        # The same blank page with the font configuration kept, as the tickets now
        # render: the floor of a page in a worker that has rendered one before.
        blank_kept = _timed(
            lambda: html_pdf("<p></p>"), seconds=args.seconds / 4, minimum=10
        )
        kept_per_s = 1 / statistics.median(blank_kept)
        times, cpu, booked = [], [], []
        deadline = time.perf_counter() + args.seconds
        while len(times) < 3 or time.perf_counter() < deadline:
            booked.append(_book(session_id, free.pk, size))  # not timed
            began, began_cpu = time.perf_counter(), time.process_time()
            booking_document_get_or_render(booked[-1])
            times.append(time.perf_counter() - began)
            cpu.append(time.process_time() - began_cpu)
        assert BookingDocument.objects.filter(booking_id__in=booked).count() == len(
            booked
        )
        median = statistics.median(times)
        row = {
            "runs": len(times),
            "ms": median * 1000,
            "cpu_ms": statistics.median(cpu) * 1000,
            "tickets_per_s": size / median,
            "issue_ms": _issue_rows_ms(booked[0], args.seconds / 4),
        } | _parts(booked[0], args.seconds)
        print(
            f"{size:>3} tickets: {row['ms']:7.1f} ms per booking (CPU "
            f"{row['cpu_ms']:.1f} ms, median of {row['runs']}), "
            f"{row['tickets_per_s']:5.1f} tickets/s; baseline {blank_per_s:.1f} blank "
            f"pages/s, ratio {row['tickets_per_s'] / blank_per_s:.2f}\n"
            f"    parts: QR {row['qr_ms']:.1f} ms each, template "
            f"{row['template_ms']:.1f} ms, WeasyPrint {row['weasyprint_ms']:.1f} ms; "
            f"PDF {row['pdf_kb']:.0f} KB; rows in the confirming transaction "
            f"{row['issue_ms']:.2f} ms\n"
            f"    blank page with its fonts kept: {kept_per_s:.1f}/s, ratio "
            f"{row['tickets_per_s'] / kept_per_s:.2f}\n"
            f"    by CPU: blank page {blank_cpu_ms:.1f} ms, a ticket "
            f"{row['cpu_ms'] / size:.1f} ms, ratio "
            f"{size * blank_cpu_ms / row['cpu_ms']:.2f}"
        )
        goals.append(
            harness.goal(
                f"tickets, {size}-ticket bookings / blank WeasyPrint pages",
                row["tickets_per_s"],
                blank_per_s,
                TARGETS.get(size),
                unit="tickets/s",
                ms_per_booking=row["ms"],
                cpu_ms_per_booking=row["cpu_ms"],
                ratio_by_cpu=size * blank_cpu_ms / row["cpu_ms"],
                ratio_to_blank_with_fonts_kept=row["tickets_per_s"] / kept_per_s,
                parts={k: row[k] for k in ("qr_ms", "template_ms", "weasyprint_ms")},
            )
        )
    media.cleanup()
    harness.record("tickets", {"goals": goals})
    return 0


if __name__ == "__main__":
    sys.exit(main())
