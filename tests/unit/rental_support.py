"""Test support for rentals: the rentals service over moto beside the activations desk (same wallet and webhooks)."""
from __future__ import annotations

import json
from typing import Any

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.rental_state import RentRequest
from chalicelib.services.rentals.service import Rentals
from chalicelib.store.accounts import Account
from chalicelib.store.rentals import Rental
from tests.fake_partner import FakePartner
from tests.fake_rentals import FakeRentals
from tests.unit.activation_support import Desk

# 100 cents + 5 an hour at the partner, 50 % markup: four hours sell at 180 cents, an extra day at 180 too.
FOUR_HOURS_CENTS = 180
CODE_SMS = "Your Telegram code is 12345"


def wipe_rentals() -> None:
    """Empties what the rental tests count across the module's shared tables (accounts keep apart by their ids)."""
    from chalicelib.store.activations import WebhookDelivery
    from chalicelib.store.rentals import RentalSms

    for model in (Rental, RentalSms, WebhookDelivery):
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)


class RentDesk(Desk):
    def __init__(self, settings: Settings, **overrides: Any) -> None:
        partner = FakePartner()
        partner.rentals = FakeRentals()  # type: ignore[attr-defined]
        super().__init__(settings, [partner], **overrides)
        self.rentals_partner: FakeRentals = partner.rentals  # type: ignore[attr-defined]
        self.rentals = wiring.build_rentals(self.settings, self.partners, self.clock, self.wallet,
                                            self.service.catalog.markup_percent)

    def rent(self, account: Account, service: str = "tg", country: int = 0, hours: int = 4, **fields: Any) -> Rental:
        return self.rentals.rent(account, RentRequest(service, country, hours, **fields))

    def renting(self, balance_cents: int = 1000, **request: Any) -> tuple[Account, Rental]:
        user = self.account(balance_cents)
        return user, self.rent(user, **request)

    def deliver(self, rental: Rental, text: str = CODE_SMS) -> None:  # type: ignore[override]
        """An SMS lands on the rented number at the partner (not with us yet)."""
        self.rentals_partner.deliver(str(rental.partner_rent_id), text)

    def look(self, account_id: str, rental: Rental) -> Rental:  # type: ignore[override]
        self.clock.advance(self.settings.status_refresh_min_seconds)
        return self.rentals.get(account_id, int(rental.rental_id))

    def sms_texts(self, rental: Rental) -> list[str]:
        return [s.text for s in self.rentals.inbox.page(rental, after_seq=0, limit=100)]

    def kinds(self, account_id: str, kind: LedgerKind) -> list[int]:
        return [int(e.amount_cents) for e in self.ledger(account_id) if e.kind == kind.value]

    def webhook_events(self) -> list[dict[str, Any]]:
        from chalicelib.store.activations import WebhookDelivery

        return [json.loads(d.body) for d in WebhookDelivery.scan()]

    def books_balance(self, account_id: str) -> bool:
        """balance = the sum of the ledger, and never below zero."""
        balance = self.balance(account_id)
        return balance >= 0 and balance == sum(int(e.amount_cents) for e in self.ledger(account_id))


def busy_rentals(desk: Desk) -> Rentals:
    """Rentals on `desk` where the upkeep job has every kind of work (for a job's IAM test): an SMS only the poll
    brings, a rental past its end (once the clock moves), an order and an extension a crash left unfinished."""
    partner = desk.partner
    partner.rentals = renting = FakeRentals()  # type: ignore[attr-defined]
    service = wiring.build_rentals(desk.settings, desk.partners, desk.clock, desk.wallet,
                                   desk.service.catalog.markup_percent)
    user = desk.account(5000, webhook_url="https://hooks.example/sms")
    polled = service.rent(user, RentRequest("tg", 0, 4))
    renting.deliver(str(polled.partner_rent_id), CODE_SMS)
    extended = service.rent(user, RentRequest("tg", 0, 4))
    renting.extend_failure = SystemExit("killed")
    try:
        service.extend(user.account_id, int(extended.rental_id), 4)
    except SystemExit:
        renting.extend_failure = None
    renting.rent_failure = SystemExit("killed")
    try:
        service.rent(user, RentRequest("tg", 0, 4))
    except SystemExit:
        renting.rent_failure = None
    return service
