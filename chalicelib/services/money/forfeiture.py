"""Forfeiture (agreement 10.2–10.3): a blocked account's remaining balance leaves by one ledger entry with a reason."""
from __future__ import annotations

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.errors import Conflict, InsufficientBalance
from chalicelib.domain.ids import new_id
from chalicelib.domain.payments import RefundStatus
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests
from chalicelib.services.money.wallet import Posting, Wallet

_ATTEMPTS = 3


class Forfeiture:
    def __init__(self, wallet: Wallet, refunds: RefundRequests) -> None:
        self.wallet = wallet
        self.refunds = refunds

    def forfeit_balance(self, account_id: str, reason: str, actor: str) -> Posting | None:
        """Decline the open refund request (releasing its hold), then debit the whole positive balance.

        None when there is nothing to forfeit. A negative balance (after a dispute) is a debt, not
        money to take, so it stays as it is. Refused while a refund to card is being paid out.
        """
        self._decline_open_requests(account_id, reason, actor)
        forfeiture_id = new_id("ff")
        for _ in range(_ATTEMPTS):
            account = self.wallet.read(account_id)
            if account.held_cents > 0:
                raise Conflict("A refund request is being made for this account. Try again.", code="BALANCE_HELD")
            if account.balance_cents <= 0:
                return None
            try:
                return self.wallet.sealed(self.wallet.post(account_id, -account.balance_cents,
                                                           LedgerKind.FORFEITURE, forfeiture_id,
                                                           memo=f"{reason} (by {actor})"))
            except InsufficientBalance:
                continue  # the balance went down between the read and the debit
        raise Conflict("The balance is changing right now. Try again.", code="BALANCE_CHANGING")

    def _decline_open_requests(self, account_id: str, reason: str, actor: str) -> None:
        for request in self.refunds.of_account(account_id):
            if request.status is RefundStatus.APPROVING:
                raise Conflict("A refund to card is being paid out for this account; finish it first.",
                               code="REFUND_IN_PROGRESS")
            if request.status is RefundStatus.PENDING:
                self.refunds.decide(request.request_id, RefundDecision.DECLINE, f"balance forfeited: {reason}", actor)

