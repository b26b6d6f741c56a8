from decimal import Decimal

import pytest

from ticketing.lib.money import (
    Money,
    currency_exponent,
    percent_of,
    percent_to_basis_points,
)


@pytest.mark.parametrize(("amount_minor", "basis_points", "expected"), [
    (10_000, 1_250, 1_250),  # exact: 12.5% of 100.00 is 12.50
    (5, 5_000, 3),           # 2.5 -> 3 (half-even would give 2)
    (1, 5_000, 1),           # 0.5 -> 1 (half-even would give 0)
    (3, 5_000, 2),           # 1.5 -> 2
    (1, 4_999, 0),           # 0.4999 -> 0
    (999, 3_333, 333),       # 332.9667 -> 333
    (4_999, 1_000, 500),     # 499.9 -> 500
    (4_994, 1_000, 499),     # 499.4 -> 499
    (12_345, 0, 0),
    (12_345, 10_000, 12_345),
    (-5, 5_000, -3),         # half away from zero, so a refund mirrors its charge
])
def test_percent_of_rounds_half_up(amount_minor, basis_points, expected):
    assert percent_of(amount_minor, basis_points) == expected


def test_percent_of_returns_an_int():
    assert type(percent_of(5, 5_000)) is int


@pytest.mark.parametrize(("percent", "expected"), [
    (Decimal("12.5"), 1_250),
    ("33.33", 3_333),
    (100, 10_000),
    (Decimal("0.005"), 1),  # half a basis point rounds up
])
def test_percent_to_basis_points(percent, expected):
    assert percent_to_basis_points(percent) == expected


@pytest.mark.parametrize(("currency", "exponent"), [
    ("EUR", 2), ("AUD", 2), ("NGN", 2), ("JPY", 0), ("jpy", 0), ("KWD", 3),
])
def test_currency_exponent(currency, exponent):
    assert currency_exponent(currency) == exponent


def test_jpy_has_no_decimals():
    money = Money(1_500, "JPY")
    assert money.amount == Decimal("1500")
    assert money.format() == "1,500 JPY"
    assert str(Money(1_234_567, "JPY")) == "1,234,567 JPY"


@pytest.mark.parametrize(("minor", "currency", "expected"), [
    (123_456, "EUR", "1,234.56 EUR"),
    (5, "EUR", "0.05 EUR"),
    (0, "AUD", "0.00 AUD"),
    (-150, "GBP", "-1.50 GBP"),
    (1_234, "KWD", "1.234 KWD"),
])
def test_format_uses_the_currency_exponent(minor, currency, expected):
    assert Money(minor, currency).format() == expected


def test_arithmetic_in_one_currency():
    assert Money(1_000, "EUR") + Money(250, "EUR") == Money(1_250, "EUR")
    assert Money(1_000, "EUR") - Money(250, "EUR") == Money(750, "EUR")
    assert Money(1_250, "EUR") * 3 == Money(3_750, "EUR")


@pytest.mark.parametrize("operation", [
    lambda a, b: a + b,
    lambda a, b: a - b,
])
def test_mixing_currencies_raises(operation):
    with pytest.raises(ValueError, match="Cannot mix EUR and USD"):
        operation(Money(100, "EUR"), Money(100, "USD"))


def test_minor_units_must_be_an_int():
    with pytest.raises(TypeError):
        Money(12.5, "EUR")
    with pytest.raises(TypeError):
        Money(Decimal("12.50"), "EUR")


def test_currency_must_be_three_letters():
    with pytest.raises(ValueError, match="ISO 4217"):
        Money(100, "EURO")


def test_money_is_immutable():
    money = Money(100, "EUR")
    with pytest.raises(AttributeError):
        money.minor = 200
