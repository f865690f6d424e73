"""Another code on a number used before, over real HTTP on the local stack: the handler API's getExtraActivation and
checkExtraActivation, REST's reactivate, and 5sim's user/reuse, all asking the partner simulator."""
from __future__ import annotations

import pytest
import requests

from chalicelib.domain.money import parse_major
from tests.integration.reuse.conftest import Handler
from tests.support import customer_with_key, deliver_sms, eventually

pytestmark = pytest.mark.integration


def used_number(stack, handler: Handler, key: str) -> tuple[int, str]:
    """A Telegram number in Russia whose code arrived and which was finished: (activation id, phone)."""
    _, activation_id, phone = handler(api_key=key, action="getNumber", service="tg", country=0).text.split(":")
    deliver_sms(stack, phone, "Telegram code 48213. Do not share it.")
    status = eventually(lambda: handler(api_key=key, action="getStatus", id=activation_id).text,
                        lambda text: text.startswith("STATUS_OK"))
    assert status == "STATUS_OK:48213"
    assert handler(api_key=key, action="setStatus", id=activation_id, status=6).text == "ACCESS_ACTIVATION"
    return int(activation_id), phone


def balance(handler: Handler, key: str) -> int:
    return parse_major(handler(api_key=key, action="getBalance").text.removeprefix("ACCESS_BALANCE:"))


def test_extra_activation__check_then_get_charges_the_quoted_price_on_the_same_number(stack, handler, customer):
    # Given a bot whose Telegram number got its code and was finished
    parent, phone = used_number(stack, handler, customer.api_key)
    before = balance(handler, customer.api_key)
    # When it asks the price of another activation on the number, then buys it
    quote = handler(api_key=customer.api_key, action="checkExtraActivation", activationId=parent)
    bought = handler(api_key=customer.api_key, action="getExtraActivation", activationId=parent).text
    # Then the price is SMS-Activate's JSON, the new activation is on the same number, charged that price
    assert quote.headers["Content-Type"] == "application/json"
    body = quote.json()
    assert (body["status"], body["service"], body["phone"], body["country"]) == ("success", "tg", int(phone), 0)
    prefix, new_id, new_phone = bought.split(":")
    assert (prefix, new_phone) == ("ACCESS_NUMBER", phone) and int(new_id) != parent
    assert balance(handler, customer.api_key) == before - parse_major(str(body["cost"]))
    # And the code sent to the number again reaches the new activation
    deliver_sms(stack, phone, "Telegram code 77001. Do not share it.")
    status = eventually(lambda: handler(api_key=customer.api_key, action="getStatus", id=new_id).text,
                        lambda text: text.startswith("STATUS_OK"))
    assert status == "STATUS_OK:77001"


def test_extra_activation__a_number_without_a_code_is_not_available_and_charges_nothing(handler, customer):
    # Given a number still waiting for its first code
    _, activation_id, _ = handler(api_key=customer.api_key, action="getNumber", service="tg", country=0).text.split(":")
    before = balance(handler, customer.api_key)
    # When the bot asks for an extra activation on it (aiosmsactivate sends the parent as `id`)
    for params in ({"activationId": activation_id}, {"id": activation_id}):
        reply = handler(api_key=customer.api_key, action="getExtraActivation", **params)
        # Then it is refused with the protocol's string, and nothing was charged
        assert (reply.status_code, reply.text) == (200, "RENEW_ACTIVATION_NOT_AVAILABLE")
    assert balance(handler, customer.api_key) == before


@pytest.mark.parametrize("parent", ["", "abc", "٣", "0", "-5", "1" * 40, "\U0001d7d1\U0001d7d0"])
def test_extra_activation__a_malformed_parent_is_wrong_activation_id(handler, customer, parent):
    for action in ("checkExtraActivation", "getExtraActivation"):
        reply = handler(api_key=customer.api_key, action=action, activationId=parent)
        assert (reply.status_code, reply.text) == (200, "WRONG_ACTIVATION_ID")


def test_extra_activation__a_partner_without_the_action_is_not_available_never_an_error(
        stack, handler, customer, simulator):
    # Given a used number whose partner (a clone) has no extra activations
    parent, _ = used_number(stack, handler, customer.api_key)
    simulator({"disabled_actions": ["checkExtraActivation", "getExtraActivation"]})
    before = balance(handler, customer.api_key)
    # When the bot asks for one
    replies = [handler(api_key=customer.api_key, action=a, activationId=parent)
               for a in ("checkExtraActivation", "getExtraActivation")]
    # Then both answer the protocol's "not available" string with HTTP 200, and nothing was charged
    assert [(r.status_code, r.text) for r in replies] == [(200, "RENEW_ACTIVATION_NOT_AVAILABLE")] * 2
    assert balance(handler, customer.api_key) == before


def test_reactivate__rest_quote_then_order_with_the_quoted_maximum(stack, handler, customer):
    # Given a used number
    parent, phone = used_number(stack, handler, customer.api_key)
    auth = {"Authorization": f"Bearer {customer.api_key}"}
    base = f"{stack.app_url}/v1/activations/{parent}"
    # When the user reads the price and orders another code at most at that price
    quote = requests.get(f"{base}/reactivation", headers=auth, timeout=15)
    price = quote.json()["price_cents"]
    again = requests.post(f"{base}/reactivate", json={"max_price_cents": price}, headers=auth, timeout=15)
    # Then a new activation on the same number is issued at that price and names its parent
    assert (quote.status_code, again.status_code) == (200, 201)
    body = again.json()
    assert (body["phone"], body["price_cents"], body["reactivation_of"], body["status"]) == (
        phone, price, parent, "WAITING")
    # And asking with a maximum below the price charges nothing
    before = balance(handler, customer.api_key)
    low = requests.post(f"{base}/reactivate", json={"max_price_cents": price - 1}, headers=auth, timeout=15)
    assert (low.status_code, low.json()["error"]["code"]) == (409, "WRONG_MAX_PRICE")
    assert balance(handler, customer.api_key) == before


@pytest.mark.parametrize("body", ['{"max_price_cents": "٣"}', '{"max_price_cents": 1e300}',
                                  '{"max_price_cents": 10000000000000000000000}', '{"max_price_cents": "\\ud800"}',
                                  '[1]', '{"max_price_cents": true}'])
def test_reactivate__hostile_input_is_422_and_charges_nothing(stack, handler, customer, body):
    parent, _ = used_number(stack, handler, customer.api_key) if body == '[1]' else (1, "")
    before = balance(handler, customer.api_key)
    reply = requests.post(f"{stack.app_url}/v1/activations/{parent}/reactivate", data=body.encode(),
                          headers={"Authorization": f"Bearer {customer.api_key}",
                                   "Content-Type": "application/json"}, timeout=15)
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["message"]
    assert balance(handler, customer.api_key) == before


def test_reactivate__an_id_in_other_digits_or_someone_elses_is_404(stack, handler, customer, priced):
    parent, _ = used_number(stack, handler, customer.api_key)
    stranger = customer_with_key(priced, balance_cents=1000)
    for key, activation_id in ((customer.api_key, "٣"), (stranger.api_key, str(parent))):
        reply = requests.post(f"{stack.app_url}/v1/activations/{activation_id}/reactivate",
                              headers={"Authorization": f"Bearer {key}"}, timeout=15)
        assert reply.status_code == 404
    assert balance(handler, stranger.api_key) == 1000


def test_reuse__fivesim_route_orders_the_number_again(stack, handler, customer):
    # Given a used Telegram number
    parent, phone = used_number(stack, handler, customer.api_key)
    auth = {"Authorization": f"Bearer {customer.api_key}", "Accept": "application/json"}
    # When a 5sim client re-buys it, and a number it never had
    reused = requests.get(f"{stack.app_url}/5sim/v1/user/reuse/telegram/{phone}", headers=auth, timeout=15)
    unknown = requests.get(f"{stack.app_url}/5sim/v1/user/reuse/telegram/79990000000", headers=auth, timeout=15)
    # Then the first is a 5sim order on the same number; the second is 5sim's words, nothing charged
    assert reused.status_code == 200
    order = reused.json()
    assert (order["phone"], order["product"], order["status"]) == (f"+{phone}", "telegram", "RECEIVED")
    assert int(order["id"]) != parent
    assert (unknown.status_code, unknown.text) == (400, "reuse not possible")


def test_extra_activation__past_the_partners_window_is_not_available(stack, handler, customer, simulator):
    # Given a used number whose partner keeps numbers for reactivation for no time at all
    parent, _ = used_number(stack, handler, customer.api_key)
    simulator({"reactivation_window_seconds": 0})
    before = balance(handler, customer.api_key)
    # When the bot asks for an extra activation
    reply = handler(api_key=customer.api_key, action="getExtraActivation", activationId=parent)
    # Then it is refused and nothing is charged
    assert reply.text == "RENEW_ACTIVATION_NOT_AVAILABLE"
    assert balance(handler, customer.api_key) == before


@pytest.mark.parametrize("product, number", [("telegram", "٣٣٣٣٣٣٣"), ("telegram", "1" * 40), ("telegram", "abc"),
                                             ("telegram", "+"), ("nosuchproduct", "79990000000")])
def test_reuse__a_malformed_number_or_product_is_5sims_words_and_charges_nothing(stack, handler, customer, product,
                                                                                 number):
    reply = requests.get(f"{stack.app_url}/5sim/v1/user/reuse/{product}/{number}", timeout=15,
                         headers={"Authorization": f"Bearer {customer.api_key}", "Accept": "application/json"})
    assert reply.status_code == 400 and reply.text in ("reuse not possible", "no product")
    assert balance(handler, customer.api_key) == 1000
