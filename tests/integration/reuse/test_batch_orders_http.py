"""Several numbers in one call over real HTTP on the local stack: the handler API's getMultiServiceNumber, REST's
POST /v1/activations/multi and /bulk, asking the partner simulator; all charges debited together or none."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from chalicelib.domain.accounts import LedgerKind
from tests.integration.reliability_support import checked_books, kinds
from tests.integration.reuse.conftest import price
from tests.support import customer_with_key, eventually

pytestmark = pytest.mark.integration


@pytest.fixture
def rest(stack, customer) -> Callable[..., requests.Response]:
    """POST a JSON body to a REST path as the customer."""
    def call(path: str, body: Any) -> requests.Response:
        return requests.post(f"{stack.app_url}{path}", json=body, timeout=30,
                             headers={"Authorization": f"Bearer {customer.api_key}"})

    return call


def test_get_multi_service_number__one_number_an_activation_and_a_charge_per_service(stack, handler, customer):
    # Given a bot with 10.00
    key = customer.api_key
    expected = sum(price(handler, key, s, 0) for s in ("tg", "wa", "vk"))
    # When it buys one number for Telegram, WhatsApp and VK in Russia
    reply = handler(api_key=key, action="getMultiServiceNumber", multiService="tg,wa,vk", country=0)
    # Then SMS-Activate's JSON lists an activation per service, all on one number, each charged
    assert reply.headers["Content-Type"] == "application/json"
    rows = reply.json()
    assert [r["service"] for r in rows] == ["tg", "wa", "vk"]
    assert len({r["phone"] for r in rows}) == 1 and all(isinstance(r["activation"], int) for r in rows)
    balance, entries = checked_books(customer.account_id)
    assert balance == 1000 - expected and len(kinds(entries, LedgerKind.ACTIVATION_CHARGE)) == 3
    # And an SMS from WhatsApp reaches the WhatsApp activation only
    requests.post(f"{stack.simulator_url}/_sim/deliver", timeout=5, json={
        "phone": rows[0]["phone"], "text": "WhatsApp code 246-810", "service": "wa"}).raise_for_status()
    status = eventually(lambda: handler(api_key=key, action="getStatus", id=rows[1]["activation"]).text,
                        lambda text: text.startswith("STATUS_OK"))
    assert status == "STATUS_OK:246810"
    assert handler(api_key=key, action="getStatus", id=rows[0]["activation"]).text == "STATUS_WAIT_CODE"


@pytest.mark.parametrize("params, reply", [
    ({"multiService": "tg"}, "BAD_SERVICE"), ({"multiService": "tg,tg"}, "BAD_SERVICE"),
    ({"multiService": "tg,٣"}, "BAD_SERVICE"), ({"multiService": ""}, "BAD_SERVICE"),
    ({"multiService": ",".join(["tg"] * 500)}, "BAD_SERVICE"),
    ({"multiService": "tg,wa", "country": "٣"}, "BAD_COUNTRY"),
    ({"multiService": "tg,wa", "multiForward": "0,1"}, "NO_NUMBERS"),
    ({"multiService": "tg,wa", "operator": "verizon"}, "WRONG_OPERATOR"),
], ids=["one", "twice", "other_digits", "empty", "huge", "country", "forward", "operator"])
def test_get_multi_service_number__bad_input_is_the_protocol_string_and_charges_nothing(handler, customer, params,
                                                                                        reply):
    answer = handler(api_key=customer.api_key, action="getMultiServiceNumber", **params)
    assert (answer.status_code, answer.text) == (200, reply)
    assert checked_books(customer.account_id)[0] == 1000


def test_get_multi_service_number__a_lone_surrogate_is_bad_service(stack, priced, customer):
    # A lone surrogate (U+D800) as the invalid UTF-8 a client would send for it
    url = (f"{stack.app_url}/stubs/handler_api.php?api_key={customer.api_key}&action=getMultiServiceNumber"
           "&multiService=tg,%ED%A0%80&country=0")
    answer = requests.get(url, timeout=30)
    assert (answer.status_code, answer.text) == (200, "BAD_SERVICE")
    assert checked_books(customer.account_id)[0] == 1000


def test_get_multi_service_number__a_partner_without_it_is_no_numbers_and_refunded_at_once(handler, customer,
                                                                                            simulator):
    # Given a partner (a clone) that has no getMultiServiceNumber
    simulator({"disabled_actions": ["getMultiServiceNumber"]})
    # When a bot asks for a multi-service number
    answer = handler(api_key=customer.api_key, action="getMultiServiceNumber", multiService="tg,wa", country=0)
    # Then it is the protocol's NO_NUMBERS with HTTP 200, and the money is back, each charge refunded once
    assert (answer.status_code, answer.text) == (200, "NO_NUMBERS")
    balance, entries = checked_books(customer.account_id)
    assert balance == 1000 and len(kinds(entries, LedgerKind.ACTIVATION_REFUND)) == 2


def test_multi__rest_orders_one_number_for_several_services(rest, customer):
    reply = rest("/v1/activations/multi", {"services": ["tg", "wa"], "country": 0})
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["requested"], body["issued"], body["refunded_cents"]) == (2, 2, 0)
    assert len({item["phone"] for item in body["items"]}) == 1
    assert checked_books(customer.account_id)[0] == 1000 - sum(i["price_cents"] for i in body["items"])


@pytest.mark.parametrize("body", [{"services": "tg,wa", "country": 0}, {"services": ["tg"] * 11, "country": 0},
                                  {"services": ["tg", 5], "country": 0}, {"services": ["tg", "\ud800"], "country": 0},
                                  {"services": ["tg", "wa"], "country": "٣"}])
def test_multi__hostile_input_is_422_and_charges_nothing(rest, customer, body):
    reply = rest("/v1/activations/multi", body)
    assert reply.status_code == 422 and reply.json()["error"]["message"]
    assert checked_books(customer.account_id)[0] == 1000


def test_bulk__orders_count_numbers_each_charged_debited_together(rest, customer):
    # When a user orders three Telegram numbers in one call
    reply = rest("/v1/activations/bulk", {"service": "tg", "country": 0, "count": 3})
    # Then three different numbers are issued, each its own activation and charge
    assert reply.status_code == 201, reply.text
    body = reply.json()
    assert (body["requested"], body["issued"], body["refunded_cents"]) == (3, 3, 0)
    assert len({item["phone"] for item in body["items"]}) == 3
    balance, entries = checked_books(customer.account_id)
    assert balance == 1000 - sum(i["price_cents"] for i in body["items"])
    assert len(kinds(entries, LedgerKind.ACTIVATION_CHARGE)) == 3


def test_bulk__the_part_the_partner_cannot_fill_is_refunded_at_once(rest, customer, simulator):
    # Given a partner with one Facebook number left in Kazakhstan (our catalog still shows more)
    simulator({"stock": {"fb:2": 1}})
    # When three are ordered
    body = rest("/v1/activations/bulk", {"service": "fb", "country": 2, "count": 3}).json()
    # Then one is issued and the other two are refunded at once, once each
    assert sorted(i["status"] for i in body["items"]) == ["FAILED", "FAILED", "WAITING"]
    assert body["refunded_cents"] == 2 * body["items"][0]["price_cents"]
    balance, entries = checked_books(customer.account_id)
    assert balance == 1000 - body["items"][0]["price_cents"]
    assert len(kinds(entries, LedgerKind.ACTIVATION_REFUND)) == 2


@pytest.mark.parametrize("count", [0, 11, "٣", 1e300, 10**40, True, None, "3"])
def test_bulk__a_count_outside_one_to_ten_is_422_and_charges_nothing(rest, customer, count):
    reply = rest("/v1/activations/bulk", {"service": "tg", "country": 0, "count": count})
    assert reply.status_code == 422 and "count" in reply.json()["error"]["message"]
    assert checked_books(customer.account_id)[0] == 1000


def test_bulk__short_of_the_sum_is_402_and_charges_nothing(stack, priced, handler, customer):
    # Given a user holding the price of two numbers
    two = 2 * price(handler, customer.api_key, "tg", 0)
    poorer = customer_with_key(priced, balance_cents=two)
    # When they order three
    reply = requests.post(f"{stack.app_url}/v1/activations/bulk", json={"service": "tg", "country": 0, "count": 3},
                          headers={"Authorization": f"Bearer {poorer.api_key}"}, timeout=30)
    # Then none is charged: all or nothing
    assert (reply.status_code, reply.json()["error"]["code"]) == (402, "INSUFFICIENT_BALANCE")
    assert checked_books(poorer.account_id)[0] == two


def test_order__count_above_one_is_422_pointing_to_bulk(rest, customer):
    reply = rest("/v1/activations", {"service": "tg", "country": 0, "count": 2})
    assert reply.status_code == 422 and "/v1/activations/bulk" in reply.json()["error"]["message"]
    assert checked_books(customer.account_id)[0] == 1000
