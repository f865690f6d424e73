"""SMS reaching users by the three paths (push, on-demand, poll), and their webhooks signed and retried."""
from __future__ import annotations

import hashlib
import hmac
import json

from chalicelib.providers.base import PartnerStatus
from chalicelib.services.platform.user_webhooks import SIGNATURE_HEADER
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation, WebhookDelivery
from tests.unit.activation_support import Desk

TEXT = "Your Telegram code is 12345. Do not give this code to anyone."


def _sms_for_webhook(desk: Desk, webhook_url: str) -> tuple[Account, Activation]:
    """A user whose webhook is `webhook_url`, and the number whose SMS was just pushed to us (delivery queued)."""
    user, activation = desk.waiting_number(1000, webhook_url=webhook_url)
    desk.push(activation, TEXT, "12345")
    return user, activation


def _deliveries_to(account_id: str) -> list[WebhookDelivery]:
    return [d for d in WebhookDelivery.scan() if d.account_id == account_id]


def test_record_push__shows_the_code_at_once_and_ignores_a_repeat(desk):
    # Given a waiting number
    _, activation = desk.waiting_number(1000)
    # When the partner pushes its SMS, twice (a retried push)
    assert desk.push(activation, TEXT, "12345")
    desk.push(activation, TEXT, "12345")
    # Then the user sees one SMS with its code, without any question to the partner
    shown = Activation.get(activation.activation_id)
    assert (shown.status, [(s.code, s.text, s.source) for s in shown.sms]) == ("RECEIVED", [("12345", TEXT, "push")])
    assert desk.partner.calls["get_state"] == 0


def test_record_push__unknown_activation_is_reported(desk):
    # Given no activation with that partner id
    # When a push names it / Then it is not recorded anywhere
    assert desk.service.record_push(desk.partner.name, "999999", TEXT, None) is False


def test_record_sms__code_extracted_from_the_text_not_taken_blindly_from_the_partner(desk):
    # Given a partner that reports the whole text as the "code"
    _, activation = desk.waiting_number(1000)
    # When the SMS is pushed
    desk.push(activation, "G-482913 is your Google code", "G-482913 is your Google code")
    # Then the user gets the digits
    assert [s.code for s in Activation.get(activation.activation_id).sms] == ["482913"]


def test_get__asks_the_partner_at_most_once_per_refresh_interval(desk):
    # Given a waiting number whose SMS reached the partner
    user, activation = desk.waiting_number(1000)
    desk.deliver(activation, TEXT)
    # When the user looks at once, then again after the refresh interval
    early = desk.service.get(user.account_id, int(activation.activation_id))
    later = desk.look(user.account_id, activation)
    # Then the first look did not ask the partner, the second did and shows the code
    assert early.status == "WAITING"
    assert (later.status, [s.source for s in later.sms]) == ("RECEIVED", ["on_demand"])
    assert desk.partner.calls["get_state"] == 1


def test_get__a_number_the_partner_dropped_fails_and_refunds(desk):
    # Given the partner canceled a waiting number on its side
    user, activation = desk.waiting_number(1000)
    desk.partner.rented[activation.partner_activation_id].status = PartnerStatus.CANCELED
    # When the user looks
    shown = desk.look(user.account_id, activation)
    # Then the activation failed and the money is back
    assert shown.status == "FAILED"
    assert desk.balance(user.account_id) == 1000


def test_poll__one_partner_call_for_all_its_activations(desk):
    # Given five waiting numbers at one partner, three of which got their SMS there
    user = desk.account(1000)
    orders = [desk.order(user) for _ in range(5)]
    for activation in orders[:3]:
        desk.deliver(activation, f"Your Telegram code is 1000{activation.partner_activation_id}")
    # When the poller runs
    changed = desk.service.poll_partners()
    # Then one call to the partner brought all three codes in
    assert desk.partner.calls["get_active_states"] == 1
    assert changed == {desk.partner.name: 3}
    statuses = [Activation.get(a.activation_id).status for a in orders]
    assert statuses == ["RECEIVED", "RECEIVED", "RECEIVED", "WAITING", "WAITING"]
    assert Activation.get(orders[0].activation_id).sms[0].source == "poll"


def test_poll__an_sms_after_cancel_changes_nothing(desk):
    # Given a canceled (refunded) activation
    user, activation = desk.waiting_number(1000)
    desk.past_cancel_window()
    desk.service.cancel(user.account_id, int(activation.activation_id))
    # When a late SMS is pushed for it
    desk.push(activation, TEXT, "12345")
    # Then it stays canceled and refunded
    shown = Activation.get(activation.activation_id)
    assert (shown.status, list(shown.sms)) == ("CANCELED", [])
    assert desk.balance(user.account_id) == 1000


def test_deliver_user_webhooks__posts_the_sms_signed_with_the_users_secret(desk):
    # Given a user with a webhook, whose SMS arrives
    _, activation = _sms_for_webhook(desk, "https://bot.example.com/signed")
    # When the delivery job runs (twice: at least once, not twice per success)
    desk.service.deliver_user_webhooks()
    desk.service.deliver_user_webhooks()
    # Then one POST carried the code, signed with HMAC-SHA256 of the body under their secret
    (posted,) = desk.posted_to("https://bot.example.com/signed")
    expected = hmac.new(b"whsec_test", posted.body, hashlib.sha256).hexdigest()
    assert posted.headers[SIGNATURE_HEADER] == expected
    event = json.loads(posted.body)
    assert (event["event"], event["activation_id"], event["sms"]["code"]) == (
        "sms.received", int(activation.activation_id), "12345")


def test_deliver_user_webhooks__failure_is_retried_with_backoff(desk):
    # Given a webhook endpoint that answers 500
    user, _ = _sms_for_webhook(desk, "https://bot.example.com/flaky")
    desk.session.status = 500
    desk.service.deliver_user_webhooks()
    # When the job runs again at once, then after the backoff with the endpoint back
    desk.service.deliver_user_webhooks()
    desk.session.status = 200
    desk.clock.advance(6)
    desk.service.deliver_user_webhooks()
    # Then the first retry waited for the backoff and the second attempt delivered it
    assert len(desk.posted_to("https://bot.example.com/flaky")) == 2
    (delivery,) = _deliveries_to(user.account_id)
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


def test_deliver_user_webhooks__gives_up_after_the_last_attempt(desk):
    # Given an endpoint that always fails
    user, _ = _sms_for_webhook(desk, "https://bot.example.com/down")
    desk.session.status = 503
    # When the job runs past every backoff
    for _ in range(desk.webhooks.max_attempts + 2):
        desk.service.deliver_user_webhooks()
        desk.clock.advance(3600)
    # Then it tried max_attempts times and stopped
    assert len(desk.posted_to("https://bot.example.com/down")) == desk.webhooks.max_attempts
    (delivery,) = _deliveries_to(user.account_id)
    assert delivery.status == "failed"


def test_record_sms__no_webhook_configured_queues_nothing(desk):
    # Given a user without a webhook
    user, activation = desk.waiting_number(1000)
    # When an SMS arrives
    desk.push(activation, TEXT, "12345")
    # Then no event is queued for them
    assert _deliveries_to(user.account_id) == []
