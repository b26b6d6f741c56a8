"""Xero's limits per organisation, kept by our limiter shared through Redis: 60 calls
in any 60 s, 5 at once; counted by the fake, which answers 429 beyond them.

Minutes are simulated: the limiter and the fake read one clock that the limiter's
waits advance, so 1,000 pushes take seconds, not 17 minutes."""

import threading
import time

import pytest

from integrations.xero import limiter
from integrations.xero.client import XeroApi
from integrations.xero.models import XeroDocument
from invoicing.models import Invoice
from invoicing.services import LineInput, Recipient, invoice_create, invoice_issue

from .conftest import push_all

pytestmark = pytest.mark.django_db


class SimulatedClock:
    def __init__(self) -> None:
        self.now = time.time()
        self.slept = 0.0

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


@pytest.fixture
def clock(monkeypatch, xero_fake):
    simulated = SimulatedClock()
    monkeypatch.setattr(limiter, "clock", simulated.time)
    monkeypatch.setattr(limiter, "sleep", simulated.sleep)
    xero_fake.clock = simulated.time
    return simulated


def _issue(organiser, rates, count: int) -> None:
    for n in range(count):
        draft = invoice_create(
            organiser=organiser,
            type=Invoice.Type.SALES,
            recipient=Recipient("Box office buyer", email="buyer@example.test"),
            currency="AUD",
            lines=[LineInput(f"Ticket {n}", 2200, tax_rate=rates["gst"])],
        )
        invoice_issue(invoice_id=draft.pk)


def test_a_thousand_pushes_keep_to_60_a_minute_and_none_is_sent_twice(
    connected, rates, xero_fake, clock
):
    tenant = connected.tenant_id
    before = len(xero_fake.call_times[tenant])  # connecting read tax rates, accounts
    _issue(connected.organiser, rates, 1000)

    assert push_all() == 1000

    calls = len(xero_fake.call_times[tenant]) - before
    assert calls == 1002  # the contact lookup and create, then one PUT per invoice
    assert xero_fake.max_calls_in_any_minute(tenant) == 60
    assert xero_fake.rejected_for_limits == 0
    assert len(xero_fake.invoices) == 1000
    assert set(xero_fake.key_uses.values()) == {1}
    assert len(xero_fake.key_uses) == 1001
    assert XeroDocument.objects.filter(state="pushed").count() == 1000
    # 1,002 calls at 60 a minute, the first 60 (less the 2 of connecting) at once.
    assert clock.slept >= (calls + 2 - 60) / 60 * 60 - 1


def test_control_without_our_limit_the_fake_refuses(
    connected, rates, xero_fake, clock, settings
):
    """The check above can fail: with our minute limit lifted, Xero's bites."""
    settings.XERO_MINUTE_LIMIT = 10_000
    _issue(connected.organiser, rates, 100)
    push_all(rounds=1)
    assert xero_fake.rejected_for_limits > 0
    assert xero_fake.max_calls_in_any_minute(connected.tenant_id) > 60


def _tax_rates_from_threads(connected, threads: int = 12) -> list[Exception]:
    api = XeroApi(access_token=connected.access_token, tenant_id=connected.tenant_id)
    errors: list[Exception] = []

    def call():
        try:
            api.tax_rates()
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    workers = [threading.Thread(target=call) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return errors


def test_at_most_five_calls_at_once_across_threads(connected, xero_fake):
    xero_fake.call_seconds = 0.3
    assert _tax_rates_from_threads(connected) == []
    assert xero_fake.max_concurrent == 5
    assert xero_fake.rejected_for_limits == 0


def test_control_without_our_concurrency_limit_the_fake_refuses(
    connected, xero_fake, settings
):
    settings.XERO_CONCURRENT_LIMIT = 50
    xero_fake.call_seconds = 0.3
    errors = _tax_rates_from_threads(connected)
    assert xero_fake.max_concurrent > 5
    assert errors
    assert all("429" in str(error) for error in errors)


def test_with_redis_down_each_process_takes_its_share(monkeypatch, settings, clock):
    def unreachable():
        raise ConnectionError("redis is down")

    monkeypatch.setattr(limiter, "_redis", unreachable)
    settings.PROVIDER_QUOTA_PROCESSES = 4
    gate = limiter.TenantLimiter("tenant-redis-down")
    moments = []
    for _call in range(40):
        with gate.slot():
            moments.append(clock.time())

    # 60 a minute shared by 4 processes: 15 here in any 60 s.
    in_any_minute = max(
        sum(1 for other in moments if 0 <= other - moment < 60) for moment in moments
    )
    assert in_any_minute == 15
    assert clock.slept >= 120  # 40 calls at 15 a minute


def test_a_day_spent_gives_up_with_retry_after(settings, clock):
    settings.XERO_DAY_LIMIT = 3
    gate = limiter.TenantLimiter(f"tenant-day-{time.time()}")
    for _call in range(3):
        gate.release(gate.acquire())
    with pytest.raises(limiter.ExternalUnavailable) as raised:
        gate.acquire()
    assert raised.value.retry_after > 86000
