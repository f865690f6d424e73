"""What the operator's reports read across tables (services/admin/views.py): the period's ledger totals by kind and
its orders, and how many offers a partner has cached. Full scans: admin only."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from chalicelib.store.activations import Activation
from chalicelib.store.catalog import CatalogOffer
from chalicelib.store.ledger import LedgerEntry


@dataclass(frozen=True)
class OrdersSince:
    by_status: Counter[str]  # activations made in the period, by status
    partner_cost_cents: int  # what partners bill for them: a number is billed once its SMS came


def ledger_totals_since(since: float) -> Counter[str]:
    """The sum of the ledger entries made since `since`, by kind (domain.accounts.LedgerKind value)."""
    sums: Counter[str] = Counter()
    for entry in LedgerEntry.scan(LedgerEntry.created_at >= since):
        sums[entry.kind] += int(entry.amount_cents)
    return sums


def orders_since(since: float) -> OrdersSince:
    statuses: Counter[str] = Counter()
    partner_cost = 0
    for activation in Activation.scan(Activation.created_at >= since):
        statuses[activation.status] += 1
        if activation.has_sms and activation.cost_cents is not None:
            partner_cost += int(activation.cost_cents)
    return OrdersSince(statuses, partner_cost)


def cached_offers(partner: str) -> int:
    return sum(1 for _ in CatalogOffer.by_partner.query(partner))
