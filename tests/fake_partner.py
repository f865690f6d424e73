"""An in-memory Partner for service tests: prices, stock, numbers and SMS on demand, injected failures, call counts."""
from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.providers.base import (
    PartnerActivationState,
    PartnerNoNumbers,
    PartnerNumber,
    PartnerOffer,
    PartnerRejected,
    PartnerSms,
    PartnerStatus,
)

_names = itertools.count(1)
_ACTIVE = (PartnerStatus.WAITING, PartnerStatus.WAITING_RETRY, PartnerStatus.RECEIVED)


@dataclass
class Rented:
    service: str
    phone: str
    status: PartnerStatus = PartnerStatus.WAITING
    sms: list[PartnerSms] = field(default_factory=list)


class FakePartner:
    """Sells `services` in `countries` at `cost_minor` each; `number_failure` is raised by get_number when set."""

    def __init__(self, name: str | None = None, cost_minor: int = 40, stock: int = 1000, currency: str = "USD",
                 services: Sequence[str] = ("tg", "wa"), countries: Sequence[int] = (0, 187), *,
                 operator: str = "any", operators: Sequence[str] = (), names: dict[str, str] | None = None) -> None:
        self.name = name or f"fake-{next(_names)}"  # unique, so examples sharing tables see only their own
        self.cost_minor = cost_minor
        self.stock = stock
        self.currency = currency
        self.services, self.countries = tuple(services), tuple(countries)
        self.operator, self.operators = operator, tuple(operators)  # an offer's operator; an "any" offer's list
        self.names = dict(names or {})  # the partner's own service names (getServicesList)
        self.number_failure: BaseException | None = None
        self.reactivation_cost: int | None = cost_minor  # None: quotes no price (5sim), its listing applies
        self.reactivation_failure: BaseException | None = None  # raised by reactivate()
        self.offers_failure: Exception | None = None
        self.phone_pool: list[str] = []
        self.honours_exclusions = True  # False: a partner that ignores phoneException (some clones do)
        self.calls: Counter[str] = Counter()
        self.asked: list[dict[str, object]] = []
        self.rented: dict[str, Rented] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def get_offers(self) -> list[PartnerOffer]:
        self.calls["get_offers"] += 1
        if self.offers_failure is not None:
            raise self.offers_failure
        return [PartnerOffer(s, c, self.operator, self.cost_minor, self.currency, self.stock, self.operators,
                             self.names.get(s)) for s in self.services for c in self.countries]

    def get_number(self, service: str, country: int, operator: str | None, max_cost_minor: int | None,
                   exclude_phones: Sequence[str] = ()) -> PartnerNumber:
        with self._lock:
            self.calls["get_number"] += 1
            self.asked.append({"service": service, "country": country, "operator": operator,
                               "max_cost_minor": max_cost_minor, "exclude_phones": tuple(exclude_phones)})
            if self.number_failure is not None:
                raise self.number_failure
            if self.stock <= 0 or (max_cost_minor is not None and self.cost_minor > max_cost_minor):
                raise PartnerNoNumbers(f"{self.name}: NO_NUMBERS")
            partner_id = str(next(self._ids))
            phone = self._phone(partner_id, exclude_phones)
            self.stock -= 1
            self.rented[partner_id] = Rented(service, phone)
            return PartnerNumber(partner_id, phone)

    def deliver(self, partner_activation_id: str, text: str, code: str | None = None) -> None:
        """An SMS lands on the number (what the partner's own SMS gateway would do)."""
        rented = self.rented[partner_activation_id]
        rented.sms.append(PartnerSms(text=text, code=code))
        rented.status = PartnerStatus.RECEIVED

    def get_state(self, partner_activation_id: str) -> PartnerActivationState:
        self.calls["get_state"] += 1
        return self._state(partner_activation_id)

    def get_active_states(self) -> list[PartnerActivationState]:
        self.calls["get_active_states"] += 1
        return [self._state(pid) for pid, r in self.rented.items() if r.status in _ACTIVE]

    def cancel(self, partner_activation_id: str) -> None:
        self.calls["cancel"] += 1
        rented = self.rented[partner_activation_id]
        if rented.status is PartnerStatus.RECEIVED:
            raise PartnerRejected(f"{self.name}: BAD_STATUS")
        rented.status = PartnerStatus.CANCELED

    def finish(self, partner_activation_id: str) -> None:
        self.calls["finish"] += 1
        self.rented[partner_activation_id].status = PartnerStatus.FINISHED

    def request_another_sms(self, partner_activation_id: str) -> None:
        self.calls["request_another_sms"] += 1
        self.rented[partner_activation_id].status = PartnerStatus.WAITING_RETRY

    def get_balance_minor(self) -> int:
        return 100_000

    def reactivation_cost_minor(self, partner_activation_id: str, phone: str, service: str) -> int | None:
        self.calls["reactivation_cost_minor"] += 1
        rented = self.rented.get(partner_activation_id)
        if rented is None or not rented.sms or rented.phone != phone:
            raise PartnerRejected(f"{self.name}: RENEW_ACTIVATION_NOT_AVAILABLE")
        return self.reactivation_cost

    def reactivate(self, partner_activation_id: str, phone: str, service: str, max_cost_minor: int) -> PartnerNumber:
        with self._lock:
            self.calls["reactivate"] += 1
            if self.reactivation_failure is not None:
                raise self.reactivation_failure
            partner_id = str(next(self._ids))
            self.rented[partner_id] = Rented(service, phone)
            return PartnerNumber(partner_id, phone, self.reactivation_cost)

    def get_multi_service_number(self, services: Sequence[str], country: int, operator: str | None
                                 ) -> dict[str, PartnerNumber]:
        with self._lock:
            self.calls["get_multi_service_number"] += 1
            if self.number_failure is not None:
                raise self.number_failure
            if self.stock < len(services):
                raise PartnerNoNumbers(f"{self.name}: NO_NUMBERS")
            ids = [str(next(self._ids)) for _ in services]
            phone = self._phone(ids[0], ())
            self.stock -= len(services)
            paired = list(zip(services, ids, strict=True))
            for service, partner_id in paired:
                self.rented[partner_id] = Rented(service, phone)
            return {service: PartnerNumber(partner_id, phone) for service, partner_id in paired}

    def _state(self, partner_activation_id: str) -> PartnerActivationState:
        rented = self.rented[partner_activation_id]
        # Like SMS-Activate, only the latest SMS is reported.
        return PartnerActivationState(partner_activation_id, rented.status, tuple(rented.sms[-1:]))

    def _phone(self, partner_id: str, exclude_phones: Sequence[str]) -> str:
        """A fresh number, or the first of `phone_pool` not excluded (partners do hand a number out again)."""
        excluded = tuple(exclude_phones) if self.honours_exclusions else ()
        for phone in self.phone_pool or [f"7900{int(partner_id):07d}"]:
            if not phone.startswith(excluded):
                return phone
        raise PartnerNoNumbers(f"{self.name}: every number is excluded")
