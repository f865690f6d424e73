"""The operator's price settings (agreement 6.1): the markup on partners' costs and fixed prices per (service,
country), kept as runtime settings every container reads; the catalog (catalog.py) prices with them."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

from chalicelib.domain.catalog_data import country_by_id, service_by_code
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.services.platform import runtime_settings
from chalicelib.store.catalog import offer_key

MARKUP_KEY = runtime_settings.MARKUP
PRICE_OVERRIDES_KEY = runtime_settings.PRICE_OVERRIDES  # {"<service>#<country>": cents}
MAX_PRICE_CENTS = 1_000_000


def set_markup(percent: Decimal | int | str, clock: Clock) -> Decimal:
    """The markup on partners' costs for every price without an override (agreement 6.1)."""
    try:
        value = Decimal(str(percent))
    except InvalidOperation:
        raise InvalidInput(f"{percent!r} is not a percentage.") from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1000):
        raise InvalidInput("The markup must be between 0 and 1000 percent.")
    runtime_settings.set_value(MARKUP_KEY, str(value), clock)
    return value


def set_price(service: str, country: int, price_cents: int, clock: Clock) -> None:
    """Fix the price of (service, country) whatever the costs and the markup."""
    _require_known(service, country)
    if not isinstance(price_cents, int) or isinstance(price_cents, bool) or not 1 <= price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput(f"The price must be a whole number of cents from 1 to {MAX_PRICE_CENTS}.")
    overrides = price_overrides(fresh=True)
    overrides[offer_key(service, country)] = price_cents
    runtime_settings.set_value(PRICE_OVERRIDES_KEY, overrides, clock)


def clear_price(service: str, country: int, clock: Clock) -> None:
    """Go back to cost + markup for (service, country)."""
    _require_known(service, country)
    overrides = price_overrides(fresh=True)
    overrides.pop(offer_key(service, country), None)
    runtime_settings.set_value(PRICE_OVERRIDES_KEY, overrides, clock)


def price_overrides(*, fresh: bool = False) -> dict[str, int]:
    raw = runtime_settings.get_value(PRICE_OVERRIDES_KEY, {}, fresh=fresh)
    return {str(key): int(cents) for key, cents in raw.items()}


def _require_known(service: str, country: int) -> None:
    if service_by_code(service) is None:
        raise InvalidInput(f"Unknown service {service!r}.", code="BAD_SERVICE")
    if country_by_id(country) is None:
        raise InvalidInput(f"Unknown country {country!r}.", code="BAD_COUNTRY")
