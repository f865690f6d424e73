"""Forfeiture (10.3) over moto: the whole remaining balance leaves by one entry with its reason, holds released."""
from __future__ import annotations

import pytest

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.services.money.forfeiture import Forfeiture
from chalicelib.services.money.refund_requests import RefundRequests, RefundStatus
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from tests.clock import FixedClock
from tests.unit.stripe_fake import NOW, FakeGateway, no_card_fees


@pytest.fixture
def refunds(module_tables: Settings) -> RefundRequests:
    return RefundRequests(FakeGateway(), Wallet(FixedClock(NOW), DynamoMoneyStore()), fee_cents=0,
                          deposit_fees=no_card_fees())


@pytest.fixture
def forfeiture(refunds) -> Forfeiture:
    return Forfeiture(Wallet(FixedClock(NOW), DynamoMoneyStore()), refunds)


def test_forfeit_balance__takes_the_whole_balance_with_the_reason(acc, forfeiture):
    # Given 7.50 on a blocked account's balance
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, 750, LedgerKind.ADJUSTMENT, f"adj_1{acc}")
    # When it is forfeited
    posting = forfeiture.forfeit_balance(acc, "fraud (10.2)", "admin@example.com")
    # Then one forfeiture entry took all of it, saying why and who
    assert posting is not None and (posting.amount_cents, posting.balance_after_cents) == (-750, 0)
    entry = LedgerEntry.get(acc, posting.seq)
    assert entry.kind == LedgerKind.FORFEITURE.value
    assert "fraud (10.2)" in (entry.memo or "") and "admin@example.com" in (entry.memo or "")


def test_forfeit_balance__declines_a_pending_refund_request_first(acc, forfeiture, refunds):
    # Given a pending refund request holding the whole balance
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, 900, LedgerKind.ADJUSTMENT, f"adj_1{acc}")
    request = refunds.create(acc, "Leaving")
    # When the balance is forfeited
    forfeiture.forfeit_balance(acc, "terms breach", "admin")
    # Then the request is declined, its hold released, and the balance gone
    assert refunds.get(request.request_id).status == RefundStatus.DECLINED.value
    account = Account.get(acc)
    assert (account.balance_cents, account.held_cents) == (0, 0)


@pytest.mark.parametrize("balance_cents", [0, -300])
def test_forfeit_balance__nothing_to_take_writes_nothing(acc, forfeiture, balance_cents):
    # Given an empty balance, or one below zero after a dispute
    if balance_cents:
        Wallet(SystemClock(), DynamoMoneyStore()).post(acc, balance_cents, LedgerKind.DISPUTE, f"dp_1{acc}",
                                                       allow_negative=True)
    # When it is forfeited / Then there is no entry and a debt stays a debt
    assert forfeiture.forfeit_balance(acc, "blocked", "admin") is None
    assert Account.get(acc).balance_cents == balance_cents
