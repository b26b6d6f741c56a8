import pytest

from events.tests.factories import SessionFactory, TicketTypeFactory


@pytest.fixture
def session(db):
    return SessionFactory(capacity=10)


@pytest.fixture
def ticket_type(session):
    return TicketTypeFactory(event=session.event, price_minor=4500, max_per_order=10)
