"""Invoicing does not know Xero: these receivers (connected by XeroConfig.ready())
watch its saves and write the push's outbox row in the same transaction.

A save outside any transaction (a shell, a test factory) has committed already; the
row then goes in a transaction of its own, right after it.
"""

from __future__ import annotations

from django.db import connection as db
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from invoicing.models import Invoice, InvoicePayment

from .models import XeroConnection
from .services.push import push_enqueue

# Saves that change nothing Xero holds.
_IRRELEVANT = frozenset({"sent_at", "reminded_at", "updated_at"})
_PUSHED_STATUSES = (XeroConnection.Status.ACTIVE, XeroConnection.Status.BROKEN)


def _enqueue(invoice: Invoice) -> None:
    if invoice.status == Invoice.Status.DRAFT:
        return
    connection = XeroConnection.objects.filter(
        organiser=invoice.organiser_id, status__in=_PUSHED_STATUSES
    ).first()
    if connection is None:
        return
    if db.in_atomic_block:
        push_enqueue(invoice, connection)
    else:
        with transaction.atomic():
            push_enqueue(invoice, connection)


@receiver(post_save, sender=Invoice, dispatch_uid="xero.invoice_saved")
def invoice_saved(sender, instance: Invoice, update_fields=None, **kwargs):
    if update_fields and set(update_fields) <= _IRRELEVANT:
        return
    _enqueue(instance)


@receiver(post_save, sender=InvoicePayment, dispatch_uid="xero.payment_saved")
def payment_saved(sender, instance: InvoicePayment, created: bool, **kwargs):
    if created:
        _enqueue(instance.invoice)
