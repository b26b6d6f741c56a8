"""Refunds: asked for in a short transaction, sent to the provider, then recorded."""

from __future__ import annotations

from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from bookings.exceptions import InvalidTransition
from bookings.models import Booking
from bookings.services import booking_mark_refunded
from ticketing.audit import audit_log
from ticketing.lib.http_errors import CircuitOpen, MalformedResponse
from ticketing.lib.money import money_display

from .. import signals
from ..accounts import provider_for_payment
from ..exceptions import RefundNotPossible, RefundOutcomeUnknown
from ..models import ConnectedAccount, Payment, PaymentEvent, Refund
from ..providers.base import ProviderError, ProviderRefund, ProviderUnavailable

_REFUND_STATUS = {"succeeded": Refund.Status.SUCCEEDED, "failed": Refund.Status.FAILED}


def refund_issue(
    *, payment_id: int, amount_minor: int | None = None, reason: str = "", actor=None
) -> Refund:
    """Refund `amount_minor` (default: all that is left) of a succeeded payment.

    Refunds already asked for count against what is left, so two clicks never refund
    twice. The provider call carries `refund:<id>` as its idempotency key. When the
    payment is refunded in full, the booking becomes REFUNDED and its seats return.
    Raises RefundNotPossible; RefundOutcomeUnknown when the provider may have
    refunded without saying so (the refund stays pending and counted, for its
    webhook to settle); or the ProviderError of a sure refusal (the refund is then
    marked failed).
    """
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        asked = (
            payment.refunds.exclude(status=Refund.Status.FAILED).aggregate(
                total=Sum("amount_minor")
            )["total"]
            or 0
        )
        left = (
            payment.amount_minor - asked
            if payment.status in (Payment.Status.SUCCEEDED, Payment.Status.MISMATCH)
            else 0
        )
        amount = left if amount_minor is None else amount_minor
        if amount <= 0 or amount > left:
            raise RefundNotPossible(
                _("At most %(left)s can be refunded.")
                % {"left": money_display(left, payment.currency)}
            )
        refund = Refund.objects.create(
            payment=payment,
            organiser_id=payment.organiser_id,
            amount_minor=amount,
            currency=payment.currency,
            reason=reason[:300],
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            **_connect_policy(payment),
        )
        audit_log(
            action="payments.refund.requested",
            obj=refund,
            organiser_id=payment.organiser_id,
            actor=actor,
            data={
                "payment": payment.provider_reference,
                "amount_minor": amount,
                "reason": reason,
            },
        )
    provider = provider_for_payment(payment)
    try:
        result = _ask_provider(provider, refund, payment)
    except ProviderError as error:
        if _record_failure(refund, error):
            audit_log(
                action="payments.refund.outcome_unknown",
                obj=refund,
                organiser_id=payment.organiser_id,
                actor=actor,
                data={"payment": payment.provider_reference, "error": str(error)},
            )
            raise RefundOutcomeUnknown() from error
        raise
    return refund_apply_provider_state(refund_id=refund.pk, result=result)


def refund_retry_unconfirmed(*, refund_id: int) -> Refund:
    """Ask again for a refund the provider may have made without saying so, with its
    first idempotency key: the provider then answers with that refund if it made it,
    or makes it now. Only for providers whose refunds are idempotent (Stripe); any
    other refund is left pending for its webhook or a person."""
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    payment = refund.payment
    if (
        refund.status != Refund.Status.PENDING
        or refund.provider_refund_id  # answered meanwhile
        or not refund.last_error  # not ours to ask: in flight, or made elsewhere
    ):
        return refund
    provider = provider_for_payment(payment)
    if not provider.refunds_are_idempotent:
        return refund
    try:
        result = _ask_provider(provider, refund, payment)
    except ProviderError as error:
        _record_failure(refund, error)
        refund.refresh_from_db()
        return refund
    return refund_apply_provider_state(refund_id=refund.pk, result=result)


def _ask_provider(provider, refund: Refund, payment: Payment) -> ProviderRefund:
    """The one request for a refund row: built from what is stored, under the row's
    own idempotency key, so that asking again sends the very same request."""
    connect = {}
    if refund.reverses_transfer:
        connect = {
            "reverse_transfer": True,
            "refund_application_fee": refund.refunds_application_fee,
        }
    return provider.refund(
        payment.provider_reference,
        refund.amount_minor,
        payment.currency,
        refund.reason,
        idempotency_key=f"refund:{refund.pk}",
        **connect,
    )


def _connect_policy(payment: Payment) -> dict[str, bool]:
    """A destination charge's refund takes the money back from the organiser's
    connected account, and gives the platform's fee back when the organiser's
    policy says so (kept on the refund row: asking again asks the same)."""
    if not payment.destination_account:
        return {}
    policy = (
        ConnectedAccount.objects.filter(organiser_id=payment.organiser_id)
        .values_list("refunds_application_fee", flat=True)
        .first()
    )
    return {
        "reverses_transfer": True,
        "refunds_application_fee": bool(policy) and payment.application_fee_minor > 0,
    }


def _record_failure(refund: Refund, error: ProviderError) -> bool:
    """Keep the error on a pending refund, and mark it failed only on a sure no.
    True when the outcome is unknown (the refund stays pending and counted)."""
    unknown = _may_have_refunded(error)
    changes = {"last_error": str(error)[:1000]}
    if not unknown:
        changes["status"] = Refund.Status.FAILED
    Refund.objects.filter(pk=refund.pk, status=Refund.Status.PENDING).update(**changes)
    return unknown


def _may_have_refunded(error: ProviderError) -> bool:
    """Whether the provider may have acted on a request it did not answer clearly.
    Only a refusal, an open circuit (no call made) or a 429 (not processed) is a
    sure no; marking anything else failed would let a second refund through."""
    if isinstance(error, MalformedResponse):
        return True
    if isinstance(error, ProviderUnavailable):
        return not isinstance(error, CircuitOpen) and error.status != 429
    return False


def _matching_refund(payment: Payment, result: ProviderRefund) -> Refund | None:
    """Our row for a refund the provider reports. Providers do not always echo the id
    they answered with (Paystack's events carry another reference), so a refund of the
    same amount counts as the same one: recording a refund twice would over-count what
    was paid back, while merging two equal ones only loses a row of history."""
    refunds = payment.refunds.exclude(status=Refund.Status.FAILED)
    return (
        refunds.filter(provider_refund_id=result.provider_refund_id).first()
        or refunds.filter(amount_minor=result.amount_minor)
        .order_by("-status", "created_at")  # pending before succeeded
        .first()
    )


def refund_apply_provider_state(
    *, refund_id: int | None, result: ProviderRefund, payment_id: int | None = None
) -> Refund:
    """Record what the provider says of a refund (from its answer or a webhook). A
    refund made on the provider's dashboard (no row yet) is recorded too."""
    with transaction.atomic():
        if refund_id is None:
            payment = Payment.objects.select_for_update().get(pk=payment_id)
            refund = _matching_refund(payment, result)
            if refund is None:
                refund = Refund.objects.create(
                    payment=payment,
                    organiser_id=payment.organiser_id,
                    amount_minor=result.amount_minor,
                    currency=result.currency,
                    reason="made at the provider",
                )
        else:
            refund = Refund.objects.select_related("payment").get(pk=refund_id)
            payment = Payment.objects.select_for_update().get(pk=refund.payment_id)
        refund = Refund.objects.select_for_update().get(pk=refund.pk)
        if refund.status != Refund.Status.SUCCEEDED:  # never backwards
            refund.status = _REFUND_STATUS.get(result.status, Refund.Status.PENDING)
            if refund.status == Refund.Status.SUCCEEDED:
                transaction.on_commit(
                    lambda r=refund, p=payment: signals.refund_succeeded.send(
                        sender=Refund,
                        refund_id=r.pk,
                        booking_id=p.booking_id,
                        amount_minor=r.amount_minor,
                    )
                )
        refund.provider_refund_id = (
            result.provider_refund_id or refund.provider_refund_id
        )
        refund.save(update_fields=["status", "provider_refund_id", "updated_at"])
        payment.refunded_minor = (
            payment.refunds.filter(status=Refund.Status.SUCCEEDED).aggregate(
                total=Sum("amount_minor")
            )["total"]
            or 0
        )
        payment.save(update_fields=["refunded_minor", "updated_at"])
        PaymentEvent.objects.create(
            payment=payment,
            action="refund",
            status=refund.status,
            amount_minor=refund.amount_minor,
            data=result.raw,
        )
        fully_refunded = payment.refunded_minor >= payment.amount_minor
    if fully_refunded:
        booking = Booking.objects.get(pk=payment.booking_id)
        if booking.status == Booking.Status.CONFIRMED:
            try:
                booking_mark_refunded(
                    booking_id=booking.pk,
                    actor=payment.provider,
                    reason="payment refunded in full",
                )
            except InvalidTransition:
                pass  # cancelled meanwhile: its seats already returned
    return refund
