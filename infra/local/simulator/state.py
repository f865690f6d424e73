"""The simulated partner's books: stock, prices, balance, activations and counters, behind one lock."""
from __future__ import annotations

import dataclasses
import random
import threading
from collections import Counter
from decimal import Decimal

from chalicelib.domain.clock import Clock
from infra.local.simulator import catalog
from infra.local.simulator.activation import (
    PendingSms,
    ProtocolError,
    SilentListener,
    SimActivation,
    SimSms,
    SimStatus,
    SmsListener,
    code_in,
    format_major,
)
from infra.local.simulator.config import ConfigChange, Offer, SimConfig, apply_settings
from infra.local.simulator.rent import SimRentals

_PHONE_ATTEMPTS = 50
DEFAULT_STOCK = 500  # numbers per (service, country) after a start or reset, unless `stock` says otherwise


class SimState:
    """Every method takes the lock and brings the activations it touches up to date with the clock first.

    The lock is re-entrant and public so a protocol handler can read an activation and write its reply atomically.
    """

    def __init__(self, initial: ConfigChange, clock: Clock, rng: random.Random) -> None:
        self.clock = clock
        self.rng = rng
        self.listener: SmsListener = SilentListener()
        self.lock = threading.RLock()
        self._initial = initial  # what a reset goes back to: the defaults with the start-up change applied
        self._next_id = 1  # survives resets, so an id never names two activations
        self._phones_ever: set[str] = set()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.config = SimConfig()
            self.activations: dict[int, SimActivation] = {}
            self.prices = {(service, country): catalog.default_price_minor(service, country)
                           for service in catalog.SERVICES for country in catalog.COUNTRIES}
            self.stock = dict.fromkeys(self.prices, DEFAULT_STOCK)
            self.balance_minor = self.config.balance_minor
            self.calls: Counter[str] = Counter()
            self.faults: Counter[str] = Counter()
            self.pushes: Counter[str] = Counter()
            self.rent = SimRentals(self)
            self.configure(self._initial)

    def configure(self, change: ConfigChange) -> None:
        with self.lock:
            self.config = apply_settings(self.config, change)
            if "balance_minor" in change.settings:
                self.balance_minor = self.config.balance_minor
            if change.stock_all is not None:
                self.stock = dict.fromkeys(self.stock, change.stock_all)
            self.stock.update(change.stock)
            self.prices.update(change.prices)

    def count(self, counter: Counter[str], key: str) -> None:
        with self.lock:
            counter[key] += 1

    def roll(self, probability: float, fault: str) -> bool:
        """Draw a fault; counted when it happens."""
        with self.lock:
            hit = probability > 0 and self.rng.random() < probability
            if hit:
                self.faults[fault] += 1
            return hit

    def buy(self, service: str, country: int, operator: str | None, max_price: Decimal | None,
            exclude_prefixes: tuple[str, ...]) -> SimActivation:
        with self.lock:
            plan = catalog.COUNTRIES[country]
            chosen = self._operator(plan, operator)
            offer: Offer = (service, country)
            price = self.prices[offer]
            if max_price is not None and Decimal(price) / 100 > max_price:
                raise ProtocolError(f"WRONG_MAX_PRICE:{format_major(price)}")
            if self.stock[offer] <= 0 or self.roll(self.config.fail_rate, "no_numbers"):
                raise ProtocolError("NO_NUMBERS")
            if self.balance_minor < price:
                raise ProtocolError("NO_BALANCE")
            if not self.config.honour_phone_exception:
                exclude_prefixes = ()
            return self._open(service, country, chosen, self._new_phone(plan, exclude_prefixes))

    def extra_activation_cost(self, parent_id: int) -> tuple[SimActivation, int]:
        """checkExtraActivation: the parent and what another activation on its number costs; refused when the
        parent never received an SMS, was canceled, or began longer ago than the reactivation window."""
        with self.lock:
            parent = self.activations.get(parent_id)
            if parent is None:
                raise ProtocolError("WRONG_ACTIVATION_ID")
            self._refresh(parent)
            too_old = self.clock.now() - parent.created_at > self.config.reactivation_window_seconds
            if not parent.sms or parent.status is SimStatus.CANCELED or too_old:
                raise ProtocolError("RENEW_ACTIVATION_NOT_AVAILABLE")
            return parent, self.prices[(parent.service, parent.country)]

    def extra_activation(self, parent_id: int) -> SimActivation:
        """getExtraActivation: a new activation on the parent's number, for the parent's service."""
        with self.lock:
            parent, price = self.extra_activation_cost(parent_id)
            if self.balance_minor < price:
                raise ProtocolError("NO_BALANCE")
            return self._open(parent.service, parent.country, parent.operator, parent.phone)

    def multi_service(self, services: tuple[str, ...], country: int, operator: str | None) -> list[SimActivation]:
        """getMultiServiceNumber: one number, an activation per service; all or nothing (stock, balance)."""
        with self.lock:
            plan = catalog.COUNTRIES[country]
            chosen = self._operator(plan, operator)
            if any(self.stock[(s, country)] <= 0 for s in services) or self.roll(self.config.fail_rate, "no_numbers"):
                raise ProtocolError("NO_NUMBERS")
            if self.balance_minor < sum(self.prices[(s, country)] for s in services):
                raise ProtocolError("NO_BALANCE")
            phone = self._new_phone(plan, ())
            return [self._open(service, country, chosen, phone) for service in services]

    def _open(self, service: str, country: int, operator: str, phone: str) -> SimActivation:
        """A new activation on `phone`, paid from the balance and taken from stock, its SMS scheduled."""
        now, price = self.clock.now(), self.prices[(service, country)]
        activation = SimActivation(self.take_id(), service, country, operator, phone, price, now,
                                   now + self.config.lifetime_seconds)
        self.activations[activation.id] = activation
        self.stock[(service, country)] -= 1
        self.balance_minor -= price
        if not self.roll(self.config.no_sms_rate, "no_sms"):
            self._schedule_sms(activation)
        return activation

    def get(self, activation_id: int) -> SimActivation:
        with self.lock:
            activation = self.activations.get(activation_id)
            if activation is None:
                raise ProtocolError("NO_ACTIVATION")
            self._refresh(activation)
            return activation

    def active(self) -> list[SimActivation]:
        with self.lock:
            for activation in self.activations.values():
                self._refresh(activation)
            return [a for a in self.activations.values() if a.active]

    def refresh(self, activation_id: int) -> None:
        """Bring one activation or rental up to date (the push timer calls this when an SMS falls due)."""
        with self.lock:
            if activation_id in self.activations:
                self._refresh(self.activations[activation_id])
            self.rent.refresh(activation_id)

    def take_id(self) -> int:
        """The next id of an activation or a rental (one counter: an id never names two things)."""
        with self.lock:
            self._next_id += 1
            return self._next_id - 1

    def new_phone(self, country: int) -> str:
        with self.lock:
            return self._new_phone(catalog.COUNTRIES[country], ())

    def set_status(self, activation_id: int, status: int) -> str:
        with self.lock:
            activation = self.get(activation_id)
            state = activation.status
            if status == 1 and activation.active:
                return "ACCESS_READY"
            if status == 3 and state in (SimStatus.RECEIVED, SimStatus.WAITING_RETRY):
                if state is SimStatus.RECEIVED:
                    activation.status = SimStatus.WAITING_RETRY
                    self._schedule_sms(activation)
                return "ACCESS_RETRY_GET"
            if status == 6 and state in (SimStatus.RECEIVED, SimStatus.WAITING_RETRY, SimStatus.FINISHED):
                activation.status, activation.pending = SimStatus.FINISHED, None
                return "ACCESS_ACTIVATION"
            if status in (8, -1) and state in (SimStatus.WAITING, SimStatus.CANCELED):
                self._cancel(activation)
                return "ACCESS_CANCEL"
            raise ProtocolError("BAD_STATUS")

    def deliver_now(self, phone: str, text: str, code: str | None, service: str | None = None
                    ) -> SimActivation | None:
        """An SMS arrives now on the newest active activation with this phone (and `service`, when one number
        serves several); it replaces the scheduled one."""
        with self.lock:
            for activation in reversed(list(self.activations.values())):
                self._refresh(activation)
                if activation.phone == phone and activation.active and service in (None, activation.service):
                    activation.pending = None
                    sms = SimSms(text, code or code_in(text), self.clock.now())
                    activation.receive(sms)
                    self.listener.sms_delivered(activation, sms)
                    return activation
            return None

    def snapshot(self) -> dict[str, object]:
        with self.lock:
            for activation in self.activations.values():
                self._refresh(activation)
            return {
                "config": dataclasses.asdict(self.config), "balance_minor": self.balance_minor,
                "calls": dict(self.calls), "calls_total": sum(self.calls.values()), "faults": dict(self.faults),
                "pushes": dict(self.pushes), "activations": [a.as_json() for a in self.activations.values()],
                "stock": {f"{s}:{c}": n for (s, c), n in self.stock.items()},
                "rentals": [r.as_json() for r in self.rent.rentals.values()],
            }

    def _cancel(self, activation: SimActivation) -> None:
        if activation.status is SimStatus.CANCELED:
            return
        if self.clock.now() - activation.created_at < self.config.early_cancel_seconds:
            raise ProtocolError("EARLY_CANCEL_DENIED")
        activation.status, activation.pending = SimStatus.CANCELED, None
        self._give_back(activation)

    def _give_back(self, activation: SimActivation) -> None:
        """A number returned without an SMS goes back to stock and its price back to the balance."""
        self.stock[(activation.service, activation.country)] += 1
        self.balance_minor += activation.cost_minor

    def _refresh(self, activation: SimActivation) -> None:
        now = self.clock.now()
        sms = activation.deliver_due(now)
        if sms is not None:
            self.listener.sms_delivered(activation, sms)
        if activation.expire_if_due(now):
            self._give_back(activation)

    def _schedule_sms(self, activation: SimActivation) -> None:
        code = catalog.new_code(activation.service, self.rng)
        delay = self.config.sms_delay_seconds
        activation.pending = PendingSms(self.clock.now() + delay, catalog.sms_text(activation.service, code), code)
        self.listener.sms_scheduled(activation.id, delay)

    def _operator(self, plan: catalog.SimCountry, requested: str | None) -> str:
        if not requested or requested == "any":
            return self.rng.choice(plan.operators)
        allowed = [name for name in requested.split(",") if name in plan.operators]
        if not allowed:
            raise ProtocolError("WRONG_OPERATOR")
        return self.rng.choice(allowed)

    def _new_phone(self, plan: catalog.SimCountry, exclude_prefixes: tuple[str, ...]) -> str:
        if self.roll(self.config.reuse_rate, "reused_number"):
            busy = {a.phone for a in self.activations.values() if a.active}
            used = sorted(a.phone for a in self.activations.values() if a.country == plan.id and a.phone not in busy
                          and not a.phone.startswith(exclude_prefixes))
            if used:
                return self.rng.choice(used)
        for _ in range(_PHONE_ATTEMPTS):
            phone = catalog.new_phone(plan, self.rng)
            if phone not in self._phones_ever and not phone.startswith(exclude_prefixes):
                self._phones_ever.add(phone)
                return phone
        raise ProtocolError("NO_NUMBERS")
