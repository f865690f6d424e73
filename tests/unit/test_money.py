"""Money helpers: wire formatting and parsing, markup and conversion rounding, no floats anywhere."""
from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.money import (
    apply_markup,
    convert_minor,
    currency_numeric,
    format_major,
    major_decimal,
    parse_major,
)

CENTS = st.integers(min_value=-(10**17) + 1, max_value=10**17 - 1)  # 15 integer digits: what parse_major accepts
MARKUPS = st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False)


@pytest.mark.parametrize(("cents", "text"), [(1234, "12.34"), (-50, "-0.50"), (0, "0.00"), (5, "0.05"),
                                             (100, "1.00"), (123456789, "1234567.89")])
def test_format_major__cents_to_the_protocol_form(cents: int, text: str) -> None:
    # Given an amount in cents
    # When it is formatted for ACCESS_BALANCE
    # Then it has exactly two decimals and a leading minus when negative
    assert format_major(cents) == text


@pytest.mark.parametrize("value", [12.34, True, Decimal("12.34"), "1234"])
def test_format_major__not_an_int__is_a_programming_error(value: object) -> None:
    # Given something that is not an int of cents (a float is how money bugs start)
    # When it is formatted
    # Then it is refused loudly
    with pytest.raises(TypeError):
        format_major(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "cents"), [("12.5", 1250), ("12.34", 1234), ("0", 0), ("-0.50", -50),
                                             (" 7 ", 700), ("+3.10", 310), ("0.01", 1)])
def test_parse_major__accepts_plain_amounts(text: str, cents: int) -> None:
    # Given an amount typed in major units (maxPrice=12.5, an admin adjustment…)
    # When it is parsed
    # Then it becomes exact cents
    assert parse_major(text) == cents


@pytest.mark.parametrize("text", ["12.345", "NaN", "inf", "-Infinity", "1e3", "1E-2", "12,50", "", " ", ".5", "5.",
                                  "1_000", "abc", "١٢", "0x10", "1234567890123456"])
def test_parse_major__rejects_anything_but_plain_decimal_with_two_places(text: str) -> None:
    # Given text that is not a plain amount with at most two decimals
    # When it is parsed
    # Then the caller gets a 422-class error instead of a rounded or exotic value
    with pytest.raises(InvalidInput):
        parse_major(text)


@given(CENTS)
def test_parse_major__round_trips_format_major(cents: int) -> None:
    # Given any amount in cents
    # When it is formatted and parsed back
    # Then it is unchanged
    assert parse_major(format_major(cents)) == cents


def test_major_decimal__keeps_cents_exact_for_json_numbers() -> None:
    # Given a price in cents
    # When a protocol needs it as a number
    # Then it is an exact Decimal in major units
    assert major_decimal(1250) == Decimal("12.5")
    assert str(major_decimal(1)) == "0.01"


@pytest.mark.parametrize(("cost", "markup", "price"), [
    (100, 30, 130),
    (100, "30", 130),
    (101, Decimal(30), 132),  # 131.3 rounds up
    (1, Decimal("0.5"), 2),  # 1.005 rounds up
    (1000, 0, 1000),
    (0, 50, 0),
    (333, "33.333333333333333333333333333333", 444),  # 443.99999… rounds up, beyond Decimal's default precision
])
def test_apply_markup__rounds_up_to_a_cent(cost: int, markup: Decimal | int | str, price: int) -> None:
    # Given a partner cost and the operator's markup
    # When the selling price is computed
    # Then it is cost × (1 + markup/100), rounded up to the next cent
    assert apply_markup(cost, markup) == price


@pytest.mark.parametrize("markup", [-1, "-0.01", "NaN", "Infinity", "thirty"])
def test_apply_markup__invalid_markup__refused(markup: int | str) -> None:
    # Given a markup that is negative or not a finite number
    # When a price is computed with it
    # Then the operator gets a clear error instead of a price below cost
    with pytest.raises(InvalidInput):
        apply_markup(100, markup)


def test_apply_markup__float_markup__is_a_programming_error() -> None:
    # Given a float markup
    # When a price is computed with it
    # Then it is refused: floats never touch money
    with pytest.raises(TypeError):
        apply_markup(100, 30.0)  # type: ignore[arg-type]


@given(cost=st.integers(min_value=0, max_value=10**9), markup=MARKUPS)
def test_apply_markup__never_below_cost_and_at_most_a_cent_above_exact(cost: int, markup: Decimal) -> None:
    # Given any cost and any non-negative markup
    # When the price is computed
    price = apply_markup(cost, markup)
    # Then it never undercuts the cost and overshoots the exact price by less than a cent
    exact = Decimal(cost) * (1 + markup / 100)
    assert price >= cost
    assert exact <= price < exact + 1


@pytest.mark.parametrize(("amount", "rate", "expected"), [
    (1000, "0.011", 11),  # 1000 kopecks at 0.011 → 11 cents
    (1000, Decimal("0.0105"), 11),  # 10.5 rounds up
    (250, 1, 250),
    (0, "0.5", 0),
])
def test_convert_minor__rounds_up(amount: int, rate: Decimal | int | str, expected: int) -> None:
    # Given a partner price in another currency's minor units and a configured rate
    # When it is converted
    # Then it is amount × rate rounded up to our next minor unit
    assert convert_minor(amount, rate) == expected


@pytest.mark.parametrize("rate", ["0", "-1", "NaN", "inf"])
def test_convert_minor__non_positive_or_non_finite_rate__refused(rate: str) -> None:
    # Given a misconfigured rate
    # When a price is converted with it
    # Then the conversion is refused rather than producing free or absurd prices
    with pytest.raises(InvalidInput):
        convert_minor(100, rate)


@given(amount=st.integers(min_value=0, max_value=10**9),
       rate=st.decimals(min_value=Decimal("0.0001"), max_value=1000, places=6))
def test_convert_minor__within_a_minor_unit_above_exact(amount: int, rate: Decimal) -> None:
    # Given any amount and positive rate
    # When converted
    converted = convert_minor(amount, rate)
    # Then the result is the exact value rounded up, never down
    exact = amount * rate
    assert exact <= converted < exact + 1


@pytest.mark.parametrize(("code", "numeric"), [("USD", 840), ("eur", 978), ("RUB", 643)])
def test_currency_numeric__iso_4217(code: str, numeric: int) -> None:
    # Given a deployment currency
    # When getNumberV2 reports it
    # Then it uses the ISO 4217 numeric code
    assert currency_numeric(code) == numeric


def test_currency_numeric__unknown_currency__refused() -> None:
    # Given a currency we do not handle
    # When its numeric code is asked for
    # Then the error names the supported ones
    with pytest.raises(InvalidInput) as raised:
        currency_numeric("XYZ")
    assert "USD" in raised.value.message
