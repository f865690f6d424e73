"""Reconciliation of rentals (run by services/money/reconcile.py): every rental charge and refund matches a rental.

For each rental: what it was charged ("<id>" and each extension "<id>:<n>") less what was refunded is what it keeps
(`paid_cents`, plus an extension still pending); a rental refunded whole ("<id>") ended CANCELED or FAILED and got
back every cent it was charged; no refund exceeds its charge, none is without one, no charge is without a rental.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.rental import Rental
from chalicelib.domain.rental_state import RentalStatus
from chalicelib.services.money.reconcile_checks import Discrepancy

_REFUNDED_WHOLE = (RentalStatus.CANCELED, RentalStatus.FAILED)


class LedgerLine(Protocol):
    """What the check reads of a ledger entry (the money context's, as its reconciliation read it)."""

    @property
    def account_id(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def cause_id(self) -> str: ...

    @property
    def amount_cents(self) -> float: ...


def check_rental_charges(entries: Iterable[LedgerLine], rentals: dict[int, Rental], settled_before: float
                         ) -> list[Discrepancy]:
    charged: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    owners: dict[str, str] = {}
    for entry in entries:
        if entry.kind == LedgerKind.RENTAL_CHARGE.value:
            charged[entry.cause_id] -= int(entry.amount_cents)
        elif entry.kind == LedgerKind.RENTAL_REFUND.value:
            refunded[entry.cause_id] += int(entry.amount_cents)
        else:
            continue
        owners[entry.cause_id.partition(":")[0]] = entry.account_id
    found = [Discrepancy("rental_refund_without_charge", owners.get(c.partition(":")[0]), c,
                         f"refund of {cents} cents for a charge never made")
             for c, cents in sorted(refunded.items()) if c not in charged and ":" in c]
    for rental_id in sorted({c.partition(":")[0] for c in charged}):
        found += _check_rental(rental_id, owners[rental_id], charged, refunded,
                               rentals.get(int(rental_id)) if rental_id.isdigit() else None, settled_before)
    return found


def _check_rental(rental_id: str, account_id: str, charged: dict[str, int], refunded: dict[str, int],
                  rental: Rental | None, settled_before: float) -> list[Discrepancy]:
    if rental is None:
        return [Discrepancy("rental_charge_without_rental", account_id, rental_id, "charged for no rental")]
    causes = [c for c in charged if c == rental_id or c.startswith(f"{rental_id}:")]
    total = sum(charged[c] for c in causes)
    extensions_back = sum(refunded.get(c, 0) for c in causes if c != rental_id)
    whole = refunded.get(rental_id, 0)
    if whole:
        if rental.status not in _REFUNDED_WHOLE or whole + extensions_back != total:
            return [Discrepancy("rental_refund_mismatch", account_id, rental_id,
                                f"{rental.status} rental charged {total}, refunded {whole + extensions_back}")]
        return []
    pending = rental.pending_extension.price_cents if rental.pending_extension is not None else 0
    if total - extensions_back != rental.paid_cents + pending and rental.created_at < settled_before:
        return [Discrepancy("rental_charge_mismatch", account_id, rental_id,
                            f"charged {total - extensions_back} net for a rental that kept {rental.paid_cents}"
                            + (f" with {pending} pending" if pending else ""))]
    return []
