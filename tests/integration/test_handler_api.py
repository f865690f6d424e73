"""The SMS-Activate handler API over real HTTP against the local stack: what a bot sees, byte for byte."""
from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.money import format_major, parse_major
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform import runtime_settings
from chalicelib.store.money import DynamoMoneyStore
from tests.support import (
    GRACE_SECONDS,
    Customer,
    customer_with_key,
    deliver_sms,
    eventually,
    priced_on_demand,
    unverified_customer_with_key,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TEXT = "text/plain; charset=utf-8"


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    """The stack's settings with prices loaded; SMS arrive only when a test delivers one (once per module)."""
    with priced_on_demand(stack) as settings:
        yield settings


@pytest.fixture(scope="module")
def reader(priced) -> Customer:
    """An account for the tests that only read or are refused: it never buys anything."""
    return customer_with_key(priced, balance_cents=1000)


@pytest.fixture
def handler(stack, priced) -> Callable[..., requests.Response]:
    """GET /stubs/handler_api.php with the given parameters."""
    url = f"{stack.app_url}/stubs/handler_api.php"

    def call(**params: str | int) -> requests.Response:
        return requests.get(url, params=params, timeout=15)

    return call


@pytest.fixture
def rich(stack_settings) -> Customer:
    return customer_with_key(stack_settings, balance_cents=1000)


def price_cents(handler, key: str, service: str, country: int) -> int:
    prices = handler(api_key=key, action="getPrices", service=service, country=country).json()
    return parse_major(str(prices[str(country)][service]["cost"]))


def test_get_balance__plain_text_two_decimals_no_newline(handler, stack_settings):
    # Given an account holding 12.34
    customer = customer_with_key(stack_settings, balance_cents=1234)
    # When a bot asks for its balance
    reply = handler(api_key=customer.api_key, action="getBalance")
    # Then the exact protocol string comes back as UTF-8 plain text
    assert (reply.status_code, reply.content, reply.headers["Content-Type"]) == (200, b"ACCESS_BALANCE:12.34", TEXT)
    assert handler(api_key=customer.api_key, action="getBalanceAndCashBack").text == "ACCESS_BALANCE:12.34"


def test_handler__post_forms_and_query_string_answer_like_get(stack, reader):
    # Given the three ways clients POST: a urlencoded form, a multipart form, the query string with no body
    url = f"{stack.app_url}/stubs/handler_api.php"
    fields = {"api_key": reader.api_key, "action": "getBalance"}
    # When each is sent
    replies = [requests.post(url, data=fields, timeout=10),
               requests.post(url, files={k: (None, v) for k, v in fields.items()}, timeout=10),
               requests.post(url, params=fields, timeout=10)]
    # Then each gets the same answer as a GET
    assert [(r.status_code, r.text) for r in replies] == [(200, "ACCESS_BALANCE:10.00")] * 3


def test_handler__bad_or_missing_key_and_unknown_action(handler, reader):
    assert handler(api_key="smsr_not-a-key", action="getBalance").text == "BAD_KEY"
    assert handler(action="getBalance").text == "BAD_KEY"
    assert handler(api_key=reader.api_key, action="getCoffee").text == "BAD_ACTION"
    assert handler(api_key=reader.api_key).text == "BAD_ACTION"


def test_lists__json_shapes_clients_parse(handler, reader):
    # When the catalog actions are called
    prices = handler(api_key=reader.api_key, action="getPrices", service="tg")
    status = handler(api_key=reader.api_key, action="getNumbersStatus", country=187)
    countries = handler(api_key=reader.api_key, action="getCountries")
    top = handler(api_key=reader.api_key, action="getTopCountriesByService", service="tg")
    # Then each is JSON in the protocol's shape
    assert {r.headers["Content-Type"] for r in (prices, status, countries, top)} == {"application/json"}
    tg_usa = prices.json()["187"]["tg"]
    assert tg_usa["count"] > 0 and tg_usa["cost"] > 0
    assert status.json()["tg_0"] == tg_usa["count"] and "wa_0" in status.json()
    assert countries.json()["187"]["eng"] == "USA" and countries.json()["0"]["id"] == 0
    # (plus, once numbers of it have ended in the last 24 h, the share that got a code)
    usa = top.json()["187"]
    assert {k: v for k, v in usa.items() if k != "rate"} == {"country": 187, "count": tg_usa["count"],
                                                             "price": tg_usa["cost"], "retail_price": tg_usa["cost"]}
    assert 0 <= usa.get("rate", 0) <= 100


def test_start_up_lists__operators_services_and_every_services_top_countries(handler, reader):
    # When a client calls the lists standard clients read at start-up
    operators = handler(api_key=reader.api_key, action="getOperators", country=0)
    everywhere = handler(api_key=reader.api_key, action="getOperators").json()
    nowhere = handler(api_key=reader.api_key, action="getOperators", country=9999)
    services = handler(api_key=reader.api_key, action="getServicesList")
    in_russia = handler(api_key=reader.api_key, action="getServicesList", country=0, lang="en").json()
    every_top = handler(api_key=reader.api_key, action="getTopCountriesByService")
    tg_top = handler(api_key=reader.api_key, action="getTopCountriesByService", service="tg").json()
    # Then operators come per country from the partner's own list, or the protocol's not-found envelope
    assert (operators.headers["Content-Type"], operators.json()) == ("application/json", {
        "status": "success", "countryOperators": {"0": ["beeline", "megafon", "mts", "tele2"]}})
    assert everywhere["countryOperators"]["187"] == ["att", "tmobile", "verizon"]
    assert nowhere.json() == {"status": "error", "error": "OPERATORS_NOT_FOUND"}
    # And the services are our list with its names; a country keeps those on sale there
    listed = services.json()
    assert listed["status"] == "success" and {"code": "go", "name": "Google, Gmail, YouTube"} in listed["services"]
    assert {s["code"] for s in in_russia["services"]} == {"tg", "wa", "go", "fb", "ig", "tw", "vk", "ok", "vi",
                                                          "wb", "mm", "ds", "ot", "zv", "xq"}
    # And what the partner sells beyond our list comes under the partner's name, cleaned of what cannot be read
    assert {"code": "zv", "name": "Zava Rides"} in in_russia["services"]
    assert {"code": "xq", "name": '<img src=x onerror="window.pwned=1">Quiz Club'} in in_russia["services"]
    # And without a service every service's top countries come keyed by its code, each as its own reply
    assert every_top.headers["Content-Type"] == "application/json"
    assert every_top.json()["tg"] == tg_top and set(every_top.json()) >= {"wa", "go", "vk"}


def test_get_number__an_operator_no_partner_has_is_wrong_operator_and_no_history(stack, handler, rich):
    # When a bot asks for a Russian number of an American operator, and one of an unheard-of operator
    verizon = handler(api_key=rich.api_key, action="getNumber", service="tg", country=0, operator="verizon")
    unheard = handler(api_key=rich.api_key, action="getNumberV2", service="tg", country=0, operator="zz9")
    # Then both are WRONG_OPERATOR, the balance is whole and the history holds nothing but the top-up
    assert (verizon.status_code, verizon.text, unheard.text) == (200, "WRONG_OPERATOR", "WRONG_OPERATOR")
    assert handler(api_key=rich.api_key, action="getBalance").text == "ACCESS_BALANCE:10.00"
    entries = Wallet(SystemClock(), DynamoMoneyStore()).entries(rich.account_id, limit=100)
    assert [e.kind for e in entries] == [LedgerKind.ADJUSTMENT.value]
    assert handler(api_key=rich.api_key, action="getActiveActivations").text == "NO_ACTIVATIONS"
    # And an operator the partner lists is sold and named on the activation
    bought = handler(api_key=rich.api_key, action="getNumberV2", service="tg", country=0, operator="mts").json()
    assert bought["activationOperator"] == "mts"
    assert handler(api_key=rich.api_key, action="setStatus", id=bought["activationId"], status=8).text in (
        "ACCESS_CANCEL", "EARLY_CANCEL_DENIED")


def test_prices__match_the_public_catalog(stack, handler, reader):
    # Given the REST catalog's cheapest price in stock for Telegram in the USA
    items = requests.get(f"{stack.app_url}/v1/catalog", params={"service": "tg", "country": "187"}, timeout=10).json()
    cheapest = min(i["price_cents"] for i in items["items"] if i["available"] > 0)
    # Then the handler API quotes the same price in major units
    assert price_cents(handler, reader.api_key, "tg", 187) == cheapest


def test_lifecycle__number_code_finish(stack, handler, rich):
    # Given a priced service
    price = price_cents(handler, rich.api_key, "tg", 187)
    # When a number is bought
    reply = handler(api_key=rich.api_key, action="getNumber", service="tg", country=187).text
    prefix, activation_id, phone = reply.split(":")
    # Then it is ACCESS_NUMBER:<id>:<digits>, the price is debited, and the code is awaited
    assert prefix == "ACCESS_NUMBER" and int(activation_id) > 0 and phone.isdigit()
    assert handler(api_key=rich.api_key, action="getBalance").text == f"ACCESS_BALANCE:{format_major(1000 - price)}"
    assert handler(api_key=rich.api_key, action="getStatus", id=activation_id).text == "STATUS_WAIT_CODE"
    # When the SMS reaches the partner
    deliver_sms(stack, phone, "Telegram code 48213. Do not share it.")
    status = eventually(lambda: handler(api_key=rich.api_key, action="getStatus", id=activation_id).text,
                      lambda text: text != "STATUS_WAIT_CODE")
    # Then the code and the full text are there
    assert status == "STATUS_OK:48213"
    full = handler(api_key=rich.api_key, action="getFullSms", id=activation_id)
    assert full.text == "FULL_SMS:Telegram code 48213. Do not share it."
    v2 = handler(api_key=rich.api_key, action="getStatusV2", id=activation_id).json()
    assert v2["sms"]["code"] == "48213" and v2["call"] is None
    active = handler(api_key=rich.api_key, action="getActiveActivations").json()["activeActivations"]
    assert [(a["activationId"], a["smsCode"]) for a in active] == [(int(activation_id), "48213")]
    # When the bot finishes the activation
    assert handler(api_key=rich.api_key, action="setStatus", id=activation_id, status=6).text == "ACCESS_ACTIVATION"
    # Then it is done, no longer active, and the charge stays
    assert handler(api_key=rich.api_key, action="getStatus", id=activation_id).text == "STATUS_OK:48213"
    assert handler(api_key=rich.api_key, action="getActiveActivations").text == "NO_ACTIVATIONS"
    assert handler(api_key=rich.api_key, action="getBalance").text == f"ACCESS_BALANCE:{format_major(1000 - price)}"


def test_another_sms__retry_then_new_code(stack, handler, rich):
    # Given an activation whose first code arrived
    number = handler(api_key=rich.api_key, action="getNumber", service="wa", country=0).text
    activation_id, phone = number.split(":")[1:]
    deliver_sms(stack, phone, "Your WhatsApp code: 111-222")
    eventually(lambda: handler(api_key=rich.api_key, action="getStatus", id=activation_id).text,
             lambda text: text.startswith("STATUS_OK"))
    # When the bot asks for another SMS
    assert handler(api_key=rich.api_key, action="setStatus", id=activation_id, status=3).text == "ACCESS_RETRY_GET"
    # Then it waits for it, showing the last code, until the next one arrives
    assert handler(api_key=rich.api_key, action="getStatus", id=activation_id).text == "STATUS_WAIT_RETRY:111222"
    deliver_sms(stack, phone, "Your WhatsApp code: 333-444")
    status = eventually(lambda: handler(api_key=rich.api_key, action="getStatus", id=activation_id).text,
                      lambda text: text.startswith("STATUS_OK"))
    assert status == "STATUS_OK:333444"


def test_cancel__early_denied_then_refunded_in_full(handler, rich):
    # Given a number just bought
    started = time.monotonic()
    activation_id = handler(api_key=rich.api_key, action="getNumberV2", service="vk", country=0).json()["activationId"]
    # When the bot cancels at once
    early = handler(api_key=rich.api_key, action="setStatus", id=activation_id, status=8).text
    if time.monotonic() - started < GRACE_SECONDS:
        # Then it is told to wait (only observable while the early-cancel window is still open)
        assert early == "EARLY_CANCEL_DENIED"
    # When it cancels after the window
    time.sleep(GRACE_SECONDS)
    cancel = handler(api_key=rich.api_key, action="setStatus", id=activation_id, status=8).text
    # Then the activation is canceled and the whole price is back
    assert cancel == "ACCESS_CANCEL"
    assert handler(api_key=rich.api_key, action="getStatus", id=activation_id).text == "STATUS_CANCEL"
    assert handler(api_key=rich.api_key, action="getBalance").text == "ACCESS_BALANCE:10.00"
    # And a second cancel is refused without a second refund
    assert handler(api_key=rich.api_key, action="setStatus", id=activation_id, status=-1).text == "BAD_STATUS"
    assert handler(api_key=rich.api_key, action="getBalance").text == "ACCESS_BALANCE:10.00"


def test_number_v2__types_clients_validate(handler, rich):
    # When a number is bought with getNumberV2
    reply = handler(api_key=rich.api_key, action="getNumberV2", service="tg", country=187)
    body = reply.json()
    # Then the fields carry the types clients check
    assert reply.headers["Content-Type"] == "application/json"
    assert isinstance(body["activationId"], int) and body["phoneNumber"].isdigit()
    assert (body["currency"], body["countryCode"], body["countryPhoneCode"], body["canGetAnotherSms"]) == (
        840, "187", 1, True)
    assert time.strptime(body["activationEndTime"], "%Y-%m-%d %H:%M:%S")
    assert handler(api_key=rich.api_key, action="getStatusV2", id=body["activationId"]).json() == {
        "verificationType": 1, "sms": None, "call": None}


@pytest.mark.parametrize(("params", "expected"), [
    ({"action": "getNumber", "service": "zz", "country": 0}, "BAD_SERVICE"),
    ({"action": "getNumber", "service": "tg", "country": 9999}, "BAD_COUNTRY"),
    ({"action": "getNumber", "service": "tg", "country": 0, "maxPrice": "0.01"}, "WRONG_MAX_PRICE:"),
    ({"action": "getNumber", "service": "tg", "country": 0, "maxPrice": "cheap"}, "ERROR_SQL"),
    ({"action": "getNumber", "service": "tg", "country": 0, "forward": 1}, "NO_NUMBERS"),
    ({"action": "getNumber", "service": "dr", "country": 0}, "NO_NUMBERS"),
    ({"action": "getStatus", "id": "abc"}, "WRONG_ACTIVATION_ID"),
    ({"action": "getStatus", "id": 987654321}, "NO_ACTIVATION"),
    ({"action": "setStatus", "id": 987654321, "status": 2}, "BAD_STATUS"),
    ({"action": "setStatus", "id": 987654321, "status": 8}, "NO_ACTIVATION"),
    ({"action": "getActiveActivations"}, "NO_ACTIVATIONS"),
])
def test_errors__exact_protocol_strings(handler, reader, params, expected):
    reply = handler(api_key=reader.api_key, **params)
    assert reply.status_code == 200
    assert reply.text == expected or (expected.endswith(":") and reply.text.startswith(expected))


def test_errors__wrong_max_price_names_the_cheapest_price(handler, reader):
    price = price_cents(handler, reader.api_key, "tg", 0)
    reply = handler(api_key=reader.api_key, action="getNumber", service="tg", country=0, maxPrice="0.01").text
    assert reply == f"WRONG_MAX_PRICE:{format_major(price)}"


def test_money__no_balance_and_nothing_charged(handler, stack_settings):
    # Given an account with 1 cent
    poor = customer_with_key(stack_settings, balance_cents=1)
    # When it orders
    reply = handler(api_key=poor.api_key, action="getNumber", service="tg", country=187).text
    # Then NO_BALANCE and the cent is still there
    assert reply == "NO_BALANCE"
    assert handler(api_key=poor.api_key, action="getBalance").text == "ACCESS_BALANCE:0.01"


def test_someone_elses_activation__is_no_activation(handler, rich, stack_settings):
    # Given an activation of another account
    other = customer_with_key(stack_settings, balance_cents=500)
    activation_id = handler(api_key=other.api_key, action="getNumber", service="tg", country=187).text.split(":")[1]
    # Then this account can neither see nor change it
    assert handler(api_key=rich.api_key, action="getStatus", id=activation_id).text == "NO_ACTIVATION"
    assert handler(api_key=rich.api_key, action="setStatus", id=activation_id, status=6).text == "NO_ACTIVATION"


def test_unverified_account__may_look_not_order(handler, stack_settings):
    customer = unverified_customer_with_key(stack_settings)
    assert handler(api_key=customer.api_key, action="getBalance").text == "ACCESS_BALANCE:0.00"
    assert handler(api_key=customer.api_key, action="getNumber", service="tg", country=187).text == "ACCOUNT_INACTIVE"


def test_blocked_account__its_key_stops_working(stack, handler, rich):
    # When an operator blocks the account with the admin CLI (which revokes its keys)
    subprocess.run([sys.executable, "bin/admin", "block", rich.email, "--reason", "abuse"], cwd=ROOT, env=stack.env(),
                   check=True, capture_output=True, timeout=120)
    # Then the bot's key is refused
    assert handler(api_key=rich.api_key, action="getBalance").text == "BAD_KEY"


def test_maintenance__error_sql_with_503_until_switched_off(handler, rich, stack_settings):
    # Given maintenance switched on by the operator
    runtime_settings.set_value(runtime_settings.MAINTENANCE, {"on": True, "message": "upgrading"}, SystemClock())
    try:
        # Then the handler answers its maintenance string, once the app's settings cache has caught up
        reply = None
        for _ in range(30):
            reply = handler(api_key=rich.api_key, action="getBalance")
            if reply.status_code == 503:
                break
            time.sleep(0.2)
        assert reply is not None
        assert (reply.status_code, reply.text, reply.headers["Retry-After"]) == (503, "ERROR_SQL", "300")
    finally:
        runtime_settings.set_value(runtime_settings.MAINTENANCE, {"on": False, "message": ""}, SystemClock())
    # And the service comes back when it is switched off
    back = eventually(lambda: handler(api_key=rich.api_key, action="getBalance").text,
                    lambda text: text.startswith("ACCESS_BALANCE"))
    assert back == "ACCESS_BALANCE:10.00"


def test_rate_limit__banned_until_a_time_with_429(handler, rich, stack_settings):
    # Given a bot that sends requests as fast as it can, 16 at a time (one at a time a loaded machine answers fewer
    # than the sustained 20 a second, and no fixed window would ever fill), until refused or six bursts' worth
    from concurrent.futures import ThreadPoolExecutor

    burst = stack_settings.rate_limit_burst
    refused = None
    with ThreadPoolExecutor(max_workers=16) as pool:
        for _ in range(6 * burst // 32):
            replies = list(pool.map(lambda _: handler(api_key=rich.api_key, action="getBalance"), range(32)))
            refused = next((reply for reply in replies if reply.status_code != 200), None)
            if refused is not None:
                break
    # Then past the burst it is refused with a temporary ban and when to come back
    assert refused is not None
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert refused.text.startswith("BANNED:") and time.strptime(refused.text[7:], "%Y-%m-%d %H:%M:%S")
