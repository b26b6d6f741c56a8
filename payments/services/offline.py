"""Bank transfer / pay later: the organiser's settings, the buyer's choice, and the
organiser marking the transfer received."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.exceptions import InvalidTransition
from bookings.models import Booking
from bookings.services import booking_hold_extend
from ticketing.audit import audit_log

from ..accounts import offline_account
from ..exceptions import PaymentNotPossible, ProviderNotConfigured
from ..models import Payment, PaymentEvent, Provider, ProviderAccount
from ..providers.base import PaymentState, ProviderPayment
from .settle import payment_record_state
from .start import payment_start

logger = logging.getLogger(__name__)

_DETAILS = (
    "bank_name",
    "account_holder",
    "account_number",
    "bank_code",
    "instructions",
)


def offline_payment_enable(
    *,
    organiser_id: int,
    account_holder: str = "",
    account_number: str = "",
    bank_name: str = "",
    bank_code: str = "",
    instructions: str = "",
    payment_days: int = 7,
    actor=None,
) -> ProviderAccount:
    """Offer bank transfer to this organiser's buyers, with these details (the seed
    and the admin's form both end here). Running it again updates the details."""
    details = {
        "account_holder": account_holder,
        "account_number": account_number,
        "bank_name": bank_name,
        "bank_code": bank_code,
        "instructions": instructions,
    }
    if not (account_number or instructions):
        raise ValueError("Give an account number or free-text instructions.")
    with transaction.atomic():
        account, created = ProviderAccount.objects.update_or_create(
            organiser_id=organiser_id,
            provider=Provider.OFFLINE,
            defaults={"is_enabled": True, "payment_days": payment_days, **details},
        )
        audit_log(
            action="payments.offline.enabled",
            obj=account,
            organiser_id=organiser_id,
            actor=actor,
            data={"created": created, "payment_days": payment_days},
        )
    return account


def offline_instructions(booking: Booking) -> dict:
    """What the buyer is told to do: the organiser's current bank details (an edit
    reaches buyers already waiting), amount, reference and deadline."""
    account = ProviderAccount.objects.filter(
        organiser_id=booking.organiser_id, provider=Provider.OFFLINE
    ).first()
    details = {name: getattr(account, name, "") for name in _DETAILS}
    return {
        **details,
        "amount": booking.total,
        "reference": booking.reference,
        "expires_at": booking.expires_at,
    }


def payment_offline_choose(*, booking_id: int) -> Payment:
    """The buyer pays by bank transfer: the hold is extended to the organiser's number
    of days (never past the session's start), a pending offline payment is opened
    under the booking's reference, and the instructions are emailed once. Choosing
    again changes nothing. Raises ProviderNotConfigured, PaymentNotPossible, or
    InventoryBusy from the hold's locks."""
    booking = Booking.objects.select_related("session").get(pk=booking_id)
    account = offline_account(booking.organiser_id)
    if account is None:
        raise ProviderNotConfigured()
    if booking.total_minor == 0:
        raise PaymentNotPossible(_("This booking is free: there is nothing to pay."))
    until = min(
        timezone.now() + dt.timedelta(days=account.payment_days),
        booking.session.starts_at,
    )
    try:
        booking_hold_extend(
            booking_id=booking.pk,
            until=until,
            actor="buyer",
            reason="bank transfer",
            notice="payment_instructions",  # a template of `notifications`
        )
    except InvalidTransition as error:
        raise PaymentNotPossible(error.message) from error
    return payment_start(
        booking_id=booking.pk, provider=Provider.OFFLINE, return_url=""
    )


def payment_offline_mark_paid(*, payment_id: int, actor) -> Payment:
    """The organiser received the transfer. Settles the payment through the same path
    as a verified card payment (`payment_record_state`): the booking is confirmed
    under the selling locks, re-taking its seats if the hold expired meanwhile, or
    flagged when they are gone; tickets and the confirmation follow. An attempt
    closed by the hold's expiry is reopened first: money may arrive late.

    Idempotent: marking a succeeded payment again only retries a confirmation that
    did not happen (a lock timeout). Raises PaymentNotPossible for another provider's
    payment or a failed one.
    """
    by = getattr(actor, "get_username", lambda: str(actor or "system"))()
    with transaction.atomic():
        payment = Payment.objects.select_for_update(of=("self",)).get(pk=payment_id)
        if payment.provider != Provider.OFFLINE:
            raise PaymentNotPossible(_("Only a bank transfer can be marked paid."))
        booking = Booking.objects.get(pk=payment.booking_id)
        if payment.status == Payment.Status.SUCCEEDED:
            if booking.status == Booking.Status.CONFIRMED or booking.needs_attention:
                return payment
        elif booking.status == Booking.Status.CONFIRMED:
            # Paid some other way meanwhile (by card): a transfer too would be
            # a second payment, for the organiser to return rather than record.
            raise PaymentNotPossible(_("This booking is already confirmed."))
        elif payment.status == Payment.Status.CANCELED:
            payment.status = Payment.Status.PENDING
            payment.save(update_fields=["status", "updated_at"])
            PaymentEvent.objects.create(
                payment=payment, action="reopened.marked_paid", data={"by": by}
            )
        elif payment.status != Payment.Status.PENDING:
            raise PaymentNotPossible(
                _("A %(status)s payment cannot be marked paid.")
                % {"status": payment.get_status_display().lower()}
            )
        audit_log(
            action="payments.payment.marked_paid",
            obj=payment,
            organiser_id=payment.organiser_id,
            actor=actor,
            data={
                "booking": payment.provider_reference,
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
            },
        )
    state = ProviderPayment(
        provider_reference=payment.provider_reference,
        status=PaymentState.SUCCEEDED,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        raw={"marked_paid_by": by},
    )
    return payment_record_state(payment_id=payment.pk, state=state, source="admin")
