"""Money that goes back through a card or comes back (refunds, disputes): one ledger entry, its payment record
and the top-up's totals in one transaction, once, whichever path (a refund payout or Stripe's event) sees it first.

A card refund Stripe later reports failed or canceled gives its amount back to the balance once
(`refund_reversal`); the email that tells the user so is here too.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.errors import AlreadyApplied
from chalicelib.domain.money import format_major
from chalicelib.domain.payments import PaymentRecord, TopUp
from chalicelib.services.accounts import account_emails
from chalicelib.services.money.wallet import Wallet, cause_key
from chalicelib.store import payment_repo
from chalicelib.store.base import joined
from chalicelib.store.claims import claiming
from chalicelib.store.claims import value_of as claim_value
from chalicelib.store.ledger import claim_once, claimed
from chalicelib.store.money import CommitRefused, Entry, ledger_entry

# Both paths that see a Stripe refund: our refund-request payout and Stripe's refund events.
_REFUND_KINDS = frozenset({LedgerKind.REFUND_PAYOUT, LedgerKind.CARD_REFUND})
# The value of a refund's claim when it failed before any path took it from a balance.
_NEVER_TAKEN = "failed before it was taken"


@dataclass(frozen=True)
class CardMovement:
    """Money that went back through a card (refund, dispute) or came back (won dispute)."""

    kind: LedgerKind
    cause_id: str  # the ledger cause: a Stripe refund or dispute id, or "<request_id>:<payment_intent_id>"
    ref_id: str  # what the payments page names: the Stripe refund or dispute id
    amount_cents: int  # signed, as in the ledger
    refunded_cents: int = 0  # added to the top-up's refunded total
    disputed_cents: int = 0  # added to the top-up's disputed total
    refund_request_id: str | None = None

    @property
    def refund_claim(self) -> str | None:
        """The claim on the Stripe refund it moves: a payout and a webhook report the same refund by its id."""
        return refund_claim_key(self.ref_id) if self.kind in _REFUND_KINDS else None


def refund_claim_key(refund_id: str) -> str:
    return f"stripe_refund#{refund_id}"


def payout_cause(request_id: str, payment_intent_id: str) -> str:
    """The ledger cause of a refund request's payout to one card payment (the payout and its webhook share it)."""
    return f"{request_id}:{payment_intent_id}"


def apply_card_movement(wallet: Wallet, topup: TopUp, movement: CardMovement, memo: str) -> bool:
    """Post it with its payment record and the top-up's totals in one transaction; False if already applied.

    A Stripe refund is applied once whichever path sees it first: the payout's cause is its refund
    request and the webhook's the refund id, so a claim on the refund id in the same transaction
    refuses the second. Debits may take the balance below zero: the money has already left through
    the card, so the ledger must say so, and a negative balance restricts the account until it is paid back.
    """
    now = wallet.clock.now()
    record = PaymentRecord(topup.account_id, f"{int(now * 1000):013d}#{movement.kind.value}#{movement.ref_id}",
                           movement.kind.value, movement.ref_id, movement.amount_cents, topup.currency, now,
                           topup.payment_intent_id, movement.refund_request_id)
    recorded = payment_repo.recording_movement(record, topup.topup_id, movement.refunded_cents,
                                               movement.disputed_cents)
    refund_claim, cause = movement.refund_claim, cause_key(movement.kind, movement.cause_id)
    with_record = joined([recorded, claiming(refund_claim, cause, now) if refund_claim else None])

    if claimed(cause) or (refund_claim and claimed(refund_claim)):
        return False
    try:
        wallet.post(topup.account_id, movement.amount_cents, movement.kind, movement.cause_id, memo=memo,
                    allow_negative=movement.amount_cents < 0, extra=with_record)
    except AlreadyApplied:
        return False
    except CommitRefused:
        if refund_claim and claimed(refund_claim):
            return False  # the other path applied this refund between our read and our write
        raise
    return True


def already_applied(kind: LedgerKind, cause_id: str) -> bool:
    """Whether the ledger holds this cause: a cheap read that spares repeats a transaction bound to fail."""
    return claimed(cause_key(kind, cause_id))


def debit_of_failed_refund(refund_id: str, now: float) -> Entry | None:
    """The ledger entry that took a failed Stripe refund from a balance; None if none did, and then none ever will.

    Both paths that take a refund (payout, refund event) write its claim with their entry. Claiming it
    here first therefore bars a `refund.created` or payout arriving after the failure from taking money
    that never left; if a path claimed it first, the claim names its entry's ledger cause.
    """
    key = refund_claim_key(refund_id)
    if claim_once(key, now, _NEVER_TAKEN):
        return None
    taken_by = str(claim_value(key))
    if taken_by == _NEVER_TAKEN:
        return None
    # The wallet's claim on a ledger cause holds "<account_id>:<seq>" of the entry it wrote.
    account_id, _, seq = str(claim_value(taken_by)).rpartition(":")
    return ledger_entry(account_id, int(seq))


def failed_before_taken(refund_id: str) -> bool:
    """Whether Stripe's failure of this refund was seen before any path took it from a balance (so none will)."""
    return claim_value(refund_claim_key(refund_id)) == _NEVER_TAKEN


def refund_failed_email(amount_cents: int, currency: str, refund_id: str) -> account_emails.Email:
    """What the user reads when a card refund failed and its amount came back to the balance."""
    amount = f"{format_major(amount_cents)} {currency}"
    body = f"""We sent {amount} back to your card, but the card refund failed: the
card's bank did not take it (the card may be closed or expired).

The {amount} is back on your SMS Rooms balance. You can spend it, or
ask for a refund again from the Refund page; it goes to the cards you
topped up with.

Stripe refund reference: {refund_id}
{account_emails.SIGNATURE}"""
    return account_emails.Email("Your SMS Rooms refund did not reach your card", body)
