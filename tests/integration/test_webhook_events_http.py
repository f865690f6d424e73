"""Every event as a webhook, over real HTTP to a real receiver: signed, retried after a failure, each stream in
sequence order, deduplicable by event id, listed in the delivery log and redelivered from it; bad input refused."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.history_cursor import encode_cursor
from tests.support import Customer, customer_with_key, deliver_sms, priced_on_demand, wait_until
from tests.webhook_receiver import Receiver, receiving, signed_by

pytestmark = pytest.mark.integration

EVERYTHING = ["activation.status_changed", "balance.changed", "sms.received"]


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    with priced_on_demand(stack) as settings:
        yield settings


def _call(stack, customer: Customer, method: str, path: str, *, headers: dict[str, str] | None = None,
          **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{stack.app_url}{path}", timeout=10,
                            headers={"Authorization": f"Bearer {customer.api_key}", **(headers or {})}, **kwargs)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with receiving(Receiver()) as found:
        yield found


def test_webhook_events__signed_retried_ordered_logged_and_redelivered(stack, priced, receiver):
    hook, url = receiver
    # Given a bot whose webhook takes every event, and whose endpoint fails the first POST about its number
    customer = customer_with_key(priced, balance_cents=10_000)
    saved = _call(stack, customer, "PUT", "/v1/webhook", json={"url": url, "events": EVERYTHING})
    assert saved.status_code == 200, saved.text
    assert saved.json()["events"] == EVERYTHING
    secret = saved.json()["secret"]
    hook.fail_first_of_activation = True
    # When it orders a number, its SMS arrives, and it finishes the number
    ordered = _call(stack, customer, "POST", "/v1/activations", json={"service": "tg", "country": 0})
    assert ordered.status_code == 201, ordered.text
    activation = ordered.json()
    deliver_sms(stack, activation["phone"], "Your Telegram code is 24680")
    assert wait_until(lambda: _call(stack, customer, "GET", f"/v1/activations/{activation['id']}").json()["sms"],
                      seconds=15)
    assert _call(stack, customer, "POST", f"/v1/activations/{activation['id']}/finish").status_code == 200
    stream = f"activation:{activation['id']}"
    assert wait_until(lambda: len([r for r in hook.delivered() if r.event["stream"] == stream]) == 3, seconds=30)
    # Then every POST is signed with the webhook's secret and names its event id in a header
    assert all(signed_by(secret, r) for r in hook.received)
    assert all(r.headers["x-smsrooms-event-id"] == r.event["event_id"] for r in hook.received)
    # And the failed first POST was retried with the same event id, the one POST answered 500
    (failed,) = [r for r in hook.received if r.answered == 500]
    assert [r.event["event_id"] for r in hook.delivered()].count(failed.event["event_id"]) == 1
    # And the activation's events reached it in sequence order, even though the first one was retried
    arrived = [r.event for r in hook.delivered() if r.event["stream"] == stream]
    assert [(e["event"], e.get("change")) for e in arrived] == [
        ("activation.status_changed", "issued"), ("sms.received", None), ("activation.status_changed", "finished")]
    assert [e["sequence"] for e in arrived] == sorted(e["sequence"] for e in arrived)
    assert arrived[1]["sms"]["code"] == "24680"
    # And the balance told of the charge with the ledger's sequence
    balance = [r.event for r in hook.delivered() if r.event["event"] == "balance.changed"]
    assert [(e["kind"], e["amount_cents"]) for e in balance] == [("activation_charge", -activation["price_cents"])]

    # When the bot reads its delivery log
    log = _call(stack, customer, "GET", "/v1/webhook/deliveries", params={"limit": 10}).json()["items"]
    # Then it shows each delivery, the retried one with two attempts and the receiver's last answer
    retried = next(d for d in log if d["event_id"] == failed.event["event_id"])
    assert (retried["status"], retried["attempts"], retried["last_status_code"]) == ("delivered", 2, 200)
    assert {d["status"] for d in log} == {"delivered"}

    # When it redelivers the SMS event from the log
    sms = next(d for d in log if d["event"] == "sms.received")
    again = _call(stack, customer, "POST", f"/v1/webhook/deliveries/{sms['delivery_id']}/redeliver")
    assert again.status_code == 201, again.text
    # Then the receiver gets the same event again (same event id, a new delivery id), signed
    assert wait_until(lambda: [r.event["event_id"] for r in hook.delivered()].count(sms["event_id"]) == 2,
                      seconds=15)
    copy = [r for r in hook.delivered() if r.event["event_id"] == sms["event_id"]][-1]
    assert copy.event["delivery_id"] == again.json()["delivery_id"] != sms["delivery_id"]
    assert signed_by(secret, copy)
    # And the log lists the redelivery first, pointing at the original
    newest = _call(stack, customer, "GET", "/v1/webhook/deliveries", params={"limit": 1}).json()
    assert newest["items"][0]["redelivery_of"] == sms["delivery_id"]
    assert newest["next_cursor"]


def test_webhook_deliveries__bad_input_is_a_clear_4xx(stack, priced):
    # Given two bots, and a cursor of the delivery log as the API would give it to the other one
    customer, other = customer_with_key(priced), customer_with_key(priced)
    others_cursor = encode_cursor(other.account_id, "webhook_deliveries", "1800000000000#whd_x")
    assert _call(stack, other, "GET", "/v1/webhook/deliveries", params={"cursor": others_cursor}).status_code == 200
    # When they send hostile paging, filters, ids and subscriptions
    bad = {
        "limit in Arabic digits": ("GET", "/v1/webhook/deliveries", {"params": {"limit": "١٠"}}),
        "limit in superscript": ("GET", "/v1/webhook/deliveries", {"params": {"limit": "²"}}),
        "a huge limit": ("GET", "/v1/webhook/deliveries", {"params": {"limit": "9" * 40}}),
        "a forged cursor": ("GET", "/v1/webhook/deliveries", {"params": {"cursor": "eyJ4IjoxfQ"}}),
        "a cursor of 5000 characters": ("GET", "/v1/webhook/deliveries", {"params": {"cursor": "A" * 5000}}),
        "an unknown status": ("GET", "/v1/webhook/deliveries", {"params": {"status": "delivered\u202e"}}),
        "an unknown event": ("GET", "/v1/webhook/deliveries", {"params": {"event": "sms.*"}}),
        "an unknown event type": ("PUT", "/v1/webhook", {"json": {"url": "https://example.com/h", "events": ["x"]}}),
        "no event type": ("PUT", "/v1/webhook", {"json": {"url": "https://example.com/h", "events": []}}),
        "events not a list": ("PUT", "/v1/webhook", {"json": {"url": "https://example.com/h", "events": "all"}}),
        "a lone surrogate": ("PUT", "/v1/webhook",
                             {"data": b'{"url":"https://example.com/h","events":["sms.received\\ud800"]}',
                              "headers": {"Content-Type": "application/json"}}),
    }
    answers = {name: _call(stack, customer, method, path, **kwargs) for name, (method, path, kwargs) in bad.items()}
    # Then each is a 422 with a message naming the field, nothing a 500
    assert {name: r.status_code for name, r in answers.items()} == {name: 422 for name in bad}
    assert all(r.json()["error"]["message"] for r in answers.values())
    # And another account's cursor is refused, and unknown or hostile delivery ids name nothing
    assert _call(stack, customer, "GET", "/v1/webhook/deliveries", params={"cursor": others_cursor}).status_code == 422
    for delivery_id in ("whd_nothing", "whd_٣", "..%2F..%2Fv1%2Fme"):
        assert _call(stack, customer, "POST", f"/v1/webhook/deliveries/{delivery_id}/redeliver").status_code == 404
