"""What comes back from Xero: signed webhooks and the scheduled reconcile bring
payments recorded in Xero and voids onto our invoices."""

import datetime as dt

import pytest
from django.utils import timezone

from integrations.xero.models import XeroDocument, XeroPayment, XeroWebhookEvent
from integrations.xero.services.pull import reconcile
from integrations.xero.tests.fakes.xero_server import XeroFake
from invoicing.models import Invoice, InvoicePayment
from ticketing.tests.broker import broker_fixture  # noqa: F401
from ticketing.tests.health import full, monitored_fixture  # noqa: F401

from .conftest import push_all
from .test_push import _sales

pytestmark = pytest.mark.django_db

URL = "/webhooks/xero/"


def _post(client, body: bytes, signature: str | None):
    headers = {} if signature is None else {"HTTP_X_XERO_SIGNATURE": signature}
    return client.post(URL, body, content_type="application/json", **headers)


@pytest.fixture
def pushed(connected, rates, xero_fake):
    invoice = _sales(connected.organiser, rates)
    push_all()
    return invoice, XeroDocument.objects.get(invoice=invoice).xero_id


def test_a_webhook_marks_an_invoice_paid_in_xero_paid_here(
    client, pushed, xero_fake, django_capture_on_commit_callbacks
):
    invoice, xero_id = pushed
    remote_payment = xero_fake.pay_in_xero(xero_id, invoice.total_minor / 100)
    body = xero_fake.webhook_body([xero_id])

    with django_capture_on_commit_callbacks(execute=True):
        answer = _post(client, body, xero_fake.sign(body))

    assert answer.status_code == 200
    assert answer.content == b""
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    [payment] = invoice.payments.all()
    assert payment.amount_minor == invoice.total_minor
    assert payment.reference == f"Xero {remote_payment['PaymentID']}"
    assert XeroPayment.objects.get(payment=payment).direction == "pulled"
    assert XeroWebhookEvent.objects.get().processed_at is not None

    # Delivered again, and the reconcile sees it too: still one payment.
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, body, xero_fake.sign(body)).status_code == 200
    reconcile(connection_id=XeroDocument.objects.get(invoice=invoice).connection_id)
    assert InvoicePayment.objects.filter(invoice=invoice).count() == 1
    # The payment came from Xero: it is not pushed back.
    push_all()
    assert len(xero_fake.payments) == 1


def test_a_forged_webhook_gets_401_and_changes_nothing(
    client, pushed, xero_fake, django_capture_on_commit_callbacks
):
    invoice, xero_id = pushed
    xero_fake.pay_in_xero(xero_id, invoice.total_minor / 100)
    body = xero_fake.webhook_body([xero_id])
    fetches = len(xero_fake.calls(f"/Invoices/{xero_id}"))

    with django_capture_on_commit_callbacks(execute=True):
        forged = _post(client, body, XeroFake.sign(body, key="not-the-key"))
        unsigned = _post(client, body, None)
        tampered = _post(
            client, body.replace(b"UPDATE", b"CREATE"), xero_fake.sign(body)
        )

    assert [forged.status_code, unsigned.status_code, tampered.status_code] == [401] * 3
    assert XeroWebhookEvent.objects.count() == 0
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.ISSUED
    assert invoice.payments.count() == 0
    assert len(xero_fake.calls(f"/Invoices/{xero_id}")) == fetches


def test_intent_to_receive(client, xero_fake, settings):
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"x"}'
    assert _post(client, body, xero_fake.sign(body)).status_code == 200
    assert _post(client, body, xero_fake.sign(body, key="wrong")).status_code == 401
    settings.XERO_WEBHOOK_KEY = ""  # not configured: nothing verifies
    assert _post(client, body, xero_fake.sign(body)).status_code == 401


def test_reconcile_brings_payments_and_voids_since_the_last_run(
    connected, rates, xero_fake
):
    paid_part = _sales(connected.organiser, rates)
    voided = _sales(connected.organiser, rates)
    push_all()
    ids = {
        invoice.pk: XeroDocument.objects.get(invoice=invoice).xero_id
        for invoice in (paid_part, voided)
    }
    assert reconcile(connection_id=connected.pk) == 2  # the first run reads all
    xero_fake.pay_in_xero(ids[paid_part.pk], "30.00")
    xero_fake.void_in_xero(ids[voided.pk])

    assert reconcile(connection_id=connected.pk) == 2

    paid_part.refresh_from_db()
    voided.refresh_from_db()
    assert (paid_part.status, paid_part.paid_minor) == ("partly_paid", 3000)
    assert voided.status == Invoice.Status.VOID
    assert XeroDocument.objects.get(invoice=voided).xero_status == "VOIDED"
    connected.refresh_from_db()
    last = xero_fake.calls("/api.xro/2.0/Invoices")[-1]
    since = dt.datetime.fromisoformat(last.headers["if-modified-since"]).replace(
        tzinfo=dt.UTC
    )
    assert abs(since - connected.last_reconciled_at) < dt.timedelta(seconds=60)
    assert connected.last_reconciled_at <= timezone.now()
    # Our void's credit note is not pushed: Xero voided the invoice itself.
    push_all()
    assert xero_fake.credit_notes == {}


def test_beat_reconciles_and_sweeps_events_whose_processing_was_lost(
    client, pushed, xero_fake, broker, django_capture_on_commit_callbacks
):
    from integrations.xero.tasks import reconcile_all_task

    invoice, xero_id = pushed
    xero_fake.pay_in_xero(xero_id, "10.00")
    body = xero_fake.webhook_body([xero_id])
    # The broker is down: the event is stored, its task cannot be enqueued, and
    # Xero still gets its 200 (a 500 here would only make it retry).
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, body, xero_fake.sign(body)).status_code == 200
    event = XeroWebhookEvent.objects.get()
    assert event.processed_at is None
    assert event.attempts == 0
    XeroWebhookEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - dt.timedelta(minutes=2)
    )

    broker.up()
    assert reconcile_all_task() == 1

    event.refresh_from_db()
    assert event.processed_at is not None
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_minor) == ("partly_paid", 1000)
    assert invoice.payments.count() == 1


def test_xeros_retry_after_a_lost_enqueue_processes_the_stored_event_once(
    client, pushed, xero_fake, broker, django_capture_on_commit_callbacks
):
    """Deduplication is on "processed", not on "stored": Xero's retry of a delivery
    whose task was lost gets it processed, and later retries change nothing."""
    invoice, xero_id = pushed
    xero_fake.pay_in_xero(xero_id, "10.00")
    body = xero_fake.webhook_body([xero_id])

    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, body, xero_fake.sign(body)).status_code == 200
        assert _post(client, body, xero_fake.sign(body)).status_code == 200
    assert XeroWebhookEvent.objects.get().processed_at is None
    invoice.refresh_from_db()
    assert invoice.payments.count() == 0

    broker.up()
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            assert _post(client, body, xero_fake.sign(body)).status_code == 200

    event = XeroWebhookEvent.objects.get()
    assert event.processed_at is not None
    assert event.attempts == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.paid_minor) == ("partly_paid", 1000)
    assert invoice.payments.count() == 1


def test_health_reports_xero_events_that_are_not_moving(
    client, pushed, xero_fake, broker, monitored, django_capture_on_commit_callbacks
):
    invoice, xero_id = pushed
    body = xero_fake.webhook_body([xero_id])
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, body, xero_fake.sign(body)).status_code == 200
    broker.up()  # the backlog alone, not the broker, is what fails below

    component = full(client).json()["components"]["backlog:xero_webhooks"]
    assert component["status"] == "ok"

    XeroWebhookEvent.objects.update(created_at=timezone.now() - dt.timedelta(minutes=7))
    answer = full(client)
    assert answer.status_code == 503
    component = answer.json()["components"]["backlog:xero_webhooks"]
    assert component["status"] == "error"
    assert component["oldest_due_seconds"] >= 6 * 60
