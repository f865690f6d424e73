"""Reconciliation's checks: pure comparisons of what was read (services/money/reconcile.py reads it).

1. Ledger: for every account, ledger_seq entries (numbered 1, 2, 3… on accounts from before read-free
   postings, then time-ordered keys), each balance_after written so far is the running sum, and the balance
   equals the sum of the entries.
2. Top-ups: every top_up entry is one credited TopUp of the same account and amount, credited once;
   every TopUp marked credited has its entry; every PaymentIntent Stripe says succeeded for one of
   our top-ups is credited (after a grace period for webhooks in flight).
3. Activation charges: every charge is matched by a refund of the same amount (the refund policy gives the
   full price back: domain/refund_policy.py) or by a number a partner issued (what we pay the partner for);
   every refund has its charge.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation import Activation
from chalicelib.domain.payments import TopUp, TopUpStatus
from chalicelib.providers.stripe_gateway import IntentSummary
from chalicelib.store.money import Entry, Funds


@dataclass(frozen=True)
class Discrepancy:
    check: str
    account_id: str | None
    ref: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "account_id": self.account_id, "ref": self.ref, "detail": self.detail}


def check_ledgers(accounts: dict[str, Funds], ledgers: dict[str, list[Entry]]) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    for account_id in sorted(set(accounts) | set(ledgers)):
        account = accounts.get(account_id)
        entries = ledgers.get(account_id, [])
        if account is None:
            found.append(Discrepancy("ledger_without_account", account_id, account_id,
                                     f"{len(entries)} ledger entries belong to no account"))
            continue
        found += check_one_ledger(account, entries)
    return found


def check_one_ledger(account: Funds, entries: list[Entry]) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    aid = account.account_id
    seqs = [e.seq for e in entries]
    numbered = [seq for seq in seqs if seq <= account.ledger_seq]  # the older scheme's 1, 2, 3…
    if len(seqs) != account.ledger_seq or numbered != list(range(1, len(numbered) + 1)):
        missing = sorted(set(range(1, len(numbered) + 1)) - set(numbered))
        found.append(Discrepancy("ledger_sequence", aid, f"{account.ledger_seq} entries",
                                 f"{len(seqs)} entries, missing seq {missing[:10]}"))
    running = 0
    for entry in entries:
        running += entry.amount_cents
        if entry.balance_after_cents is not None and entry.balance_after_cents != running:
            found.append(Discrepancy("ledger_running_balance", aid, f"seq {entry.seq}",
                                     f"balance_after {entry.balance_after_cents} but the entries sum to {running}"))
            break  # every later entry is off by the same amount; one report is enough
    if running != account.balance_cents:
        found.append(Discrepancy("balance_mismatch", aid, aid,
                                 f"balance {account.balance_cents} but the ledger sums to {running}"))
    return found


def check_top_ups(ledgers: dict[str, list[Entry]], top_ups: list[TopUp], intents: list[IntentSummary] | None,
                  settled_before: float) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    credits = _entries_by_cause(ledgers, LedgerKind.TOP_UP)
    by_intent = {t.payment_intent_id: t for t in top_ups if t.payment_intent_id}
    for intent_id, entries in sorted(credits.items()):
        found += _check_credit(intent_id, entries, by_intent.get(intent_id))
    for topup in top_ups:
        if topup.status is TopUpStatus.CREDITED and topup.payment_intent_id not in credits \
                and (topup.credited_at or 0) < settled_before:
            found.append(Discrepancy("top_up_not_in_ledger", topup.account_id, topup.topup_id,
                                     f"marked credited but no top_up entry for {topup.payment_intent_id}"))
    for intent in intents or []:
        if intent.status == "succeeded" and intent.topup_id and intent.id not in credits \
                and intent.created < settled_before:
            found.append(Discrepancy("payment_not_credited", intent.account_id, intent.id,
                                     f"Stripe says succeeded ({intent.amount_cents} cents, top-up {intent.topup_id}) "
                                     "but the ledger has no credit for it"))
    known = {i.id: i for i in intents or []}
    for intent_id, entries in sorted(credits.items()):
        if intent_id in known and known[intent_id].status != "succeeded":
            found.append(Discrepancy("credit_without_payment", entries[0].account_id, intent_id,
                                     f"the ledger credits a PaymentIntent Stripe shows as {known[intent_id].status}"))
    return found


def _check_credit(intent_id: str, entries: list[Entry], topup: TopUp | None) -> list[Discrepancy]:
    first = entries[0]
    if len(entries) > 1:
        return [Discrepancy("credited_twice", first.account_id, intent_id,
                            f"{len(entries)} top_up entries for one payment")]
    if topup is None:
        return [Discrepancy("credit_without_top_up", first.account_id, intent_id,
                            "a top_up entry names a PaymentIntent none of our top-ups has")]
    if topup.account_id != first.account_id or topup.amount_cents != first.amount_cents:
        return [Discrepancy("credit_mismatch", first.account_id, intent_id,
                            f"credited {first.amount_cents} to {first.account_id}; top-up {topup.topup_id} is "
                            f"{topup.amount_cents} for {topup.account_id}")]
    return []


def check_activation_charges(ledgers: dict[str, list[Entry]], activations: dict[int, Activation],
                             settled_before: float) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    charges = _entries_by_cause(ledgers, LedgerKind.ACTIVATION_CHARGE)
    refunds = _entries_by_cause(ledgers, LedgerKind.ACTIVATION_REFUND)
    for cause, entries in sorted(charges.items()):
        found += _check_charge(cause, entries[0], refunds.get(cause), _activation(activations, cause),
                               settled_before)
    for cause, entries in sorted(refunds.items()):
        if cause not in charges:
            found.append(Discrepancy("refund_without_charge", entries[0].account_id, cause,
                                     f"refund of {entries[0].amount_cents} for an activation never charged"))
    return found


def _check_charge(cause: str, charge: Entry, refunds: list[Entry] | None, activation: Activation | None,
                  settled_before: float) -> list[Discrepancy]:
    aid = charge.account_id
    if activation is None:
        return [Discrepancy("charge_without_activation", aid, cause, f"charged {-charge.amount_cents} cents")]
    if activation.price_cents != -charge.amount_cents:
        return [Discrepancy("charge_amount_mismatch", aid, cause,
                            f"charged {-charge.amount_cents} cents for a {activation.price_cents}-cent activation")]
    if refunds:
        refunded = sum(r.amount_cents for r in refunds)
        if refunded != -charge.amount_cents:
            return [Discrepancy("refund_amount_mismatch", aid, cause,
                                f"charged {-charge.amount_cents} cents, refunded {refunded}")]
        return []
    if activation.partner_activation_id:
        return []  # a partner issued the number: the charge paid for it
    if activation.created_at >= settled_before:
        return []  # still acquiring a number, or its refund may have been posted after the ledger was read
    return [Discrepancy("charge_unmatched", aid, cause,
                        f"{activation.status} activation charged {-charge.amount_cents} cents with neither a "
                        "partner number nor a refund")]


def _entries_by_cause(ledgers: dict[str, list[Entry]], kind: LedgerKind) -> dict[str, list[Entry]]:
    found: dict[str, list[Entry]] = defaultdict(list)
    for entries in ledgers.values():
        for entry in entries:
            if entry.kind is kind:
                found[entry.cause_id].append(entry)
    return dict(found)


def _activation(activations: dict[int, Activation], cause: str) -> Activation | None:
    return activations.get(int(cause)) if cause.isdigit() else None
