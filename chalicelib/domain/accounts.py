"""Account states and ledger entry kinds: defined once, mapped to wire strings by adapters."""
from __future__ import annotations

import enum


class AccountStatus(str, enum.Enum):
    UNVERIFIED = "unverified"
    ACTIVE = "active"
    LOCKED = "locked"  # the user reported unauthorized access (3.4); a password reset unlocks
    BLOCKED = "blocked"  # by an admin (7.3, 10.x)
    DEACTIVATED = "deactivated"  # consent withdrawn (12.3)


class LedgerKind(str, enum.Enum):
    TOP_UP = "top_up"
    ACTIVATION_CHARGE = "activation_charge"
    ACTIVATION_REFUND = "activation_refund"
    RENTAL_CHARGE = "rental_charge"  # cause: "<rental id>" for the rent, "<rental id>:<n>" for extension n
    RENTAL_REFUND = "rental_refund"  # cause: the charge's cause (an extension refused), or "<rental id>" (all of it)
    REFUND_PAYOUT = "refund_payout"
    CARD_REFUND = "card_refund"  # a refund issued in Stripe directly (charge.refunded)
    REFUND_REVERSAL = "refund_reversal"  # a card refund Stripe reported failed: its amount back
    DISPUTE = "dispute"
    DISPUTE_REVERSAL = "dispute_reversal"
    FORFEITURE = "forfeiture"
    ADJUSTMENT = "adjustment"
