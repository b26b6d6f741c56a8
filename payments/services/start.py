"""Opening a payment for a held booking, and closing the open ones of expired holds."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils.translation import gettext as _

from bookings.models import Booking

from ..accounts import connect_destination, provider_for, provider_for_payment
from ..exceptions import PaymentNotPossible
from ..fees import application_fee_minor
from ..models import Payment, PaymentEvent
from ..providers.base import (
    DestinationCharge,
    PaymentRequest,
    PaymentState,
    ProviderError,
)
from .settle import payment_settle

logger = logging.getLogger(__name__)


def payment_start(*, booking_id: int, provider: str, return_url: str) -> Payment:
    """Open (or reuse) a payment of the booking's total with `provider`.

    Reloading the payment page calls this again: the open attempt of the same booking
    is handed to the provider for reuse (Stripe updates the PaymentIntent's amount if
    the total changed), and the provider call carries a key derived from the booking,
    so two reloads at once still make one PaymentIntent. Raises PaymentNotPossible,
    ProviderNotConfigured or ProviderError.
    """
    booking = Booking.objects.select_related("event", "organiser").get(pk=booking_id)
    if not booking.is_holding:
        raise PaymentNotPossible(_("This booking is not waiting for payment."))
    if booking.total_minor == 0:
        raise PaymentNotPossible(_("This booking is free: there is nothing to pay."))
    client = provider_for(booking.organiser_id, provider)
    destination = _destination(booking, provider)
    attempts = Payment.objects.filter(booking=booking, provider=provider)
    open_payment = attempts.filter(status=Payment.Status.PENDING).first()
    rerouted = None
    if open_payment is not None and open_payment.destination_account != (
        destination.account if destination else ""
    ):
        # Opened before the organiser's Connect account could take charges (or
        # since it lost that): its money would go elsewhere, so it is not reused.
        rerouted, open_payment = open_payment, None
    attempt_number = attempts.count() + (0 if open_payment else 1)
    idempotency_key = (
        f"payment:{booking.reference}:{provider}:{attempt_number}:"
        f"{booking.total_minor}:{booking.currency}"
    )
    if destination:
        idempotency_key += f":{destination.account}:{destination.application_fee_minor}"
    request = PaymentRequest(
        booking_reference=booking.reference,
        attempt_reference=f"{booking.reference}-{attempt_number}",
        amount_minor=booking.total_minor,
        currency=booking.currency,
        buyer_email=booking.buyer_email,
        description=f"{booking.event.title} · {booking.reference}",
        metadata={
            "booking": booking.reference,
            "organiser": booking.organiser.slug,
            "event": booking.event.slug,
        },
        return_url=return_url,
        idempotency_key=idempotency_key,
        destination=destination,
    )
    started = client.start_payment(
        request,
        existing_reference=open_payment.provider_reference if open_payment else "",
    )
    with transaction.atomic():
        payment, created = Payment.objects.get_or_create(
            provider=provider,
            provider_reference=started.provider_reference,
            defaults={
                "booking": booking,
                "organiser_id": booking.organiser_id,
                "amount_minor": booking.total_minor,
                "currency": booking.currency,
                "client_secret": started.client_secret,
                "redirect_url": started.redirect_url,
                "raw_state": started.raw,
                "destination_account": destination.account if destination else "",
                "application_fee_minor": (
                    destination.application_fee_minor if destination else 0
                ),
            },
        )
        if not created:
            payment.amount_minor = booking.total_minor
            payment.currency = booking.currency
            payment.client_secret = started.client_secret or payment.client_secret
            payment.redirect_url = started.redirect_url or payment.redirect_url
            if destination:
                payment.application_fee_minor = destination.application_fee_minor
            payment.save(
                update_fields=[
                    "amount_minor",
                    "currency",
                    "client_secret",
                    "redirect_url",
                    "application_fee_minor",
                    "updated_at",
                ]
            )
        PaymentEvent.objects.create(
            payment=payment,
            action="started" if created else "reused",
            status=started.status,
            amount_minor=booking.total_minor,
        )
    superseded = rerouted or open_payment
    if superseded is not None and superseded.pk != payment.pk:
        # The provider opened a new attempt instead (Paystack cannot change an amount):
        # the old one is superseded, so later reloads do not pile attempts up.
        Payment.objects.filter(pk=superseded.pk, status=Payment.Status.PENDING).update(
            status=Payment.Status.CANCELED
        )
    if started.status == PaymentState.SUCCEEDED:
        # The buyer already paid this attempt (the page was reloaded meanwhile).
        return payment_settle(payment_id=payment.pk, source="start")
    return payment


def _destination(booking: Booking, provider: str) -> DestinationCharge | None:
    """Where a new payment's money goes when the organiser is paid through Stripe
    Connect, with the platform's fee; None for every other payment."""
    account = connect_destination(booking.organiser_id, provider)
    if account is None:
        return None
    return DestinationCharge(
        account=account.account_id,
        application_fee_minor=application_fee_minor(
            account=account, amount_minor=booking.total_minor, tickets=booking.quantity
        ),
        on_behalf_of=account.is_merchant_of_record,
    )


def payment_cancel_open(*, booking_ids: list[int]) -> int:
    """Cancel the open attempts of bookings whose hold expired; returns how many.
    A provider failure leaves the attempt open: reconciliation settles it later."""
    canceled = 0
    open_payments = Payment.objects.filter(
        booking_id__in=booking_ids, status=Payment.Status.PENDING
    )
    for payment in open_payments:
        try:
            provider_for_payment(payment).cancel_payment(payment.provider_reference)
        except ProviderError:
            logger.warning("Could not cancel payment %s", payment.pk, exc_info=True)
            continue
        with transaction.atomic():
            updated = Payment.objects.filter(
                pk=payment.pk, status=Payment.Status.PENDING
            ).update(status=Payment.Status.CANCELED)
            if updated:
                PaymentEvent.objects.create(
                    payment=payment,
                    action="canceled.expired",
                    status=Payment.Status.CANCELED,
                )
        canceled += updated
    return canceled
