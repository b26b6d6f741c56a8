"""The fake Stripe (Products and Prices per connected account), the platform's keys,
organisers with and without a connected account, and a way to run due pushes."""

import datetime as dt

import pytest
from django.core.cache import cache
from django.utils import timezone

from events.tests.factories import OrganiserFactory
from integrations.stripe_catalog.services import KIND
from payments.models import ConnectedAccount
from payments.tests.fakes.stripe_server import stripe_fake  # noqa: F401
from ticketing import outbox
from ticketing.models import OutboxMessage


@pytest.fixture
def platform(stripe_fake, settings):  # noqa: F811
    settings.STRIPE_SECRET_KEY = stripe_fake.secret_key
    settings.STRIPE_CATALOG_RATE_LIMIT = "1000/s"
    cache.clear()
    return stripe_fake


@pytest.fixture
def account(platform, db):
    """An organiser with a connected account; returns (organiser, acct_…)."""
    organiser = OrganiserFactory(currency="EUR")
    acct = platform.add_account(charges_enabled=True)["id"]
    ConnectedAccount.objects.create(
        organiser=organiser, account_id=acct, charges_enabled=True
    )
    return organiser, acct


def pending() -> int:
    return OutboxMessage.objects.filter(
        kind=KIND, status=OutboxMessage.Status.PENDING
    ).count()


def run_pushes(*, rounds: int = 5) -> int:
    """Make every pending push due now (its 2 s delay or backoff passed) and
    dispatch, until none is left or `rounds` runs; returns how many succeeded."""
    done = 0
    for _ in range(rounds):
        if not pending():
            break
        OutboxMessage.objects.filter(
            kind=KIND, status=OutboxMessage.Status.PENDING
        ).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
        done += outbox.dispatch(kinds=[KIND])
    return done
