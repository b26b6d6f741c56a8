"""`partner_api.validation.validated_data` (one serializer instance per class)
must accept, reject and word its errors exactly as a new serializer per request."""

import pytest
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework import serializers

from partner_api.endpoints.serializers import BookingInput
from partner_api.validation import validated_data


def _by_a_new_serializer(data):
    serializer = BookingInput(data=data)
    if serializer.is_valid():
        return "valid", serializer.validated_data
    return "invalid", serializer.errors


def _by_the_shared_one(data):
    try:
        return "valid", validated_data(BookingInput, data)
    except serializers.ValidationError as error:
        return "invalid", error.detail


_text = st.one_of(
    st.sampled_from(["Ada", " Ada ", "", "   ", "a@example.org", "not-an-email"]),
    st.text(max_size=8),
    st.text(min_size=199, max_size=202, alphabet="ab"),
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=1002),
    st.sampled_from(["1", "x", 1.0, 2.5]),
    _text,
)
_line = st.fixed_dictionaries(
    {},
    optional={"ticket_type": _scalar, "quantity": _scalar, "extra": _scalar},
)
_person = st.fixed_dictionaries(
    {}, optional={"name": _scalar, "email": _scalar, "phone": _scalar}
)
_body = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "session": _scalar,
            "lines": st.one_of(_scalar, st.lists(_line, max_size=3)),
            "buyer": st.one_of(_scalar, _person),
            "attendees": st.one_of(_scalar, st.lists(_person, max_size=3)),
        },
    ),
    _scalar,
    st.lists(_scalar, max_size=2),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(_body)
def test_any_body_gets_the_same_answer(body):
    assert _by_the_shared_one(body) == _by_a_new_serializer(body)


def test_a_valid_body_after_an_invalid_one_carries_no_leftover():
    bad = {"session": 0, "lines": [], "buyer": {"name": ""}, "attendees": []}
    good = {
        "session": 3,
        "lines": [{"ticket_type": 4, "quantity": 2}],
        "buyer": {"name": " Ada ", "email": "ada@example.org"},
        "attendees": [{"name": "A"}, {"name": "B", "email": ""}],
    }
    assert _by_the_shared_one(bad)[0] == "invalid"

    assert _by_the_shared_one(good) == (
        "valid",
        {
            "session": 3,
            "lines": [{"ticket_type": 4, "quantity": 2}],
            "buyer": {"name": "Ada", "email": "ada@example.org"},
            "attendees": [{"name": "A"}, {"name": "B", "email": ""}],
        },
    )


@pytest.mark.parametrize("language", ["en", "fr"])
def test_messages_are_in_the_request_language(language):
    body = {"session": 1, "lines": [{"ticket_type": 1, "quantity": 1}]}
    with translation.override(language):
        assert _by_the_shared_one(body) == _by_a_new_serializer(body)
        _, errors = _by_the_shared_one(body)
    assert ("obligatoire" in str(errors["buyer"][0])) == (language == "fr")


def _body_with(**changes):
    body = {
        "session": 3,
        "lines": [{"ticket_type": 4, "quantity": 2}],
        "buyer": {"name": "Ada", "email": "ada@example.org"},
        "attendees": [{"name": "A"}, {"name": "B"}],
    }
    return body | changes


@pytest.mark.parametrize(
    "body",
    [
        _body_with(),
        _body_with(attendees=[{"name": "A"}]),  # one attendee for two tickets
        _body_with(session="3", lines=[{"ticket_type": "4", "quantity": 2.0}]),
        _body_with(buyer={"name": " Ada ", "email": " ADA@example.org "}),
        _body_with(buyer={"name": "Ada\x00", "email": "ada@example.org"}),
        _body_with(lines=[{"ticket_type": 4, "quantity": 2}] * 21),
        _body_with(attendees=[{"name": "A", "email": ""}, {"name": "B"}]),
    ],
)
def test_near_valid_bodies_get_the_same_answer(body):
    assert _by_the_shared_one(body) == _by_a_new_serializer(body)
