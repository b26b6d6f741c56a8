from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.utils import timezone

from events.models import TaxRate
from events.tests.factories import OrganiserFactory
from integrations.xero.models import XeroTaxMapping
from integrations.xero.services import connection as connect
from integrations.xero.services.push import PUSH_KIND
from integrations.xero.tests.fakes.xero_server import xero_fake  # noqa: F401
from ticketing import outbox
from ticketing.lib.http import breaker_for, sessions_reset
from ticketing.models import OutboxMessage

REDIRECT = "http://testserver/admin/xero/xeroconnection/callback/"


@pytest.fixture(autouse=True)
def _fast_calls(settings):
    """Short timeouts; a closed breaker for each test (it is shared via the cache)."""
    settings.INTEGRATIONS_HTTP_TIMEOUT = (1.0, 2.0)
    sessions_reset()
    breaker_for("xero").reset()
    yield
    sessions_reset()
    breaker_for("xero").reset()


def consent(url: str) -> dict[str, str]:
    """The user says yes on Xero's consent page: the query Xero redirects back with."""
    answer = requests.get(url, allow_redirects=False, timeout=5)
    assert answer.status_code == 302, answer.text
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture
def organiser():
    return OrganiserFactory(currency="AUD", country="AU", timezone="Australia/Sydney")


@pytest.fixture
def rates(organiser):
    """GST 10 % and a reduced 5 % rate."""
    return {
        "gst": TaxRate.objects.create(
            organiser=organiser, name="GST", percent=Decimal(10)
        ),
        "reduced": TaxRate.objects.create(
            organiser=organiser, name="Reduced", percent=Decimal(5)
        ),
    }


@pytest.fixture
def connected(organiser, rates, xero_fake):  # noqa: F811
    """Connected through the OAuth flow to the fake's first organisation, with the
    accounts and both tax rates mapped."""
    return connect_organiser(organiser, rates, xero_fake)


def connect_organiser(organiser, rates, xero_fake):  # noqa: F811
    url = connect.connect_start(organiser=organiser, redirect_uri=REDIRECT)
    answer = consent(url)
    connection = connect.connect_finish(
        state=answer["state"], code=answer["code"], redirect_uri=REDIRECT
    )
    connection = connect.tenant_choose(
        connection_id=connection.pk, tenant_id=xero_fake.tenant_id
    )
    connection.sales_account_code = "200"
    connection.bills_account_code = "310"
    connection.payment_account_code = "090"
    connection.save()
    XeroTaxMapping.objects.create(
        connection=connection, tax_rate=rates["gst"], tax_type="OUTPUT"
    )
    XeroTaxMapping.objects.create(
        connection=connection, tax_rate=rates["reduced"], tax_type="TAX002"
    )
    return connection


def push_all(rounds: int = 50) -> int:
    """Run the Xero pushes now (not waiting out the coalescing delay); returns how
    many succeeded."""
    done = 0
    for _round in range(rounds):
        due = OutboxMessage.objects.filter(kind=PUSH_KIND, status="pending")
        if not due.exists():
            break
        due.update(next_attempt_at=timezone.now())
        handled = outbox.dispatch(kinds=[PUSH_KIND], limit=200)
        done += handled
        if not handled:
            break
    return done
