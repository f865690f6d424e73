"""Every write that changes a rental: a compare-and-set on its version, and, when money moves, the ledger entry in
the same transaction (services/wallet.py), its cause making a second refund of the same charge impossible.

Charges and refunds by cause (LedgerKind RENTAL_CHARGE / RENTAL_REFUND):
- the rent: charged as "<id>"; refunded whole as "<id>" (cancel in the window, or no number ever issued);
- extension n: charged as "<id>:<n>" while the rental holds it as `pending_extension` (nothing else may change the
  rental meanwhile: one writer wins); refunded as "<id>:<n>" when the partner refuses it or the process died
  before it answered (the upkeep job), or kept when the partner confirms it.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import AlreadyApplied, Conflict, IllegalTransition, NotFound
from chalicelib.domain.rental import PendingExtension, Rental
from chalicelib.domain.rental_state import RentalEvent, RentalMove, RentalStatus, is_final, rental_move
from chalicelib.services.money.wallet import Wallet
from chalicelib.store import rental_repo
from chalicelib.store.base import WriteRefused
from chalicelib.store.rental_repo import Guard

_ATTEMPTS = 20
_SETTLE_WAIT_SECONDS = 5.0  # an extension settles in one partner call; one that takes longer is refused
HOUR = 3600


def charge_cause(rental_id: int, extension: int = 0) -> str:
    return str(rental_id) if extension == 0 else f"{rental_id}:{extension}"


class RentalBook:
    def __init__(self, clock: Clock, wallet: Wallet) -> None:
        self.clock = clock
        self.wallet = wallet

    def load(self, rental_id: int) -> Rental:
        rental = rental_repo.load(rental_id)
        if rental is None:
            raise NotFound("No such rental.")
        return rental

    def load_for_account(self, account_id: str, rental_id: int) -> Rental:
        rental = rental_repo.load(rental_id)
        if rental is None or rental.account_id != account_id:
            raise NotFound("No such rental.")
        return rental

    def judge(self, rental: Rental, event: RentalEvent) -> RentalMove:
        """Where `event` leads; refused while an extension is being bought (it settles in one partner call)."""
        move = rental_move(rental.status, event)
        if rental.pending_extension is not None:
            raise Conflict("An extension of this rental is being bought; try again in a moment.",
                           code="EXTENSION_IN_PROGRESS")
        return move

    def apply(self, rental: Rental, event: RentalEvent, changes: Mapping[str, Any] | None = None, *,
              only_from: RentalStatus | None = None) -> Rental:
        """Apply `event` to the latest version (re-judged after a lost race); a refunding move pays back
        everything the rental kept, once."""
        for _ in range(_ATTEMPTS):
            if only_from is not None and rental.status is not only_from:
                raise IllegalTransition(f"The rental is no longer {only_from.value}.", code="RENTAL_ENDED",
                                        details={"status": rental.status})
            move = self.judge(rental, event)
            fields: dict[str, Any] = {"status": move.status, **(changes or {})}
            if is_final(move.status):
                fields["active_key"] = None
            try:
                return self._commit(rental, move, fields)
            except (WriteRefused, AlreadyApplied):  # WriteRefused: the wallet's CommitRefused too
                rental = self._settled(self.load(rental.rental_id))
        raise Conflict("The rental is changing too fast; try again.")

    def _settled(self, rental: Rental) -> Rental:
        """The rental once an extension that began while this change was being made has settled (one partner
        call, bounded), so the change lost to it is judged on the outcome rather than refused; still pending
        after that, it is refused as any change during an extension."""
        pause, waited = 0.05, 0.0
        while rental.pending_extension is not None and waited < _SETTLE_WAIT_SECONDS:
            time.sleep(pause)
            waited, pause = waited + pause, min(pause * 2, 0.5)
            rental = self.load(rental.rental_id)
        return rental

    def begin_extension(self, rental: Rental, hours: int, price_cents: int) -> Rental:
        """Charge extension n+1 and mark it pending on the rental, in one transaction."""
        self.judge(rental, RentalEvent.USER_FINISH)  # the same rule as finishing: an ACTIVE rental, nothing pending
        number = rental.extensions + 1
        pending = PendingExtension(number=number, hours=hours, price_cents=price_cents, started_at=self.clock.now())
        fields = {"pending_extension": pending}
        self.wallet.post(rental.account_id, -price_cents, LedgerKind.RENTAL_CHARGE,
                         charge_cause(rental.rental_id, number), memo=f"extend {hours} h", require_active=True,
                         extra=rental_repo.change_write(rental, fields, Guard.OPEN))
        return rental_repo.changed(rental, fields)

    def confirm_extension(self, rental: Rental) -> Rental:
        """The partner extended it: the time and the money are the rental's now."""
        pending = _pending(rental)
        fields = {"pending_extension": None, "extensions": pending.number, "hours": rental.hours + pending.hours,
                  "paid_cents": rental.paid_cents + pending.price_cents,
                  "ends_at": rental.ends_at + pending.hours * HOUR}
        return rental_repo.change(rental, fields, Guard.UNCHANGED)

    def refund_extension(self, rental: Rental) -> Rental:
        """The extension never happened: its charge back, once, and the rental free again."""
        pending = _pending(rental)
        fields = {"pending_extension": None}
        self.wallet.post(rental.account_id, pending.price_cents, LedgerKind.RENTAL_REFUND,
                         charge_cause(rental.rental_id, pending.number), memo="extension not made",
                         extra=rental_repo.change_write(rental, fields, Guard.UNCHANGED))
        return rental_repo.changed(rental, fields)

    def _commit(self, rental: Rental, move: RentalMove, fields: Mapping[str, Any]) -> Rental:
        if not move.refund:
            return rental_repo.change(rental, fields, Guard.SETTLED)
        self.wallet.post(rental.account_id, rental.paid_cents, LedgerKind.RENTAL_REFUND,
                         charge_cause(rental.rental_id), memo=move.status.value.lower(),
                         extra=rental_repo.change_write(rental, fields, Guard.SETTLED))
        return rental_repo.changed(rental, fields)


def _pending(rental: Rental) -> PendingExtension:
    if rental.pending_extension is None:
        raise IllegalTransition("No extension of this rental is pending.", code="RENTAL_ENDED")
    return rental.pending_extension
