"""Every event as a webhook: status changes and balance changes queued with the change, ordered per stream,
deduplicable by event id, redelivered on request, and skipped once unsubscribed."""
from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ids import new_id
from chalicelib.services.platform.user_webhooks import EVENT_ID_HEADER
from chalicelib.services.platform.webhook_log import Redelivery, deliveries_page
from chalicelib.store.accounts import Account
from chalicelib.store.activations import WebhookDelivery
from tests.unit.activation_support import CODE_SMS, Desk
from tests.unit.dynamo_calls import count_dynamodb_calls

HOOK = "https://bot.example.com/events"
EVERYTHING = {"sms.received", "activation.status_changed", "balance.changed"}


def _subscriber(desk: Desk, events: set[str], balance_cents: int = 1000) -> Account:
    user = desk.account(balance_cents, webhook_url=HOOK)
    user.update(actions=[Account.webhook_events.set(events)])
    return Account.get(user.account_id, consistent_read=True)


def _bodies(desk: Desk) -> list[dict[str, Any]]:
    return [json.loads(p.body) for p in desk.posted_to(HOOK)]


def _deliver_all(desk: Desk) -> None:
    for _ in range(4):
        desk.service.deliver_user_webhooks()
        desk.clock.advance(2)


def test_activation_lifecycle__each_status_change_is_one_event_in_sequence(desk):
    # Given a user whose webhook takes status changes and SMS
    user = _subscriber(desk, {"activation.status_changed", "sms.received"})
    # When they order, the SMS arrives, and they finish
    activation = desk.order(user)
    desk.push(activation, CODE_SMS, None)
    desk.service.finish(user.account_id, int(activation.activation_id))
    _deliver_all(desk)
    # Then the webhook got issued, the SMS, finished: one stream, rising sequence, one id each
    got = [(b["event"], b.get("change"), b["status"]) for b in _bodies(desk)]
    assert got == [("activation.status_changed", "issued", "WAITING"), ("sms.received", None, "RECEIVED"),
                   ("activation.status_changed", "finished", "FINISHED")]
    bodies = _bodies(desk)
    assert {b["stream"] for b in bodies} == {f"activation:{activation.activation_id}"}
    assert [b["sequence"] for b in bodies] == sorted({b["sequence"] for b in bodies})
    assert bodies[0]["phone"] == activation.phone


def test_cancel__the_event_says_what_was_refunded_and_the_balance_event_follows(desk):
    # Given a subscriber to everything holding a waiting number
    user = _subscriber(desk, EVERYTHING)
    activation = desk.order(user)
    desk.past_cancel_window()
    # When they cancel it
    desk.service.cancel(user.account_id, int(activation.activation_id))
    _deliver_all(desk)
    # Then the cancel event names the refund, and the balance events carry the ledger's sequence and balance
    canceled = next(b for b in _bodies(desk) if b.get("change") == "canceled")
    assert (canceled["refunded_cents"], canceled["previous_status"]) == (60, "WAITING")
    balance = [(b["kind"], b["amount_cents"], b["balance_cents"]) for b in _bodies(desk)
               if b["event"] == "balance.changed"]
    assert balance == [("activation_charge", -60, 940), ("activation_refund", 60, 1000)]
    sequences = [b["sequence"] for b in _bodies(desk) if b["event"] == "balance.changed"]
    assert sequences == sorted(sequences) and len(set(sequences)) == 2


def test_balance_change__not_queued_for_a_webhook_that_takes_only_sms(desk):
    # Given a webhook saved without a choice of events (SMS only)
    user = desk.account(1000, webhook_url=HOOK)
    # When money moves and a status changes
    activation = desk.order(user)
    desk.wallet.post(user.account_id, 500, LedgerKind.ADJUSTMENT, new_id("adj"))
    _deliver_all(desk)
    # Then nothing was queued or sent, and the order was not flagged for status events
    assert _bodies(desk) == []
    assert not activation.status_hook


def test_deliver__a_later_event_waits_for_the_earlier_one_of_its_stream(desk):
    # Given a subscriber whose endpoint fails the first event
    user = _subscriber(desk, {"activation.status_changed", "sms.received"})
    activation = desk.order(user)
    desk.session.status = 500
    desk.service.deliver_user_webhooks()
    # When the SMS event is queued while the first is still being retried, and the job runs
    desk.session.status = 200
    desk.push(activation, CODE_SMS, None)
    desk.service.deliver_user_webhooks()
    # Then the SMS is not sent before the issued event
    assert [b["event"] for b in _bodies(desk)] == ["activation.status_changed"]
    # And once the first is retried and delivered, the second follows
    _deliver_all(desk)
    assert [b.get("change") or b["event"] for b in _bodies(desk)] == ["issued", "issued", "sms.received"]


def test_deliver__every_delivery_of_one_event_has_its_event_id(desk):
    # Given a delivered status event
    user = _subscriber(desk, {"activation.status_changed"})
    desk.order(user)
    _deliver_all(desk)
    (first,) = deliveries_page(user.account_id, 10, None).items
    # When the user redelivers it
    copy = Redelivery(desk.clock, desk.settings.write_shards).redeliver(Account.get(user.account_id),
                                                                       first.delivery_id)
    _deliver_all(desk)
    # Then the receiver got it twice with the same event id and different delivery ids
    posts = desk.posted_to(HOOK)
    assert [p.headers[EVENT_ID_HEADER] for p in posts] == [first.event_id, first.event_id]
    assert [json.loads(p.body)["delivery_id"] for p in posts] == [first.delivery_id, copy.delivery_id]
    # And the log shows both, newest first, the copy pointing at the original
    log = deliveries_page(user.account_id, 10, None).items
    assert [(d.delivery_id, d.status, d.redelivery_of) for d in log] == [
        (copy.delivery_id, "delivered", first.delivery_id), (first.delivery_id, "delivered", None)]


def test_redeliver__refused_for_another_account_or_while_pending(desk):
    # Given a subscriber's queued event and a stranger
    user = _subscriber(desk, {"activation.status_changed"})
    desk.order(user)
    (queued,) = deliveries_page(user.account_id, 10, None).items
    stranger = desk.account(0, webhook_url=HOOK)
    redelivery = Redelivery(desk.clock, desk.settings.write_shards)
    # When / Then the stranger cannot name it, and the owner cannot redeliver what is still pending
    with pytest.raises(NotFound):
        redelivery.redeliver(stranger, queued.delivery_id)
    with pytest.raises(Conflict):
        redelivery.redeliver(Account.get(user.account_id), queued.delivery_id)


def test_deliver__an_event_type_unsubscribed_after_it_was_queued_is_skipped(desk):
    # Given a queued status event
    user = _subscriber(desk, {"activation.status_changed"})
    desk.order(user)
    # When the user narrows the webhook to SMS before the job runs
    Account(user.account_id).update(actions=[Account.webhook_events.set({"sms.received"})])
    _deliver_all(desk)
    # Then nothing is sent and the log says why
    assert _bodies(desk) == []
    (skipped,) = [d for d in WebhookDelivery.scan() if d.account_id == user.account_id]
    assert (skipped.status, skipped.attempts) == ("skipped", 0)


def test_order_and_finish__a_subscriber_pays_no_extra_round_trip_for_the_issued_event(desk):
    # Given a subscriber to status changes, one order made already (warm caches)
    user = _subscriber(desk, {"activation.status_changed"}, balance_cents=10_000)
    desk.order(user)
    # When they order again
    with count_dynamodb_calls() as calls:
        activation = desk.order(Account.get(user.account_id, consistent_read=True))
    # Then the issued event rode in the issue's own write: two transactions, nothing else written
    writes = [op for op in calls.operations if op not in ("Query", "GetItem")]
    assert writes == ["TransactWriteItems", "TransactWriteItems"]
    assert activation.status == "WAITING"
