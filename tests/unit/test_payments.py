"""Card top-ups and Stripe's events over moto: credited once by a verified event; refunds and disputes keep books."""
from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import AccountUnverified, Conflict, InvalidInput, PaymentError
from chalicelib.providers.stripe_gateway import WebhookSignatureError
from chalicelib.services.money import history
from chalicelib.services.money.card_movements import already_applied, payout_cause
from chalicelib.services.money.history import HistoryFilter, payment_history
from chalicelib.services.money.stripe_events import StripeEvents, WebhookOutcome
from chalicelib.services.money.top_ups import TopUps, TopUpStatus
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.payments import TopUp
from tests.clock import FixedClock
from tests.unit.stripe_fake import (
    NOW,
    FakeGateway,
    charge_saved_card,
    dispute_object,
    intent_object,
    intent_of,
    new_account,
    refund_object,
    refunded_charge,
    signed,
)


@pytest.fixture
def topups(module_tables: Settings, gateway: FakeGateway) -> TopUps:
    return TopUps(gateway, replace(module_tables, topup_min_cents=100, topup_max_cents=100_000), FixedClock(NOW))


@pytest.fixture
def events(module_tables: Settings, gateway: FakeGateway) -> StripeEvents:
    return StripeEvents(gateway, Wallet(FixedClock(NOW), DynamoMoneyStore()), wiring.mailer())


def _charged(topups: TopUps, account_id: str, amount_cents: int) -> tuple[str, str]:
    """A top-up charged on a saved card, not yet confirmed by Stripe's event: (topup_id, payment_intent_id)."""
    started = charge_saved_card(topups, account_id, amount_cents)
    return started.topup_id, started.payment_intent_id


def _paid(topups: TopUps, events: StripeEvents, gateway: FakeGateway, account_id: str, amount_cents: int) -> str:
    _, intent_id = _charged(topups, account_id, amount_cents)
    assert events.receive(*signed("payment_intent.succeeded", intent_of(gateway, intent_id))) is WebhookOutcome.APPLIED
    return intent_id


def _balance(account_id: str) -> int:
    return int(Account.get(account_id).balance_cents)


def _ledger(account_id: str) -> list[tuple[str, int]]:
    return [(e.kind, int(e.amount_cents)) for e in LedgerEntry.query(account_id)]


def _books_balance(account_id: str) -> bool:
    return _balance(account_id) == sum(amount for _, amount in _ledger(account_id))


def test_start_card_setup__creates_one_stripe_customer_and_reuses_it(acc, topups, gateway):
    # Given a verified account without a Stripe customer
    # When the card setup is started twice
    first = topups.start_card_setup(Account.get(acc))
    second = topups.start_card_setup(Account.get(acc))
    # Then one customer was created and stored, and each setup gives the page what Stripe.js needs
    assert gateway.customers == [Account.get(acc).stripe_customer_id]
    assert first.client_secret and first.setup_intent_id != second.setup_intent_id
    assert first.publishable_key == "pk_test_local"


def test_start_card_setup__unverified_account_is_refused(topups, gateway):
    # Given an account whose email is not verified
    acc = new_account(AccountStatus.UNVERIFIED)
    # When it starts a card setup / Then it is told to verify first, and Stripe was not called
    with pytest.raises(AccountUnverified):
        topups.start_card_setup(Account.get(acc))
    assert gateway.customers == []


def test_start__charges_with_the_topup_idempotency_key_and_credits_nothing_yet(acc, topups, gateway):
    # Given a saved card
    # When 25.00 is topped up
    topup_id, intent_id = _charged(topups, acc, 2500)
    # Then Stripe was asked under the key topup:<id>, and the balance waits for the webhook
    assert f"topup:{topup_id}" in gateway.keys
    assert TopUp.get(topup_id).status == TopUpStatus.PENDING.value
    assert TopUp.get(topup_id).payment_intent_id == intent_id
    assert _balance(acc) == 0


def test_start__retried_with_the_same_idempotency_key_charges_the_card_once(acc, topups, gateway):
    # Given a top-up of 25.00 sent with an Idempotency-Key whose response the client lost
    topups.start_card_setup(Account.get(acc))
    first = topups.start(Account.get(acc), 2500, "pm_card", "retry-me")
    # When the client sends the same request again
    again = topups.start(Account.get(acc), 2500, "pm_card", "retry-me")
    # Then it gets the same top-up and PaymentIntent back, and the card was charged once
    assert (again.topup_id, again.payment_intent_id) == (first.topup_id, first.payment_intent_id)
    assert len(gateway.charges) == 1
    assert len(list(TopUp.by_account.query(acc))) == 1


def test_start__an_idempotency_key_reused_for_another_amount_is_refused(acc, topups, gateway):
    # Given a top-up of 25.00 under a key
    topups.start_card_setup(Account.get(acc))
    topups.start(Account.get(acc), 2500, "pm_card", "once")
    # When the same key comes with another amount
    with pytest.raises(Conflict) as refused:
        topups.start(Account.get(acc), 9900, "pm_card", "once")
    # Then it is refused and nothing more was charged
    assert refused.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert len(gateway.charges) == 1


def test_start__without_a_key_two_requests_are_two_top_ups(acc, topups, gateway):
    topups.start_card_setup(Account.get(acc))
    topups.start(Account.get(acc), 2500, "pm_card")
    topups.start(Account.get(acc), 2500, "pm_card")
    assert len(gateway.charges) == 2


@pytest.mark.parametrize("amount_cents", [99, 100_001, 0, -500])
def test_start__amount_outside_the_limits_is_refused_before_charging(acc, topups, gateway, amount_cents):
    # Given a saved card
    topups.start_card_setup(Account.get(acc))
    # When an amount outside 1.00–1000.00 is asked for / Then it is refused and no card is charged
    with pytest.raises(InvalidInput):
        topups.start(Account.get(acc), amount_cents, "pm_card")
    assert gateway.charges == {}


def test_start__without_a_saved_card_is_refused(acc, topups):
    with pytest.raises(InvalidInput) as raised:
        topups.start(Account.get(acc), 500, "pm_card")
    assert raised.value.code == "NO_SAVED_CARD"


def test_start__declined_card_marks_the_topup_failed(acc, topups, gateway):
    # Given a card that will be declined
    topups.start_card_setup(Account.get(acc))
    gateway.decline = True
    # When it is charged / Then the user reads why, and the top-up shows as failed
    with pytest.raises(PaymentError):
        topups.start(Account.get(acc), 500, "pm_card")
    assert [t.status for t in TopUp.by_account.query(acc)] == [TopUpStatus.FAILED.value]


def test_start__webhook_faster_than_the_charge_response_stays_credited(acc, topups, events, gateway):
    # Given Stripe delivers payment_intent.succeeded before its charge call has answered
    gateway.during_charge = lambda intent: events.receive(
        *signed("payment_intent.succeeded", intent_of(gateway, intent.id)))
    # When the top-up is made
    topup_id, _ = _charged(topups, acc, 700)
    # Then the late response does not undo the credit
    assert TopUp.get(topup_id).status == TopUpStatus.CREDITED.value
    assert _balance(acc) == 700


def test_receive__the_same_event_delivered_again_credits_once(acc, topups, events, gateway):
    # Given a charged top-up of 10.00
    topup_id, intent_id = _charged(topups, acc, 1000)
    delivery = signed("payment_intent.succeeded", intent_of(gateway, intent_id))
    # When Stripe delivers its event five times
    outcomes = [events.receive(*delivery) for _ in range(5)]
    # Then it is credited once, and the top-up shows credited
    assert outcomes == [WebhookOutcome.APPLIED] + [WebhookOutcome.DUPLICATE] * 4
    assert _ledger(acc) == [(LedgerKind.TOP_UP.value, 1000)]
    assert TopUp.get(topup_id).status == TopUpStatus.CREDITED.value


@pytest.mark.parametrize(("amount_cents", "currency"), [(100_000, "usd"), (1000, "eur")])
def test_receive__amount_or_currency_not_matching_the_topup_is_rejected(acc, topups, events, gateway, amount_cents,
                                                                        currency):
    # Given a charged top-up of 10.00 USD
    topup_id, intent_id = _charged(topups, acc, 1000)
    # When a signed event says the payment was for another amount or currency
    event = intent_object(intent_id, amount_cents, {"topup_id": topup_id, "account_id": acc}, currency)
    outcome = events.receive(*signed("payment_intent.succeeded", event))
    # Then nothing is credited
    assert outcome is WebhookOutcome.REJECTED
    assert _ledger(acc) == []


def test_receive__forged_signature_is_refused_and_writes_nothing(acc, topups, events, gateway):
    # Given a charged top-up and an event signed with someone else's secret
    _, intent_id = _charged(topups, acc, 1000)
    body, header = signed("payment_intent.succeeded", intent_of(gateway, intent_id), secret="whsec_forged")
    # When it is delivered / Then it is refused and nothing is credited
    with pytest.raises(WebhookSignatureError):
        events.receive(body, header)
    assert _ledger(acc) == []


def test_receive__unknown_event_types_and_foreign_payments_are_ignored(acc, events):
    # Given an account
    # When Stripe sends an event we do not handle, and a payment that is not one of our top-ups
    unknown = events.receive(*signed("customer.created", {"id": "cus_1"}))
    foreign = events.receive(*signed("payment_intent.succeeded", intent_object("pi_other", 500, {})))
    # Then both are acknowledged and change nothing
    assert (unknown, foreign) == (WebhookOutcome.IGNORED, WebhookOutcome.IGNORED)
    assert _ledger(acc) == []


def test_receive__charge_refunded_records_each_refund_once(acc, topups, events, gateway):
    # Given a 20.00 top-up refunded 5.00 in Stripe's dashboard, then 3.00 more
    intent_id = _paid(topups, events, gateway, acc, 2000)
    first, second = refund_object(f"re_a{acc}", 500, intent_id), refund_object(f"re_b{acc}", 300, intent_id)
    # When charge.refunded arrives for each, the second listing both (amount_refunded is cumulative), twice
    events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, [first]), "evt_1"))
    for _ in range(2):
        events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, [second, first]), "evt_2"))
    # Then each refund took its own amount once, and the books balance
    assert sorted(_ledger(acc)) == sorted([("top_up", 2000), ("card_refund", -500), ("card_refund", -300)])
    assert _balance(acc) == 1200 and _books_balance(acc)
    assert TopUp.get(next(iter(TopUp.by_account.query(acc))).topup_id).refunded_cents == 800


def test_receive__a_refund_request_payout_seen_by_webhook_is_taken_once_as_that_payout(acc, topups, events, gateway):
    # Given a top-up, and a refund Stripe made for one of our refund requests (our own write of it lost in a crash)
    intent_id = _paid(topups, events, gateway, acc, 2000)
    ours = refund_object(f"re_ours{acc}", 2000, intent_id, {"refund_request_id": "rr_1"})
    # When Stripe reports it, twice
    outcomes = [events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, [ours])))
                for _ in range(2)]
    # Then it is the request's payout, written once, under the cause the payout itself would have used
    assert outcomes[0] is WebhookOutcome.APPLIED and outcomes[1] is not WebhookOutcome.APPLIED
    assert _ledger(acc) == [("top_up", 2000), ("refund_payout", -2000)]
    assert already_applied(LedgerKind.REFUND_PAYOUT, payout_cause("rr_1", intent_id))


def test_receive__dispute_takes_the_money_once_and_may_leave_the_balance_negative(acc, topups, events, gateway):
    # Given a 10.00 top-up of which 8.00 was spent
    intent_id = _paid(topups, events, gateway, acc, 1000)
    Wallet(SystemClock(), DynamoMoneyStore()).post(acc, -800, LedgerKind.ACTIVATION_CHARGE, f"act_1{acc}")
    dispute = dispute_object(f"dp_1{acc}", 1000, intent_id)
    # When the dispute is opened and its funds withdrawn (two events, one dispute)
    events.receive(*signed("charge.dispute.created", dispute))
    events.receive(*signed("charge.dispute.funds_withdrawn", dispute))
    # Then 10.00 was taken once: the balance is below zero and still the ledger's sum
    assert _balance(acc) == -800 and _books_balance(acc)
    assert [kind for kind, _ in _ledger(acc)].count("dispute") == 1


def test_receive__won_dispute_gives_the_money_back_whatever_the_order(acc, topups, events, gateway):
    # Given a 10.00 top-up
    intent_id = _paid(topups, events, gateway, acc, 1000)
    dispute = dispute_object(f"dp_1{acc}", 1000, intent_id)
    # When funds_reinstated arrives before the dispute's creation, then everything again
    for event_type in ("charge.dispute.funds_reinstated", "charge.dispute.created",
                       "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"):
        events.receive(*signed(event_type, dispute))
    # Then the money left once and came back once
    assert sorted(_ledger(acc)) == sorted([("top_up", 1000), ("dispute", -1000), ("dispute_reversal", 1000)])
    assert _balance(acc) == 1000


def test_ledger_page__newest_first_in_pages(acc):
    # Given seven entries
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    posted = [wallet.post(acc, 100 + i, LedgerKind.ADJUSTMENT, f"adj_{acc}_{i}").seq for i in range(7)]
    # When the ledger is read three at a time, by cursor and by the older before_seq
    first = history.ledger_page(acc, HistoryFilter(), 3, None)
    second = history.ledger_page(acc, HistoryFilter(), 3, first.next_cursor)
    last = history.ledger_page(acc, HistoryFilter(), 3, None, before_seq=int(str(second.last_key)))
    # Then every entry comes once, newest first, and the last page says there is no more
    seqs = [int(e.seq) for page in (first, second, last) for e in page.items]
    assert seqs == posted[::-1]
    assert last.next_cursor is None


def test_ledger_page__a_sparse_filter_gives_short_pages_that_go_on(acc):
    # Given seven entries of which only the 2nd and the 6th are top-ups
    wallet = Wallet(SystemClock(), DynamoMoneyStore())
    posted = [wallet.post(acc, 100, LedgerKind.TOP_UP if i in (1, 5) else LedgerKind.ADJUSTMENT, f"e_{acc}_{i}").seq
              for i in range(7)]
    # When top-ups are read three rows at a time
    pages, cursor = [], None
    while True:
        page = history.ledger_page(acc, HistoryFilter(kind="top_up"), 3, cursor)
        pages.append([int(e.seq) for e in page.items])
        if (cursor := page.next_cursor) is None:
            break
    # Then each page read at most three rows, some came back short, and together they hold both top-ups
    assert pages == [[posted[5]], [posted[1]], []]


def test_payment_history__lists_topups_refunds_and_disputes(acc, topups, events, gateway):
    # Given a paid top-up, a refund in Stripe and a dispute
    intent_id = _paid(topups, events, gateway, acc, 3000)
    events.receive(*signed("charge.refunded", refunded_charge(gateway, intent_id, [
        refund_object(f"re_a{acc}", 500, intent_id)])))
    events.receive(*signed("charge.dispute.created", dispute_object(f"dp_1{acc}", 1000, intent_id)))
    # When the payment history is read
    history = payment_history(acc)
    # Then it shows all three
    assert [t.status for t in history.top_ups] == [TopUpStatus.CREDITED.value]
    assert sorted((r.kind, r.ref_id, int(r.amount_cents)) for r in history.records) == [
        ("card_refund", f"re_a{acc}", -500), ("dispute", f"dp_1{acc}", -1000)]
