"""Reconciliation's reads (services/money/reconcile.py): a table's segment of a parallel scan, or one account's
part, as values: ledger entries (`Entry`), the accounts' money (`Funds`), top-ups, activations and rentals. Reads
only; the same DynamoDB calls the checks made on rows.
"""
from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain.activation import Activation
from chalicelib.domain.payments import TopUp
from chalicelib.domain.rental import Rental
from chalicelib.store import payment_repo
from chalicelib.store.accounts import Account
from chalicelib.store.activation_repo import activation_of
from chalicelib.store.activations import Activation as ActivationRow
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import Entry, Funds, entry_of, funds_of
from chalicelib.store.payments import TopUp as TopUpRow
from chalicelib.store.rental_repo import rental_of
from chalicelib.store.rentals import Rental as RentalRow


def ledger_segment(segment: int, total: int) -> list[Entry]:
    return [entry_of(row) for row in LedgerEntry.scan(segment=segment, total_segments=total)]


def funds_segment(segment: int, total: int) -> list[Funds]:
    return [funds_of(row) for row in Account.scan(segment=segment, total_segments=total)]


def topups_segment(segment: int, total: int) -> list[TopUp]:
    return [payment_repo.topup_of(row) for row in TopUpRow.scan(segment=segment, total_segments=total)]


def activations_segment(segment: int, total: int) -> list[Activation]:
    return [activation_of(row) for row in ActivationRow.scan(segment=segment, total_segments=total)]


def rentals_segment(segment: int, total: int) -> list[Rental]:
    return [rental_of(row) for row in RentalRow.scan(segment=segment, total_segments=total)]


def ledger_of(account_id: str) -> list[Entry]:
    """The account's ledger in key order, strongly consistent."""
    return [entry_of(row) for row in LedgerEntry.query(account_id, consistent_read=True)]


def funds_of_accounts(account_ids: Sequence[str]) -> list[Funds]:
    """The money of these accounts (one BatchGetItem per hundred); an account that does not exist is left out."""
    return [funds_of(row) for row in Account.batch_get(account_ids)]


def topups_of(account_id: str) -> list[TopUp]:
    """The account's top-ups, oldest first."""
    return [payment_repo.topup_of(row) for row in TopUpRow.by_account.query(account_id)]


def activations_of(account_id: str) -> list[Activation]:
    return [activation_of(row) for row in ActivationRow.by_account.query(account_id)]


def rentals_of(account_id: str) -> list[Rental]:
    return [rental_of(row) for row in RentalRow.by_account.query(account_id)]
