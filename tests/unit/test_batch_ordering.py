"""Several numbers in one call over moto with fake partners: one number for several services (multi-service) and
N numbers of one service (bulk). Every charge of a call is debited in one transaction, all or nothing; what is not
had is refunded at once, exactly once."""
from __future__ import annotations

import threading
import time

import pytest

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.errors import InsufficientBalance, InvalidInput, NoNumbers, PriceAboveMax
from chalicelib.providers.base import PartnerNoNumbers
from chalicelib.services.activations import batch_ordering
from chalicelib.services.activations.batch_ordering import BatchOrdering, MultiServiceRequest
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.store.accounts import Account
from tests.fake_partner import FakePartner
from tests.unit.activation_support import Desk
from tests.unit.dynamo_calls import count_dynamodb_calls

PRICE = 60  # the fake partner's 40 cents with the desk's 50 % markup


def _fresh(user: Account) -> Account:
    return Account.get(user.account_id, consistent_read=True)


def _entries(desk: Desk, user: Account, kind: LedgerKind) -> list[int]:
    return [int(e.amount_cents) for e in desk.ledger(user.account_id) if e.kind == kind.value]


def _multi(desk: Desk, user: Account, *services: str, country: int = 0):
    return desk.service.order_multi_service(_fresh(user), MultiServiceRequest(services, country))


def _bulk(desk: Desk, user: Account, count: int, **fields):
    key = fields.pop("idempotency_key", None)
    return desk.service.order_bulk(_fresh(user), OrderRequest("tg", 0, **fields), count, key)


@pytest.fixture(autouse=True)
def _one_partner_call_at_a_time(monkeypatch) -> None:
    """moto is not thread-safe: two transactions from two threads can corrupt its tables. Bulk orders ask partners
    in parallel; that is proven on DynamoDB Local (tests/integration/test_batch_orders_http.py, test_reliability)."""
    monkeypatch.setattr(batch_ordering, "_BULK_WORKERS", 1)


@pytest.fixture
def multi_desk(moto_tables) -> Desk:
    return Desk(moto_tables, [FakePartner(services=("tg", "wa", "vk"))])


def test_order_multi_service__one_number_an_activation_and_a_charge_per_service_in_one_transaction(multi_desk):
    # Given a user with 10.00
    user = multi_desk.account(1000)
    # When they buy one number for Telegram, WhatsApp and VK
    with count_dynamodb_calls() as calls:
        batch = _multi(multi_desk, user, "tg", "wa", "vk")
    # Then three waiting activations share one number, each charged 0.60 in its own entry, in one transaction
    assert [(a.service, a.status) for a in batch.activations] == [("tg", "WAITING"), ("wa", "WAITING"),
                                                                  ("vk", "WAITING")]
    assert len({a.phone for a in batch.activations}) == 1
    assert _entries(multi_desk, user, LedgerKind.ACTIVATION_CHARGE) == [-PRICE] * 3
    assert multi_desk.balance(user.account_id) == 1000 - 3 * PRICE
    assert calls.by_operation()["TransactWriteItems"] == 1
    assert multi_desk.partner.calls["get_multi_service_number"] == 1


def test_order_multi_service__short_of_the_sum_charges_nothing_and_asks_no_partner(multi_desk):
    # Given 1.00: enough for one service's 0.60, not for two
    user = multi_desk.account(100)
    # When two services are asked on one number
    with pytest.raises(InsufficientBalance):
        _multi(multi_desk, user, "tg", "wa")
    # Then nothing was debited and no partner was asked
    assert multi_desk.balance(user.account_id) == 100
    assert multi_desk.partner.calls["get_multi_service_number"] == 0


def test_order_multi_service__a_partner_failure_refunds_every_service_once(multi_desk):
    # Given a partner that has no multi-service number now
    user = multi_desk.account(1000)
    multi_desk.partner.number_failure = PartnerNoNumbers("NO_NUMBERS")
    # When two services are asked on one number
    batch = _multi(multi_desk, user, "tg", "wa")
    # Then both failed and each was refunded once: the balance is whole again
    assert [a.status for a in batch.activations] == ["FAILED", "FAILED"]
    assert (batch.refunded_cents, len(batch.issued)) == (2 * PRICE, 0)
    assert _entries(multi_desk, user, LedgerKind.ACTIVATION_REFUND) == [PRICE, PRICE]
    assert multi_desk.balance(user.account_id) == 1000


def test_order_multi_service__a_service_the_partner_left_out_is_refunded(multi_desk, monkeypatch):
    # Given a partner that fills only the first service it is asked for
    user = multi_desk.account(1000)
    fill = multi_desk.partner.get_multi_service_number
    monkeypatch.setattr(multi_desk.partner, "get_multi_service_number",
                        lambda services, country, operator: fill(services[:1], country, operator))
    # When Telegram and WhatsApp are asked on one number
    batch = _multi(multi_desk, user, "tg", "wa")
    # Then Telegram is issued and WhatsApp refunded at once
    assert [(a.service, a.status) for a in batch.activations] == [("tg", "WAITING"), ("wa", "FAILED")]
    assert multi_desk.balance(user.account_id) == 1000 - PRICE


ELEVEN = tuple("tg wa vk ig fb go ok vi wb mm ds".split())


@pytest.mark.parametrize("services", [("tg",), ("tg", "tg"), ("tg", "nope"), ELEVEN])
def test_order_multi_service__bad_service_lists_are_refused_before_any_debit(multi_desk, services):
    user = multi_desk.account(1000)
    with pytest.raises(InvalidInput) as refused:
        _multi(multi_desk, user, *services)
    assert refused.value.code == "BAD_SERVICE"
    assert multi_desk.balance(user.account_id) == 1000


def test_order_multi_service__no_partner_with_every_service_is_no_numbers_without_debit(multi_desk):
    # Given a partner that sells Telegram and WhatsApp, not Instagram
    user = multi_desk.account(1000)
    # When all three are asked on one number
    with pytest.raises(NoNumbers):
        _multi(multi_desk, user, "tg", "ig")
    # Then nothing was charged
    assert multi_desk.balance(user.account_id) == 1000


def test_order_multi_service__a_crash_after_the_debit_is_refunded_once_per_service_by_the_job(multi_desk):
    # Given the process dies while asking the partner, after the debit committed
    user = multi_desk.account(1000)
    multi_desk.partner.number_failure = SystemExit("killed")
    with pytest.raises(SystemExit):
        _multi(multi_desk, user, "tg", "wa")
    assert multi_desk.balance(user.account_id) == 1000 - 2 * PRICE
    # When the resolve job runs past its delay, twice
    multi_desk.clock.advance(multi_desk.settings.pending_resolve_after_seconds + 1)
    resolved = multi_desk.service.resolve_stale_pending() + multi_desk.service.resolve_stale_pending()
    # Then each service's activation was refunded exactly once
    assert resolved == 2
    assert _entries(multi_desk, user, LedgerKind.ACTIVATION_REFUND) == [PRICE, PRICE]
    assert multi_desk.balance(user.account_id) == 1000


def test_order_bulk__each_number_its_own_activation_all_charged_in_one_transaction(desk):
    # Given a user with 10.00
    user = desk.account(1000)
    # When they order three Telegram numbers at once
    with count_dynamodb_calls() as calls:
        batch = _bulk(desk, user, 3)
    # Then three different waiting numbers, each charged 0.60 in its own entry, debited in one transaction
    assert [a.status for a in batch.activations] == ["WAITING"] * 3
    assert len({a.phone for a in batch.activations}) == 3
    assert (batch.requested, len(batch.issued), batch.refunded_cents) == (3, 3, 0)
    assert _entries(desk, user, LedgerKind.ACTIVATION_CHARGE) == [-PRICE] * 3
    assert calls.by_operation()["TransactWriteItems"] == 1


@pytest.mark.parametrize("count", [0, -1, 11, 10**30, True, "3"])
def test_order_bulk__a_count_outside_one_to_the_setting_is_refused_before_anything(desk, count):
    user = desk.account(1000)
    with pytest.raises(InvalidInput) as refused:
        _bulk(desk, user, count)
    assert refused.value.details == {"field": "count"}
    assert desk.balance(user.account_id) == 1000
    assert desk.partner.calls["get_number"] == 0


def test_order_bulk__short_of_the_sum_charges_nothing(desk):
    # Given 1.00, enough for one number, not two
    user = desk.account(100)
    with pytest.raises(InsufficientBalance):
        _bulk(desk, user, 2)
    assert desk.balance(user.account_id) == 100
    assert desk.partner.calls["get_number"] == 0


def test_order_bulk__the_unfilled_part_is_refunded_at_once_exactly_once(desk):
    # Given a partner with two numbers left
    user = desk.account(1000)
    desk.partner.stock = 2
    # When four are ordered
    batch = _bulk(desk, user, 4)
    # Then two are issued and the other two refunded at once, once each
    assert sorted(a.status for a in batch.activations) == ["FAILED", "FAILED", "WAITING", "WAITING"]
    assert batch.refunded_cents == 2 * PRICE
    assert _entries(desk, user, LedgerKind.ACTIVATION_REFUND) == [PRICE, PRICE]
    assert desk.balance(user.account_id) == 1000 - 2 * PRICE


def test_order_bulk__above_the_users_maximum_is_refused_before_any_debit(desk):
    user = desk.account(1000)
    with pytest.raises(PriceAboveMax):
        _bulk(desk, user, 2, max_price_cents=PRICE - 1)
    assert desk.balance(user.account_id) == 1000


def test_order_bulk__past_the_deadline_the_rest_is_refunded_and_a_late_number_canceled_at_the_partner(
        settings, moto_tables):
    # Given a partner whose answer to the third request is held back until after the bulk deadline
    desk = Desk(settings, bulk_deadline_seconds=1.0)
    user = desk.account(1000)
    asked, release, answered = threading.Lock(), threading.Event(), threading.Event()
    seen: list[int] = []

    def third_held_back() -> None:
        with asked:
            seen.append(1)
            third = len(seen) == 3
        if third:
            release.wait(10)

    desk.while_asking_for_a_number(third_held_back)
    partner_get_number = desk.partner.get_number

    def noting_answers(*args, **kwargs):
        try:
            return partner_get_number(*args, **kwargs)
        finally:
            if release.is_set():
                answered.set()

    desk.partner.get_number = noting_answers  # type: ignore[method-assign]
    # When three are ordered
    batch = _bulk(desk, user, 3)
    # Then the call returns at the deadline with two numbers, the third refunded at once
    assert sorted(a.status for a in batch.activations) == ["FAILED", "WAITING", "WAITING"]
    assert desk.balance(user.account_id) == 1000 - 2 * PRICE
    # And when the partner answers late, its number is given back and nothing is refunded twice
    release.set()
    assert answered.wait(10)
    deadline = time.monotonic() + 10
    while desk.partner.calls["cancel"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert desk.partner.calls["cancel"] == 1
    assert _entries(desk, user, LedgerKind.ACTIVATION_REFUND) == [PRICE]
    assert desk.balance(user.account_id) == 1000 - 2 * PRICE


def test_order_bulk__the_same_idempotency_key_answers_the_first_order(desk):
    user = desk.account(1000)
    first = _bulk(desk, user, 2, idempotency_key="bulk-1")
    again = _bulk(desk, user, 2, idempotency_key="bulk-1")
    assert [a.activation_id for a in again.activations] == [a.activation_id for a in first.activations]
    assert _entries(desk, user, LedgerKind.ACTIVATION_CHARGE) == [-PRICE] * 2
    with pytest.raises(InvalidInput) as reused:
        _bulk(desk, user, 3, idempotency_key="bulk-1")
    assert reused.value.code == "IDEMPOTENCY_KEY_REUSED"


def test_order_bulk__a_crash_after_the_debit_is_refunded_once_per_number_by_the_job(desk, monkeypatch):
    # Given the process dies right after the debit, before any partner is asked
    user = desk.account(1000)

    def crash(*_args):
        raise SystemExit("killed")

    monkeypatch.setattr(BatchOrdering, "_acquire_in_parallel", crash)
    with pytest.raises(SystemExit):
        _bulk(desk, user, 3)
    assert desk.balance(user.account_id) == 1000 - 3 * PRICE
    # When the resolve job runs past its delay, twice
    desk.clock.advance(desk.settings.pending_resolve_after_seconds + 1)
    resolved = desk.service.resolve_stale_pending() + desk.service.resolve_stale_pending()
    # Then each number was refunded exactly once
    assert resolved == 3
    assert _entries(desk, user, LedgerKind.ACTIVATION_REFUND) == [PRICE] * 3
    assert desk.balance(user.account_id) == 1000
