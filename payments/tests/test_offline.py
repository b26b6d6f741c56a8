"""Bank transfer / pay later: the buyer's instructions and long hold, the organiser's
"Mark paid (offline)", and the payment step of an organiser with no provider."""

import datetime as dt
import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bookings.access import booking_page_path
from bookings.availability import compute_session_availability
from bookings.models import Booking, Ticket
from bookings.services import (
    BuyerInput,
    booking_cancel,
    booking_confirm,
    booking_expire_stale,
)
from bookings.tests.helpers import hold
from events.models import Membership, Session
from events.tests.factories import MembershipFactory, SessionFactory, TicketTypeFactory
from notifications.models import Notification
from payments.accounts import providers_offered
from payments.models import Payment, PaymentEvent, Provider, Refund
from payments.services import (
    offline_payment_enable,
    payment_offline_choose,
    payment_offline_mark_paid,
)
from payments.tasks import payments_reconcile_task
from payments.tests.factories import PaymentFactory
from ticketing.models import AuditEntry

pytestmark = pytest.mark.django_db

IBAN = "FR76 3000 6000 0112 3456 7890 189"
# Checkouts here count against the hourly limits of their own address and email,
# not those that other test modules of the same run book with.
BUYER_EMAIL = "transfer.buyer@example.org"
BUYER_IP = "203.0.113.15"


@pytest.fixture
def offline(session):
    return offline_payment_enable(
        organiser_id=session.event.organiser_id,
        account_holder="Mon Concert SAS",
        bank_name="Banque Exemple",
        account_number=IBAN,
        bank_code="AGRIFRPP",
        instructions="Quote the reference, nothing else.",
        payment_days=5,
    )


def _checkout(client, session, ticket_type, quantity=2):
    data = {
        "session": session.pk,
        f"qty_{ticket_type.pk}": quantity,
        "buyer_name": "Ada Lovelace",
        "buyer_email": BUYER_EMAIL,
        "token": "tok-offline",
        "action": "book",
    }
    data.update({f"attendee_name_{i}": f"Guest {i}" for i in range(quantity)})
    response = client.post(
        f"/e/{session.event.slug}/checkout/", data, REMOTE_ADDR=BUYER_IP
    )
    assert response.status_code == 302
    return Booking.objects.get(), response["Location"]


def _mark_paid(client, payment, **extra):
    return client.post(
        reverse("admin:payments_payment_changelist"),
        {"action": "mark_paid_offline", "_selected_action": [payment.pk], **extra},
        follow=True,
    )


def _manager(client, organiser):
    member = MembershipFactory(organiser=organiser, role=Membership.Role.MANAGER)
    client.force_login(member.user)
    return member.user


def test_buyer_choosing_bank_transfer_gets_instructions_and_a_long_hold(
    client, session, ticket_type, offline, django_capture_on_commit_callbacks
):
    booking, page_url = _checkout(client, session, ticket_type)
    page = client.get(page_url).content.decode()
    pay_url = f"/b/{booking.reference}/pay/offline/"
    assert f'action="{pay_url}"' in page
    assert IBAN not in page  # only once chosen

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(pay_url)
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()

    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    hold_left = booking.expires_at - timezone.now()
    assert dt.timedelta(days=5) - dt.timedelta(minutes=1) < hold_left
    assert hold_left <= dt.timedelta(days=5)
    payment = Payment.objects.get(booking=booking)
    assert (payment.provider, payment.provider_reference, payment.status) == (
        Provider.OFFLINE,
        booking.reference,
        Payment.Status.PENDING,
    )
    assert payment.amount_minor == 9000
    assert 'data-testid="offline-instructions"' in page
    assert "90.00 EUR" in page
    assert f'<code data-testid="offline-reference">{booking.reference}</code>' in page
    for detail in (IBAN, "AGRIFRPP", "Mon Concert SAS", "Banque Exemple"):
        assert detail in page
    assert "Quote the reference, nothing else." in page
    deadline = timezone.localtime(booking.expires_at, session.event.tzinfo)
    assert deadline.strftime("%H:%M") in page
    assert 'id="stripe-form"' not in page

    email = next(m for m in mail.outbox if m.to == [BUYER_EMAIL])
    assert booking.reference in email.subject
    assert IBAN in email.body
    assert "90.00 EUR" in email.body
    local = f"{deadline.day} {deadline:%B %Y, %H:%M} {deadline.tzname()}"
    assert local in email.body  # in the event's zone, not the server's
    assert Notification.objects.filter(
        booking=booking, template=Notification.Template.PAYMENT_INSTRUCTIONS
    ).exists()

    # Choosing again (a reload of the form) opens nothing new and mails nothing new.
    sent = len(mail.outbox)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(pay_url)
    assert Payment.objects.filter(booking=booking).count() == 1
    assert len(mail.outbox) == sent


def test_the_hold_never_outlasts_the_session(session, ticket_type, offline):
    Session.objects.filter(pk=session.pk).update(
        starts_at=timezone.now() + dt.timedelta(days=2),
        ends_at=timezone.now() + dt.timedelta(days=2, hours=3),
    )
    session.refresh_from_db()
    booking = hold(session, (ticket_type, 1))
    payment_offline_choose(booking_id=booking.pk)
    booking.refresh_from_db()
    assert booking.expires_at == session.starts_at


def test_admin_mark_paid_confirms_the_booking_with_tickets_and_confirmation(
    client, session, ticket_type, offline, django_capture_on_commit_callbacks
):
    booking = hold(session, (ticket_type, 2))
    payment = payment_offline_choose(booking_id=booking.pk)
    user = _manager(client, session.event.organiser)

    with django_capture_on_commit_callbacks(execute=True):
        response = _mark_paid(client, payment)

    assert response.status_code == 200
    assert "1 booking(s) confirmed" in response.content.decode()
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    session.refresh_from_db()
    assert session.sold_count == 2
    assert Ticket.objects.filter(booking=booking).count() == 2
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED
    assert PaymentEvent.objects.get(payment=payment, action="verified.admin").data == {
        "marked_paid_by": user.get_username()
    }
    assert AuditEntry.objects.get(action="payments.payment.marked_paid").actor == user
    assert Notification.objects.filter(
        booking=booking,
        template=Notification.Template.CONFIRMATION,
        channel=Notification.Channel.EMAIL,
    ).exists()
    assert any(m.attachments for m in mail.outbox if m.to == ["ada@example.org"])

    # Marking it again changes nothing.
    _mark_paid(client, payment)
    session.refresh_from_db()
    assert session.sold_count == 2


def test_a_late_transfer_retakes_seats_that_are_still_free(
    session, ticket_type, offline, django_capture_on_commit_callbacks, admin_user
):
    booking = hold(session, (ticket_type, 1))
    payment = payment_offline_choose(booking_id=booking.pk)
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        booking_expire_stale()  # payments closes the open attempt, as for a card
    payment.refresh_from_db()
    assert payment.status == Payment.Status.CANCELED

    payment_offline_mark_paid(payment_id=payment.pk, actor=admin_user)

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    session.refresh_from_db()
    assert session.sold_count == 1


def test_an_expired_transfer_whose_seats_were_sold_is_flagged_not_oversold(
    session, ticket_type, offline, django_capture_on_commit_callbacks, admin_user
):
    Session.objects.filter(pk=session.pk).update(capacity=1)
    booking = hold(session, (ticket_type, 1))
    payment = payment_offline_choose(booking_id=booking.pk)
    Booking.objects.filter(pk=booking.pk).update(
        expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        booking_expire_stale()
    grace = BuyerInput(name="Grace Hopper", email="grace@example.org")
    other = hold(session, (ticket_type, 1), buyer=grace)
    booking_confirm(booking_id=other.pk)

    payment_offline_mark_paid(payment_id=payment.pk, actor=admin_user)

    booking.refresh_from_db()
    assert (booking.status, booking.needs_attention) == (Booking.Status.EXPIRED, True)
    session.refresh_from_db()
    assert session.sold_count == 1
    assert compute_session_availability(session, [ticket_type]).available == 0
    assert not Ticket.objects.filter(booking=booking).exists()
    payment.refresh_from_db()
    assert payment.status == Payment.Status.SUCCEEDED  # the money did arrive
    assert not Refund.objects.exists()  # it goes back by the organiser's hand
    assert AuditEntry.objects.filter(
        action="bookings.booking.late_payment_sold_out"
    ).exists()


def test_organiser_a_cannot_mark_organiser_b_paid(client, session, ticket_type):
    offline_payment_enable(organiser_id=session.event.organiser_id, account_number=IBAN)
    booking_b = hold(session, (ticket_type, 1))
    payment_b = payment_offline_choose(booking_id=booking_b.pk)
    other_session = SessionFactory()
    _manager(client, other_session.event.organiser)

    response = _mark_paid(client, payment_b)

    assert response.status_code == 200
    payment_b.refresh_from_db()
    booking_b.refresh_from_db()
    assert payment_b.status == Payment.Status.PENDING
    assert booking_b.status == Booking.Status.PENDING
    assert not AuditEntry.objects.filter(action="payments.payment.marked_paid").exists()


def test_staff_cannot_mark_paid_and_card_payments_cannot_be(
    client, session, ticket_type, offline
):
    booking = hold(session, (ticket_type, 1))
    payment = payment_offline_choose(booking_id=booking.pk)
    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.STAFF
    )
    client.force_login(member.user)
    page = client.get(reverse("admin:payments_payment_changelist")).content.decode()
    assert "mark_paid_offline" not in page
    _mark_paid(client, payment)
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING

    card = PaymentFactory(
        organiser=session.event.organiser, booking=hold(session, (ticket_type, 1))
    )
    _manager(client, session.event.organiser)
    response = _mark_paid(client, card)
    assert "Only a bank transfer can be marked paid." in response.content.decode()
    card.refresh_from_db()
    assert card.status == Payment.Status.PENDING


def test_no_provider_says_so_and_the_buyer_can_cancel(client, session, ticket_type):
    booking, page_url = _checkout(client, session, ticket_type)
    page = client.get(page_url).content.decode()
    assert "This organiser has not set up online payment yet" in page
    cancel_url = f"/b/{booking.reference}/cancel/"
    assert f'action="{cancel_url}"' in page

    response = client.post(cancel_url)

    assert response.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED
    session.refresh_from_db()
    assert compute_session_availability(session, [ticket_type]).available == 10
    assert 'data-state="cancelled"' in client.get(response["Location"]).content.decode()


def test_cancel_needs_access_to_the_booking(client, session, ticket_type):
    booking = hold(session, (ticket_type, 1))
    assert client.post(f"/b/{booking.reference}/cancel/").status_code == 404
    booking.refresh_from_db()
    assert booking.status == Booking.Status.PENDING
    with_token = booking_page_path(booking.reference).replace("/?", "/cancel/?")
    client.post(with_token)
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELLED


def test_a_confirmed_booking_is_not_cancelled_by_the_buyer(client, session):
    free = TicketTypeFactory(event=session.event, price_minor=0)
    booking = hold(session, (free, 1))
    client.post(booking_page_path(booking.reference).replace("/?", "/cancel/?"))
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_an_owner_enables_bank_transfer_in_the_admin(client, session, ticket_type):
    owner = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.OWNER
    )
    client.force_login(owner.user)
    form = {
        "organiser": session.event.organiser_id,
        "provider": Provider.OFFLINE,
        "is_enabled": "on",
        "account_holder": "Mon Concert SAS",
        "payment_days": 3,
    }
    add_url = reverse("admin:payments_provideraccount_add")
    refused = client.post(add_url, form)
    assert "needs an account number or written instructions" in (
        refused.content.decode()
    )
    assert providers_offered(session.event.organiser_id) == []

    client.post(add_url, {**form, "account_number": IBAN})

    assert providers_offered(session.event.organiser_id) == [Provider.OFFLINE]
    booking = hold(session, (ticket_type, 1))
    payment_offline_choose(booking_id=booking.pk)
    booking.refresh_from_db()
    assert booking.expires_at > timezone.now() + dt.timedelta(days=2, hours=23)


def test_nobody_asks_for_a_transfer_by_itself(
    session, ticket_type, offline, admin_user, django_capture_on_commit_callbacks
):
    """Reconciliation has nobody to ask about a pending transfer, and cancelling a
    booking paid by transfer leaves the money to the organiser, not to a made-up
    refund."""
    booking = hold(session, (ticket_type, 1))
    waiting = payment_offline_choose(booking_id=booking.pk)
    Payment.objects.filter(pk=waiting.pk).update(
        updated_at=timezone.now() - dt.timedelta(days=1)
    )
    payments_reconcile_task.delay()
    waiting.refresh_from_db()
    assert waiting.status == Payment.Status.PENDING
    assert not waiting.events.filter(action__startswith="verified").exists()

    payment_offline_mark_paid(payment_id=waiting.pk, actor=admin_user)
    with django_capture_on_commit_callbacks(execute=True):
        booking_cancel(booking_id=booking.pk, actor=admin_user)
    assert not Refund.objects.exists()
    assert Booking.objects.get(pk=booking.pk).status == Booking.Status.CANCELLED


def test_an_expired_hold_cannot_be_stretched_back(
    client, session, ticket_type, offline
):
    booking, _url = _checkout(client, session, ticket_type, quantity=1)
    past = timezone.now() - dt.timedelta(minutes=1)
    Booking.objects.filter(pk=booking.pk).update(expires_at=past)

    response = client.post(f"/b/{booking.reference}/pay/offline/")

    page = client.get(response["Location"]).content.decode()
    assert 'data-state="expired"' in page
    assert "Bank transfer is not available for this booking." in page
    booking.refresh_from_db()
    assert booking.expires_at == past
    assert not Payment.objects.exists()


def _csrf(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_the_whole_flow_works_as_plain_html_forms_with_csrf(
    session, ticket_type, offline, django_capture_on_commit_callbacks
):
    """What the smoke test does against `make run`: no JavaScript, real CSRF."""
    buyer = Client(enforce_csrf_checks=True, REMOTE_ADDR=BUYER_IP)
    checkout = f"/e/{session.event.slug}/checkout/"
    page = buyer.get(checkout, {"session": session.pk}).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)
    response = buyer.post(
        checkout,
        {
            "csrfmiddlewaretoken": _csrf(page),
            "session": session.pk,
            f"qty_{ticket_type.pk}": 1,
            "buyer_name": "Ada Lovelace",
            "buyer_email": BUYER_EMAIL,
            "attendee_name_0": "Ada Lovelace",
            "token": token,
            "action": "book",
        },
    )
    booking_page = response["Location"]
    page = buyer.get(booking_page).content.decode()
    pay = re.search(r'<form method="post" action="(/b/[^"]+/pay/offline/)"', page)
    with django_capture_on_commit_callbacks(execute=True):
        response = buyer.post(pay.group(1), {"csrfmiddlewaretoken": _csrf(page)})
    page = buyer.get(response["Location"]).content.decode()
    reference = re.search(r'data-testid="offline-reference">([^<]+)<', page).group(1)

    organiser = Client(enforce_csrf_checks=True)
    member = MembershipFactory(
        organiser=session.event.organiser, role=Membership.Role.OWNER
    )
    organiser.force_login(member.user)
    changelist = reverse("admin:payments_payment_changelist")
    page = organiser.get(changelist, {"q": reference}).content.decode()
    selected = re.findall(r'name="_selected_action" value="(\d+)"', page)
    assert len(selected) == 1
    with django_capture_on_commit_callbacks(execute=True):
        response = organiser.post(
            changelist,
            {
                "csrfmiddlewaretoken": _csrf(page),
                "action": "mark_paid_offline",
                "_selected_action": selected,
            },
        )
    assert response.status_code == 302
    assert Booking.objects.get(reference=reference).status == Booking.Status.CONFIRMED
    page = buyer.get(booking_page).content.decode()
    assert 'data-state="confirmed"' in page
    assert 'data-testid="ticket-code"' in page
