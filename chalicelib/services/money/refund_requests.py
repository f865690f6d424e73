"""Refund requests (6.3): the remaining balance is held while an admin decides; approval pays it back to the cards.
(Over 250 lines on purpose: the steps from hold to payout must each be repeatable after a crash; read together.)

Approval refunds the account's top-ups newest first, never more than is left refundable on each
(Stripe refuses over-refunds, localstripe does not, so the cap is ours), less each refunded payment's
processing fee and the configured withdrawal fee, which agreement 6.3 makes non-refundable
(services/money/refund_plan.py; `preview` shows the same plan before a request is made). What cards
cannot take back (money from admin adjustments, disputed payments) stays on the balance and the request
says how much. Each payment's fee leaves by its own ledger entry, cause `<request_id>:<payment_intent_id>:fee`.

Every step can be repeated after a crash: the plan is fixed on the request when it is approved,
each card refund carries the idempotency key `refund:<request_id>:<payment_intent_id>` and its
ledger entry the cause `<request_id>:<payment_intent_id>`, and a part whose entry exists is skipped.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict
from typing import TYPE_CHECKING

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.errors import (
    AlreadyApplied,
    Conflict,
    InsufficientBalance,
    InvalidInput,
    NotFound,
    RefundRefused,
)
from chalicelib.domain.ids import new_id
from chalicelib.domain.payments import PayoutFigures, RefundRequest, RefundStatus
from chalicelib.observability import logger
from chalicelib.services.accounts.free_text import FreeText
from chalicelib.services.money.card_movements import (
    CardMovement,
    already_applied,
    apply_card_movement,
    failed_before_taken,
    payout_cause,
)
from chalicelib.services.money.refund_plan import DepositFees, PayoutPart, PayoutPlan
from chalicelib.services.money.top_ups import CardGateway
from chalicelib.services.money.wallet import Wallet
from chalicelib.store import payment_repo

if TYPE_CHECKING:
    from chalicelib.services.support.tickets import SupportDesk

_HOLD_ATTEMPTS = 3


class RefundDecision(str, enum.Enum):
    APPROVE = "approve"
    DECLINE = "decline"


class RefundRequests:
    def __init__(self, gateway: CardGateway, wallet: Wallet, fee_cents: int, deposit_fees: DepositFees) -> None:
        self.gateway = gateway
        self.wallet = wallet
        self.fee_cents = fee_cents
        self.deposit_fees = deposit_fees

    def preview(self, account_id: str) -> PayoutPlan:
        """What a request made now would pay back to which card, and what it keeps (6.3): shown before asking."""
        funds = self.wallet.read(account_id)
        available = max(funds.balance_cents - funds.held_cents, 0)
        return self.deposit_fees.plan(account_id, available, available, self.fee_cents)

    def create(self, account_id: str, reason: str) -> RefundRequest:
        """Hold the whole available balance under a new pending request; one pending request per account."""
        reason = reason.strip()
        if not reason:
            raise InvalidInput("Say why you want your balance refunded.", details={"field": "reason"})
        for _ in range(_HOLD_ATTEMPTS):
            funds = self.wallet.read(account_id)
            # Holds exist only for refund requests, so a held amount is a request still open.
            if funds.held_cents > 0:
                raise Conflict("A refund request is already pending.", code="REFUND_REQUEST_PENDING")
            available = funds.balance_cents - funds.held_cents
            if available <= self.fee_cents:
                raise Conflict("There is no balance to refund.", code="NOTHING_TO_REFUND",
                               details={"available_cents": max(available, 0), "fee_cents": self.fee_cents})
            request = RefundRequest(new_id("rr"), account_id=account_id, amount_cents=available, reason=reason,
                                    status=RefundStatus.PENDING, created_at=self.wallet.clock.now())
            try:
                self.wallet.change_hold(account_id, available, extra=payment_repo.saving_request(request))
            except InsufficientBalance:
                continue  # the balance moved between the read and the hold
            return request
        raise Conflict("Your balance is changing right now. Try again in a moment.", code="BALANCE_CHANGING")

    def get(self, request_id: str) -> RefundRequest:
        request = payment_repo.refund_request(request_id)
        if request is None:
            raise NotFound("No such refund request.")
        return request

    def of_account(self, account_id: str, limit: int = 50) -> list[RefundRequest]:
        return payment_repo.requests_of_account(account_id, limit)

    def with_status(self, status: RefundStatus, limit: int = 100) -> list[RefundRequest]:
        """The admin queue: oldest first."""
        return payment_repo.requests_with_status(status, limit)

    def decide(self, request_id: str, decision: RefundDecision, note: str | None, actor: str) -> RefundRequest:
        """Approve (pay back to cards) or decline (release the hold); repeating a decision finishes it."""
        request = self.get(request_id)
        if decision is RefundDecision.DECLINE:
            request = self._claim(request, RefundStatus.DECLINED, note, actor, None)
            self._release_hold(request, None)
        else:
            request, plan = self._approval_plan(request, note, actor)
            self._pay_out(request, plan)
            self._release_hold(request, RefundStatus.APPROVED)
        request = self.get(request_id)
        # The request was the legal hold on the words of a user who withdrew consent meanwhile (12.3).
        FreeText(self.wallet.clock).minimise_if_waiting(request.account_id)
        return request

    def _approval_plan(self, request: RefundRequest, note: str | None, actor: str
                       ) -> tuple[RefundRequest, PayoutPlan]:
        if request.status is RefundStatus.APPROVING:
            return request, _plan_from(request)
        if request.status is not RefundStatus.PENDING:
            raise Conflict(f"This refund request is already {request.status}.", code="REFUND_ALREADY_DECIDED")
        # A dispute or card refund since the request may have taken part of the held money already.
        payable = min(request.amount_cents, max(self.wallet.read(request.account_id).balance_cents, 0))
        plan = self.deposit_fees.plan(request.account_id, request.amount_cents, payable, self.fee_cents)
        request = self._claim(request, RefundStatus.APPROVING, note, actor, plan)
        if plan.uncovered_cents:
            logger.warning("refund request not fully payable to cards", extra={
                "refund_request_id": request.request_id, "uncovered_cents": plan.uncovered_cents})
        return request, plan

    def _claim(self, request: RefundRequest, target: RefundStatus, note: str | None, actor: str,
               plan: PayoutPlan | None) -> RefundRequest:
        """Move a pending request to `target` (fixing the payout plan on it); a request already there and not
        finished is resumed."""
        if request.status is target and request.hold_released_at is None:
            return request
        if request.status is not RefundStatus.PENDING:
            raise Conflict(f"This refund request is already {request.status}.", code="REFUND_ALREADY_DECIDED")
        figures = None if plan is None else PayoutFigures(
            json.dumps([asdict(part) for part in plan.parts]), plan.paid_cents, plan.fee_cents,
            plan.deposit_fee_cents, plan.uncovered_cents)
        decided = payment_repo.decide_request(request.request_id, target, self.wallet.clock.now(), actor, note,
                                              figures)
        if decided is None:
            raise Conflict("Another admin decided this refund request first.", code="REFUND_ALREADY_DECIDED")
        return decided

    def _pay_out(self, request: RefundRequest, plan: PayoutPlan) -> None:
        for part in plan.parts:
            if self._refund_part(request, part):
                self._withhold_payment_fee(request, part)
        if plan.fee_cents and not self._waive_fee_if_nothing_paid(request, plan.fee_cents):
            try:
                # Like the card refunds, the fee comes out of the held money: allowed past the hold.
                self.wallet.post(request.account_id, -plan.fee_cents, LedgerKind.REFUND_PAYOUT,
                                 f"{request.request_id}:fee", memo="refund fee (not refundable, 6.3)",
                                 allow_negative=True)
            except AlreadyApplied:
                pass

    def _refund_part(self, request: RefundRequest, part: PayoutPart) -> bool:
        """Send the part back to its card once; whether the card has it (False: Stripe refused it)."""
        cause = payout_cause(request.request_id, part.payment_intent_id)
        if already_applied(LedgerKind.REFUND_PAYOUT, cause):
            return True
        if part.payment_intent_id in request.refused_payment_intents:
            return False
        try:
            refund = self.gateway.refund(part.payment_intent_id, part.amount_cents,
                                         idempotency_key=f"refund:{cause}",
                                         metadata={"refund_request_id": request.request_id,
                                                   "account_id": request.account_id, "topup_id": part.topup_id})
        except RefundRefused:
            self._refuse_part(request, part)  # charged back: Stripe will never refund it
            return False
        # Any other PaymentError propagates: the decision fails and its repetition tries this part again.
        if refund.status in ("failed", "canceled"):
            self._refuse_part(request, part)
            return False
        topup = payment_repo.topup(part.topup_id)
        if topup is None:  # pragma: no cover - a top-up is never deleted
            raise NotFound("The card payment of this refund is gone.")
        movement = CardMovement(LedgerKind.REFUND_PAYOUT, cause_id=cause, ref_id=refund.id,
                                amount_cents=-part.amount_cents, refunded_cents=part.amount_cents,
                                refund_request_id=request.request_id)
        applied = apply_card_movement(self.wallet, topup, movement,
                                      memo=f"refund {refund.id} for request {request.request_id}")
        if not applied and failed_before_taken(refund.id):
            # Stripe's refund.failed got here first and barred this refund from the balance: nothing was paid.
            self._refuse_part(request, part)
            return False
        return True

    def _withhold_payment_fee(self, request: RefundRequest, part: PayoutPart) -> None:
        """The refunded payment's processing fee leaves the held money by its own ledger entry, once (6.3), and is
        counted on the top-up so no later refund draws on it or withholds it again."""
        if part.fee_cents <= 0:
            return
        count_on_topup = payment_repo.withholding_fee(part.topup_id, part.fee_cents)
        try:
            self.wallet.post(request.account_id, -part.fee_cents, LedgerKind.REFUND_PAYOUT,
                             f"{payout_cause(request.request_id, part.payment_intent_id)}:fee",
                             memo=f"card fee of payment {part.payment_intent_id} (not refundable, 6.3)",
                             allow_negative=True, extra=count_on_topup)
        except AlreadyApplied:
            pass

    def _refuse_part(self, request: RefundRequest, part: PayoutPart) -> None:
        """Stripe will not refund this card payment: its share stays on the balance, counted as uncovered.

        Raising instead would leave the request approving for ever, the money held and every retry refused
        again; the user keeps the money to spend, and the operator sees it in the request's uncovered amount.
        """
        payment_repo.refuse_part(request.request_id, part.payment_intent_id, part.amount_cents, part.fee_cents)
        logger.warning("stripe refused a refund payout; its amount stays on the balance", extra={
            "refund_request_id": request.request_id, "payment_intent_id": part.payment_intent_id,
            "amount_cents": part.amount_cents})

    def _waive_fee_if_nothing_paid(self, request: RefundRequest, fee_cents: int) -> bool:
        """No fee when no card got anything back (as when nothing was payable at all); True when waived."""
        if self.get(request.request_id).paid_cents > 0:
            return False
        payment_repo.waive_fee(request.request_id, fee_cents)
        return True

    def _release_hold(self, request: RefundRequest, status: RefundStatus | None) -> None:
        finish = payment_repo.finishing_request(request.request_id, self.wallet.clock.now(), status)
        try:
            self.wallet.change_hold(request.account_id, -request.amount_cents, extra=finish)
        except InsufficientBalance:
            # Only a decision running at the same time releases this hold: it must have finished.
            if self.get(request.request_id).hold_released_at is None:
                raise Conflict("The held amount does not match this request.", code="HOLD_MISMATCH") from None


def _plan_from(request: RefundRequest) -> PayoutPlan:
    parts = [PayoutPart(**part) for part in json.loads(request.payout_plan or "[]")]  # older plans: no fees
    return PayoutPlan(parts=parts, fee_cents=request.fee_cents, uncovered_cents=request.uncovered_cents)


def request_refund(requests: RefundRequests, desk: SupportDesk, account_id: str, reason: str) -> RefundRequest:
    """A written refund request (6.3): the balance is held, and it opens a support ticket of its own kind."""
    request = requests.create(account_id, reason)
    desk.open_refund_ticket(account_id, request.request_id, request.amount_cents, reason)
    return request
