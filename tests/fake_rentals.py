"""An in-memory RentalPartner for service tests: rent prices, numbers, SMS on demand, injected failures, call counts."""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from dataclasses import dataclass, field

from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected
from chalicelib.providers.rentals import PartnerRental, RentListed, RentOffer, RentSms, RentState


@dataclass
class FakeRent:
    service: str
    phone: str
    hours: int
    open: bool = True
    sms: list[RentSms] = field(default_factory=list)


class FakeRentals:
    """Rents any service (and `full`) at `cost_minor` plus `per_hour_minor` an hour; failures set by attribute."""

    def __init__(self, cost_minor: int = 100, per_hour_minor: int = 5, *, lists_counts: bool = True) -> None:
        self.cost_minor, self.per_hour_minor = cost_minor, per_hour_minor
        self.lists_counts = lists_counts
        self.stock = 100
        self.rent_failure: BaseException | None = None
        self.extend_failure: BaseException | None = None
        self.state_failure: BaseException | None = None
        self.calls: Counter[str] = Counter()
        self.rents: dict[str, FakeRent] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def offers(self, country: int, hours: int, operator: str | None) -> list[RentOffer]:
        self.calls["offers"] += 1
        cost = self.cost_minor + hours * self.per_hour_minor
        return [RentOffer(s, country, hours, cost, self.stock) for s in ("tg", "wa", "full")]

    def rent(self, service: str, country: int, hours: int, operator: str | None, push_url: str | None
             ) -> PartnerRental:
        with self._lock:
            self.calls["rent"] += 1
            if self.rent_failure is not None:
                raise self.rent_failure
            if self.stock <= 0:
                raise PartnerNoNumbers("rent: NO_NUMBERS")
            rent_id = str(next(self._ids))
            self.stock -= 1
            self.rents[rent_id] = FakeRent(service, f"4477{int(rent_id):07d}", hours)
            return PartnerRental(rent_id, self.rents[rent_id].phone)

    def deliver(self, rent_id: str, text: str, date: str | None = None) -> RentSms:
        sms = RentSms(text, "Sender", date or f"2027-01-01 00:00:{len(self.rents[rent_id].sms):02d}")
        self.rents[rent_id].sms.append(sms)
        return sms

    def state(self, partner_rent_id: str, page: int, size: int) -> RentState:
        self.calls["state"] += 1
        if self.state_failure is not None:
            raise self.state_failure
        rent = self.rents[partner_rent_id]
        return RentState(rent.open, len(rent.sms), tuple(rent.sms[page * size:(page + 1) * size]))

    def listed(self) -> list[RentListed]:
        self.calls["listed"] += 1
        return [RentListed(i, len(r.sms) if self.lists_counts else None) for i, r in self.rents.items() if r.open]

    def extend_price_minor(self, partner_rent_id: str, hours: int) -> int:
        self.calls["extend_price"] += 1
        return hours * self.per_hour_minor

    def extend(self, partner_rent_id: str, hours: int) -> None:
        self.calls["extend"] += 1
        if self.extend_failure is not None:
            raise self.extend_failure
        self.rents[partner_rent_id].hours += hours

    def finish(self, partner_rent_id: str) -> None:
        self.calls["finish"] += 1
        self.rents[partner_rent_id].open = False

    def cancel(self, partner_rent_id: str) -> None:
        self.calls["cancel"] += 1
        rent = self.rents[partner_rent_id]
        if rent.sms:
            raise PartnerRejected("rent: CANT_CANCEL")
        rent.open = False
