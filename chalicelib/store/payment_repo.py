"""Top-ups, refund requests and payment records as values (domain/payments.py): the money context's reads and
writes of the `topups`, `refund_requests` and `payment_records` tables (store/payments.py holds their models).
(Over 250 lines on purpose: the three tables' every read and write, by key, side by side with the rows' mapping.)

Each function is the DynamoDB call the services made on rows, by key: a conditional write that is refused says so
by its result (False or None), never by a PynamoDB exception. A write that must join the money's transaction is a
`JoinedWrite` (`crediting`, `withholding_fee`, `recording_movement`, `saving_request`, `finishing_request`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pynamodb.exceptions import PutError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.pagination import ResultIterator
from pynamodb.transactions import TransactWrite

from chalicelib.domain.payments import PaymentRecord, PayoutFigures, RefundRequest, RefundStatus, TopUp, TopUpStatus
from chalicelib.store import payments as rows
from chalicelib.store import values
from chalicelib.store.base import JoinedWrite
from chalicelib.store.transaction import refused_if_condition_failed
from chalicelib.store.values import value_of

T = TypeVar("T")


@dataclass(frozen=True)
class Slice(Generic[T]):
    """What one Query read, newest first, and the millisecond it stopped at when the source has more (None when
    read out). The key range is inclusive at both ends: callers drop what is outside theirs by its millisecond."""

    items: list[T]
    frontier_ms: int | None


# Top-ups ----------------------------------------------------------------------------------------------------------


def create_topup(topup: TopUp) -> bool:
    """Save a new top-up; False when one with its id exists (a retried request's keyed id)."""
    row = rows.TopUp(topup.topup_id, account_id=topup.account_id, amount_cents=topup.amount_cents,
                     currency=topup.currency, status=topup.status.value, payment_method_id=topup.payment_method_id,
                     created_at=topup.created_at)
    return _unless_refused(lambda: row.save(condition=rows.TopUp.topup_id.does_not_exist()))


def topup(topup_id: str) -> TopUp | None:
    """The top-up, strongly consistent."""
    return values.read(TopUp, rows.TopUp, topup_id)


def topup_by_intent(payment_intent_id: str) -> TopUp | None:
    """The top-up Stripe charged by this PaymentIntent (refund and dispute events name it, not our top-up)."""
    row = next(iter(rows.TopUp.by_payment_intent.query(payment_intent_id, limit=1)), None)
    return topup_of(row) if row is not None else None


def topups_of_account(account_id: str) -> Iterator[TopUp]:
    """The account's top-ups, newest first, read page by page as the caller goes on."""
    return (topup_of(row) for row in rows.TopUp.by_account.query(account_id, scan_index_forward=False))


def recent_topups(account_id: str, limit: int) -> list[TopUp]:
    """The account's newest top-ups."""
    return [topup_of(row) for row in rows.TopUp.by_account.query(account_id, scan_index_forward=False, limit=limit)]


def recent_records(account_id: str, limit: int) -> list[PaymentRecord]:
    """The account's newest payment records (card refunds, refund payouts, disputes)."""
    return [record_of(row) for row in rows.PaymentRecord.query(account_id, scan_index_forward=False, limit=limit)]


def set_topup_status(topup_id: str, status: TopUpStatus, *, payment_intent_id: str | None = None,
                     unless_credited: bool = False) -> bool:
    """Set its status (and PaymentIntent); `unless_credited`: not over a credit (False when it was credited)."""
    actions: list[Action] = [rows.TopUp.status.set(status.value)]
    if payment_intent_id is not None:
        actions.insert(0, rows.TopUp.payment_intent_id.set(payment_intent_id))
    condition = rows.TopUp.status != TopUpStatus.CREDITED.value if unless_credited else None
    return _updated(rows.TopUp(topup_id), actions, condition)


def note_fee(topup_id: str, fee_cents: int) -> None:
    """Keep the processing fee Stripe reported for the payment."""
    rows.TopUp(topup_id).update(actions=[rows.TopUp.fee_cents.set(fee_cents)])


def crediting(topup_id: str, payment_intent_id: str, now: float) -> JoinedWrite:
    """The top-up marked credited, in the transaction of its ledger entry."""
    def write(tx: TransactWrite) -> None:
        tx.update(rows.TopUp(topup_id), actions=[rows.TopUp.status.set(TopUpStatus.CREDITED.value),
                                                 rows.TopUp.payment_intent_id.set(payment_intent_id),
                                                 rows.TopUp.credited_at.set(now)])

    return write


def withholding_fee(topup_id: str, fee_cents: int) -> JoinedWrite:
    """The payment's fee counted as withheld on its top-up, in the transaction of the fee's ledger entry."""
    def write(tx: TransactWrite) -> None:
        tx.update(rows.TopUp(topup_id), actions=[rows.TopUp.fee_withheld_cents.add(fee_cents)])

    return write


def recording_movement(record: PaymentRecord, topup_id: str, refunded_cents: int, disputed_cents: int
                       ) -> JoinedWrite:
    """A refund or dispute's payment record and its top-up's totals, in the transaction of its ledger entry."""
    fields: list[Action] = [
        rows.PaymentRecord.kind.set(record.kind), rows.PaymentRecord.ref_id.set(record.ref_id),
        rows.PaymentRecord.amount_cents.set(record.amount_cents), rows.PaymentRecord.currency.set(record.currency),
        rows.PaymentRecord.created_at.set(record.created_at)]
    if record.payment_intent_id:
        fields.append(rows.PaymentRecord.payment_intent_id.set(record.payment_intent_id))
    if record.refund_request_id:
        fields.append(rows.PaymentRecord.refund_request_id.set(record.refund_request_id))
    totals: list[Action] = [rows.TopUp.refunded_cents.add(refunded_cents),
                            rows.TopUp.disputed_cents.add(disputed_cents)]

    def write(tx: TransactWrite) -> None:
        tx.update(rows.PaymentRecord(record.account_id, record.record_key), actions=fields)
        tx.update(rows.TopUp(topup_id), actions=totals)

    return write


def topup_of(row: rows.TopUp) -> TopUp:
    return value_of(TopUp, row)


def record_of(row: rows.PaymentRecord) -> PaymentRecord:
    return value_of(PaymentRecord, row)


# Refund requests --------------------------------------------------------------------------------------------------


def refund_request(request_id: str) -> RefundRequest | None:
    """The request, strongly consistent."""
    return values.read(RefundRequest, rows.RefundRequest, request_id)


def requests_of_account(account_id: str, limit: int) -> list[RefundRequest]:
    """The account's requests, newest first."""
    return [request_of(row) for row in rows.RefundRequest.by_account.query(account_id, scan_index_forward=False,
                                                                           limit=limit)]


def requests_with_status(status: RefundStatus, limit: int) -> list[RefundRequest]:
    """Requests in a status, oldest first (the admin queue)."""
    return [request_of(row) for row in rows.RefundRequest.by_status.query(status.value, limit=limit)]


def saving_request(request: RefundRequest) -> JoinedWrite:
    """A new pending request, in the transaction of the hold on its amount."""
    row = rows.RefundRequest(request.request_id, account_id=request.account_id, amount_cents=request.amount_cents,
                             reason=request.reason, status=request.status.value, created_at=request.created_at)

    def write(tx: TransactWrite) -> None:
        tx.save(row)

    return write


def decide_request(request_id: str, target: RefundStatus, decided_at: float, decided_by: str, note: str | None,
                   figures: PayoutFigures | None) -> RefundRequest | None:
    """Move a pending request to `target` (with its payout plan's figures when approving); the request as it is
    now, or None when it was no longer pending."""
    t = rows.RefundRequest
    actions: list[Action] = [t.status.set(target.value), t.decided_at.set(decided_at), t.decided_by.set(decided_by)]
    if note:
        actions.append(t.decision_note.set(note))
    if figures is not None:
        actions += [t.payout_plan.set(figures.payout_plan), t.paid_cents.set(figures.paid_cents),
                    t.fee_cents.set(figures.fee_cents), t.deposit_fee_cents.set(figures.deposit_fee_cents),
                    t.uncovered_cents.set(figures.uncovered_cents)]
    row = t(request_id)
    if not _updated(row, actions, t.status == RefundStatus.PENDING.value):
        return None
    return request_of(row)


def refuse_part(request_id: str, payment_intent_id: str, amount_cents: int, fee_cents: int) -> None:
    """Stripe will not refund this card payment: its share counted as uncovered, once."""
    t = rows.RefundRequest
    _updated(t(request_id), [t.refused_payment_intents.add({payment_intent_id}),
                                    t.paid_cents.add(-amount_cents), t.deposit_fee_cents.add(-fee_cents),
                                    t.uncovered_cents.add(amount_cents + fee_cents)],
                    ~t.refused_payment_intents.contains(payment_intent_id))


def waive_fee(request_id: str, fee_cents: int) -> None:
    """No withdrawal fee: it stays on the balance (unless another run waived it first)."""
    t = rows.RefundRequest
    _updated(t(request_id), [t.fee_cents.set(0), t.uncovered_cents.add(fee_cents)], t.fee_cents == fee_cents)


def finishing_request(request_id: str, now: float, status: RefundStatus | None = None) -> JoinedWrite:
    """The hold marked released (and the request moved to `status`), in the transaction that releases it."""
    t = rows.RefundRequest
    actions: list[Action] = [t.status.set(status.value)] if status is not None else []

    def write(tx: TransactWrite) -> None:
        tx.update(t(request_id), actions=[*actions, t.hold_released_at.set(now)])

    return write


def request_of(row: rows.RefundRequest) -> RefundRequest:
    return value_of(RefundRequest, row)


# The payments page's three sources: one Query each, between two times ----------------------------------------


def topups_between(account_id: str, status: str | None, low_ms: int, below_ms: int, limit: int) -> Slice[TopUp]:
    t = rows.TopUp
    results = t.by_account.query(account_id, t.created_at.between(low_ms / 1000, below_ms / 1000),
                                 filter_condition=t.status == status if status else None, scan_index_forward=False,
                                 page_size=limit)
    return _one_query(results, lambda raw: topup_of(t.from_raw_data(raw)), lambda raw: float(raw["created_at"]["N"]))


def requests_between(account_id: str, status: str | None, low_ms: int, below_ms: int, limit: int
                     ) -> Slice[RefundRequest]:
    t = rows.RefundRequest
    results = t.by_account.query(account_id, t.created_at.between(low_ms / 1000, below_ms / 1000),
                                 filter_condition=t.status == status if status else None, scan_index_forward=False,
                                 page_size=limit)
    return _one_query(results, lambda raw: request_of(t.from_raw_data(raw)),
                      lambda raw: float(raw["created_at"]["N"]))


def records_between(account_id: str, kind: str | None, low_ms: int, below_ms: int, limit: int
                    ) -> Slice[PaymentRecord]:
    t = rows.PaymentRecord
    results = t.query(account_id, t.record_key.between(f"{low_ms:013d}", f"{below_ms - 1:013d}~"),
                      filter_condition=t.kind == kind if kind else None, scan_index_forward=False, page_size=limit)
    return _one_query(results, lambda raw: record_of(t.from_raw_data(raw)),
                      lambda raw: int(str(raw["record_key"]["S"])[:13]) / 1000)


def _one_query(results: ResultIterator[Any], of_raw: Callable[[dict[str, Any]], T],
               seconds_of: Callable[[dict[str, Any]], float]) -> Slice[T]:
    """Exactly one Query call; the frontier is the millisecond of the last key it evaluated."""
    page: dict[str, Any] = next(results.page_iter)
    last = results.page_iter.last_evaluated_key
    return Slice([of_raw(raw) for raw in page.get("Items", [])], int(seconds_of(last) * 1000) if last else None)


# ------------------------------------------------------------------------------------------------------------------


def _updated(row: Any, actions: list[Action], condition: Condition | None) -> bool:
    """One UpdateItem; False when its condition was not met."""
    return _unless_refused(lambda: row.update(actions=actions, condition=condition))


def _unless_refused(write: Callable[[], object]) -> bool:
    """One conditional write; False when its condition was not met."""
    try:
        write()
    except (PutError, UpdateError) as exc:
        refused_if_condition_failed(exc)
        return False
    return True
