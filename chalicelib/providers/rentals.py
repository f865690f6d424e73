"""The interface of a partner that rents numbers for hours to weeks (SMS-Activate's rent API), and what it answers.

A partner adapter that can rent carries a `rentals` attribute implementing RentalPartner; one that cannot has
none, and is skipped for rentals (`rental_partner`). Errors are the partner errors of providers.base.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class RentOffer:
    """The price of renting one number for `hours` at a partner, in its currency's minor units."""

    service: str
    country: int
    hours: int
    cost_minor: int
    count: int


@dataclass(frozen=True)
class PartnerRental:
    partner_rent_id: str
    phone: str  # digits only
    ends_at: float | None = None  # when the partner says the rental ends (epoch seconds), if it says


@dataclass(frozen=True)
class RentSms:
    text: str
    sender: str | None = None
    date: str | None = None  # the partner's own time of the SMS, as it wrote it (also what makes it unique)


@dataclass(frozen=True)
class RentState:
    """A rental at the partner: open or not, and the SMS of the page asked for (oldest first) of `quantity` in all."""

    open: bool
    quantity: int = 0
    sms: Sequence[RentSms] = field(default_factory=tuple)


@dataclass(frozen=True)
class RentListed:
    """One of the partner's open rentals as its list shows it; `sms_count` when the list carries it."""

    partner_rent_id: str
    sms_count: int | None = None


class RentalPartner(Protocol):
    def offers(self, country: int, hours: int, operator: str | None) -> list[RentOffer]:
        """What renting a number in `country` for `hours` costs, per service (the partner's `full` is any)."""

    def rent(self, service: str, country: int, hours: int, operator: str | None, push_url: str | None
             ) -> PartnerRental:
        """Rent a number. Raises PartnerNoNumbers / PartnerUnavailable / PartnerRejected."""

    def state(self, partner_rent_id: str, page: int, size: int) -> RentState:
        """The rental's SMS, page `page` (0 first) of `size`, oldest first."""

    def listed(self) -> list[RentListed]:
        """Every rental the partner holds open for us, in one call (the poller)."""

    def extend_price_minor(self, partner_rent_id: str, hours: int) -> int:
        """What extending by `hours` costs."""

    def extend(self, partner_rent_id: str, hours: int) -> float | None:
        """Extend by `hours`; the new end if the partner says it."""

    def finish(self, partner_rent_id: str) -> None:
        """End the rental early (no refund from the partner); idempotent."""

    def cancel(self, partner_rent_id: str) -> None:
        """Cancel it (refunded by the partner in its window); idempotent."""


def rental_partner(partner: object) -> RentalPartner | None:
    """The partner's rentals, or None when it does not rent numbers."""
    rentals: RentalPartner | None = getattr(partner, "rentals", None)
    return rentals
