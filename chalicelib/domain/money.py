"""Money in integer minor units (cents): parsing, formatting, markup and conversion, exact and without floats.

Every currency we handle (ISO4217_NUMERIC) has two decimals, so one major unit is 100 minor units.
Rounding always goes up to the next cent: a price built from a cost never undercuts it.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Protocol

from chalicelib.domain.errors import InvalidInput, NoNumbers, PriceAboveMax

ISO4217_NUMERIC: dict[str, int] = {"USD": 840, "EUR": 978, "RUB": 643}
MINOR_PER_MAJOR = 100

# At most 15 integer digits keeps the Decimal arithmetic below exact (28 digits of precision);
# a quadrillion-unit amount is a typo anyway.
_MAJOR_TEXT = re.compile(r"[+-]?[0-9]{1,15}(?:\.[0-9]{1,2})?")


def format_major(cents: int) -> str:
    """`1234` → `"12.34"`, `-50` → `"-0.50"`: the wire form of `ACCESS_BALANCE:12.34`."""
    _require_int(cents, "cents")
    whole, frac = divmod(abs(cents), MINOR_PER_MAJOR)
    sign = "-" if cents < 0 else ""
    return f"{sign}{whole}.{frac:02d}"


def major_decimal(cents: int) -> Decimal:
    """`1250` → `Decimal("12.50")`: for protocols that want a JSON number (`"cost": 12.5`)."""
    _require_int(cents, "cents")
    return Decimal(cents).scaleb(-2)


def parse_major(text: str) -> int:
    """`"12.5"` → `1250`. Plain decimal notation only: no exponent, NaN, infinity, or third decimal."""
    stripped = text.strip()
    if not _MAJOR_TEXT.fullmatch(stripped):
        raise InvalidInput(f"{text!r} is not an amount such as 12.34 (at most two decimals).")
    return int(Decimal(stripped).scaleb(2))


def apply_markup(cost_cents: int, markup_percent: Decimal | int | str) -> int:
    """Selling price: cost × (1 + markup/100), rounded up to a whole cent."""
    _require_int(cost_cents, "cost_cents")
    if cost_cents < 0:
        raise InvalidInput("A cost cannot be negative.")
    markup = _to_decimal(markup_percent, "markup_percent")
    if markup < 0:
        raise InvalidInput("A markup cannot be negative: prices never go below cost.")
    num, den = markup.as_integer_ratio()
    return _ceil_div(cost_cents * (100 * den + num), 100 * den)


def convert_minor(amount_minor: int, rate: Decimal | int | str) -> int:
    """Minor units of another currency → ours, at `rate` of our minor units per theirs, rounded up."""
    _require_int(amount_minor, "amount_minor")
    if amount_minor < 0:
        raise InvalidInput("An amount to convert cannot be negative.")
    exact_rate = _to_decimal(rate, "rate")
    if exact_rate <= 0:
        raise InvalidInput("A conversion rate must be positive.")
    num, den = exact_rate.as_integer_ratio()
    return _ceil_div(amount_minor * num, den)


def currency_numeric(code: str) -> int:
    """ISO 4217 numeric code of a currency (`"USD"` → 840), as getNumberV2 reports `currency`."""
    try:
        return ISO4217_NUMERIC[code.upper()]
    except KeyError:
        raise InvalidInput(f"Unsupported currency {code!r}; supported: {', '.join(ISO4217_NUMERIC)}.") from None


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _require_int(value: object, name: str) -> None:
    # bool is an int subclass and float is how money bugs start: refuse both loudly.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int of minor units, got {type(value).__name__}")


def _to_decimal(value: Decimal | int | str, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{name} must be a Decimal, int or str, got {type(value).__name__}")
    try:
        exact = value if isinstance(value, Decimal) else Decimal(value.strip() if isinstance(value, str) else value)
    except InvalidOperation:
        raise InvalidInput(f"{name} {value!r} is not a number.") from None
    if not exact.is_finite():
        raise InvalidInput(f"{name} must be a finite number.")
    return exact


class Priced(Protocol):
    @property
    def price_cents(self) -> int: ...


def cheapest_within(quotes: Sequence[Priced], max_price_cents: int | None, *, none_left: str, above: str) -> int:
    """The price charged for an order or a rental: the cheapest quote's (quotes come cheapest first). Raises
    NoNumbers with `none_left` when there is none, PriceAboveMax with `above` (formatted with `price`) when it is
    over the user's maximum: both before any debit."""
    if not quotes:
        raise NoNumbers(none_left)
    price = quotes[0].price_cents
    if max_price_cents is not None and price > max_price_cents:
        raise PriceAboveMax(above.format(price=price), details={"min_price_cents": price})
    return price
