"""The payments page in pages: top-ups, card refunds and disputes merged newest first behind one cursor, filtered."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.errors import InvalidInput
from chalicelib.services.money.payment_history import PaymentFilter, payments_page
from chalicelib.services.money.stripe_events import StripeEvents, WebhookOutcome
from chalicelib.services.money.top_ups import TopUps
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore
from tests.clock import FixedClock
from tests.unit.stripe_fake import (
    NOW,
    FakeGateway,
    charge_saved_card,
    dispute_object,
    intent_of,
    new_account,
    refund_object,
    refunded_charge,
    signed,
)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def history_of(module_tables: Settings, clock: FixedClock) -> tuple[str, list[str]]:
    """An account with three paid top-ups, a refund and a dispute, a second apart, and their ids newest first."""
    gateway = FakeGateway()
    topups = TopUps(gateway, replace(module_tables, topup_min_cents=100, topup_max_cents=100_000), clock)
    events = StripeEvents(gateway, Wallet(clock, DynamoMoneyStore()), wiring.mailer())
    account_id = new_account()
    made: list[str] = []
    for amount in (1000, 2000, 3000):
        started = charge_saved_card(topups, account_id, amount)
        assert events.receive(*signed("payment_intent.succeeded", intent_of(gateway, started.payment_intent_id))) \
            is WebhookOutcome.APPLIED
        made.append(started.topup_id)
        clock.advance(1)
    intent_id = started.payment_intent_id
    events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, [
        refund_object(f"re_h{account_id}", 500, intent_id)])))
    made.append(f"re_h{account_id}")
    clock.advance(1)
    events.receive(*signed("charge.dispute.created", dispute_object(f"dp_h{account_id}", 700, intent_id)))
    made.append(f"dp_h{account_id}")
    return account_id, made[::-1]


def _ids(page_items: list) -> list[str]:
    return [getattr(r.item, "topup_id", None) or r.item.ref_id for r in page_items]


def _all_pages(account_id: str, wanted: PaymentFilter, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = payments_page(account_id, wanted, limit, cursor)
        pages.append(_ids(page.items))
        if (cursor := page.next_cursor) is None:
            return pages


def test_payments_page__pages_the_three_sources_newest_first(history_of):
    account_id, newest_first = history_of
    # When the payments are read two at a time
    pages = _all_pages(account_id, PaymentFilter(), 2)
    # Then no page holds more than two, and together they are every payment once, newest first
    assert all(len(page) <= 2 for page in pages) and len(pages) >= 3
    assert [i for page in pages for i in page] == newest_first


def test_payments_page__filters_by_type_status_and_date(history_of, clock):
    account_id, newest_first = history_of
    # When filtered to disputes, to credited top-ups, and to before the last two seconds
    disputes = _all_pages(account_id, PaymentFilter(type="dispute"), 2)
    credited = _all_pages(account_id, PaymentFilter(status="credited"), 2)
    early = _all_pages(account_id, PaymentFilter(until=NOW + 2), 10)
    # Then each lists exactly what matches
    assert [i for p in disputes for i in p] == newest_first[:1]
    assert [i for p in credited for i in p] == newest_first[2:]
    assert [i for p in early for i in p] == newest_first[3:]


def test_payments_page__another_accounts_cursor_is_refused(history_of):
    account_id, _ = history_of
    cursor = payments_page(account_id, PaymentFilter(), 1, None).next_cursor
    # When another account presents it / Then it is refused
    with pytest.raises(InvalidInput):
        payments_page(new_account(), PaymentFilter(), 1, cursor)
