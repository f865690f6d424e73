"""The `fivesim` client from PyPI, pointed at our 5sim-compatible routes by base URL only, drives a whole lifecycle.

fivesim 1.2.0 keeps its base URL in a private attribute of each API object; the test sets it by its mangled name
to `<app>/5sim/v1/user/` and `<app>/5sim/v1/guest/`, which is all a user has to change.
"""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from fivesim import (
    ActivationProduct,
    Category,
    Country,
    ErrorType,
    FiveSim,
    FiveSimError,
    HostingProduct,
    Operator,
    OrderAction,
)
from fivesim import Status as FiveSimStatus

from chalicelib.config import Settings
from tests.support import GRACE_SECONDS, customer_with_key, deliver_sms, eventually, priced_on_demand, sleep_past_grace

pytestmark = pytest.mark.compat

USA, TELEGRAM, ANY = Country.USA, ActivationProduct.TELEGRAM, Operator.ANY_OPERATOR


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    with priced_on_demand(stack) as settings:
        yield settings


def client_for(stack, api_key: str) -> FiveSim:
    client = FiveSim(api_key)
    base = f"{stack.app_url}/5sim/v1"
    client.user._APIRequest__endpoint = f"{base}/user/"  # type: ignore[attr-defined]
    client.guest._APIRequest__endpoint = f"{base}/guest/"  # type: ignore[attr-defined]
    return client


def test_fivesim__guest_lists(stack, priced):
    client = client_for(stack, "no key needed")
    # When a guest reads the countries, the products of a country and the prices
    countries = client.guest.get_countries()
    products = client.guest.get_products(USA, ANY)
    prices = client.guest.get_prices(USA, TELEGRAM)
    # Then they parse into the client's own objects
    assert countries[USA].prefix == "+1" and countries[Country.ENGLAND].en == "United Kingdom"
    assert products[TELEGRAM].quantity > 0 and products[TELEGRAM].price > 0
    assert prices[USA][TELEGRAM][ANY].price == products[TELEGRAM].price
    # And `any` country is a country to 5sim: every country's products, the cheapest price of each
    everywhere = client.guest.get_products(Country.ANY_COUNTRY, ANY)
    assert everywhere[TELEGRAM].quantity >= products[TELEGRAM].quantity
    assert everywhere[TELEGRAM].price <= products[TELEGRAM].price


def test_fivesim__full_lifecycle(stack, priced):
    # Given a 5sim client pointed at us, for an account holding 10.00
    client = client_for(stack, customer_with_key(priced, balance_cents=1000).api_key)
    assert client.user.get_profile_data().balance == 10.0
    # When it buys two numbers
    to_cancel = client.user.buy_number(USA, ANY, TELEGRAM)
    bought_at = time.monotonic()
    order = client.user.buy_number(USA, ANY, TELEGRAM)
    # Then they are orders with a +phone, waiting for an SMS
    assert order.phone.startswith("+1") and order.status is FiveSimStatus.RECEIVED and order.country is USA
    assert order.product is TELEGRAM and order.sms == []
    # When the SMS arrives
    deliver_sms(stack, order.phone.lstrip("+"), "Telegram code 86420")
    checked = eventually(lambda: client.user.order(OrderAction.CHECK, order), lambda o: bool(o.sms))
    # Then check and the inbox show it with its code, and the order can be finished
    assert [s.activation_code for s in checked.sms] == ["86420"]
    assert [s.text for s in client.user.get_sms_inbox_list(order)] == ["Telegram code 86420"]
    assert client.user.order(OrderAction.FINISH, order).status is FiveSimStatus.FINISHED
    # And the other order, canceled after the early-cancel window, is refunded
    sleep_past_grace(bought_at)
    assert client.user.order(OrderAction.CANCEL, to_cancel).status is FiveSimStatus.CANCELED
    assert client.user.get_profile_data().balance == pytest.approx(10.0 - order.price)
    # And both orders and the money moves are in the histories
    history = client.user.get_orders_history(Category.ACTIVATION)
    assert sorted(o.id for o in history.data) == sorted([order.id, to_cancel.id])
    payments = client.user.get_payments_history()
    assert [p.amount for p in payments.data][:2] == [to_cancel.price, -to_cancel.price]


def test_fivesim__ban_ends_the_order(stack, priced):
    client = client_for(stack, customer_with_key(priced, balance_cents=1000).api_key)
    order = client.user.buy_number(USA, ANY, TELEGRAM)
    time.sleep(GRACE_SECONDS + 0.2)
    assert client.user.order(OrderAction.BAN, order).status is FiveSimStatus.BANNED


@pytest.mark.parametrize(("balance_cents", "country", "expected"), [
    (1, USA, ErrorType.BALANCE_TOO_LOW),
    (1000, Country.AFGHANISTAN, ErrorType.NO_FREE_PHONES),
])
def test_fivesim__order_errors_are_its_error_types(stack, priced, balance_cents, country, expected):
    client = client_for(stack, customer_with_key(priced, balance_cents=balance_cents).api_key)
    with pytest.raises(FiveSimError) as raised:
        client.user.buy_number(country, ANY, TELEGRAM)
    assert raised.value.get_error() is expected


def test_fivesim__early_cancel_and_unknown_order_and_bad_key(stack, priced):
    client = client_for(stack, customer_with_key(priced, balance_cents=1000).api_key)
    started = time.monotonic()
    order = client.user.buy_number(USA, ANY, TELEGRAM)
    try:
        client.user.order(OrderAction.CANCEL, order)
        early: ErrorType | None = None
    except FiveSimError as refused:
        early = refused.get_error()
    if time.monotonic() - started < GRACE_SECONDS:  # the window is still open: the cancel must have been refused
        assert early is ErrorType.CANCEL_NEEDS_TIME
    with pytest.raises(FiveSimError) as unknown:
        client.user.order(OrderAction.CHECK, order._replace(id=987654321))
    with pytest.raises(FiveSimError) as bad_key:
        client_for(stack, "smsr_not-a-key").user.get_profile_data()
    assert unknown.value.get_error() is ErrorType.ORDER_NOT_FOUND
    assert bad_key.value.get_error() is ErrorType.INVALID_API_KEY


def test_fivesim__profile_and_payments_read_as_5sim_writes_them(stack, priced):
    # Given an account that bought one number
    customer = customer_with_key(priced, balance_cents=1000)
    client = client_for(stack, customer.api_key)
    fresh = requests.get(f"{stack.app_url}/5sim/v1/user/profile", headers=_bearer(customer.api_key), timeout=10).json()
    order = client.user.buy_number(USA, ANY, TELEGRAM)
    # When the profile is read raw, as PyFiveSim's model reads it
    profile = requests.get(f"{stack.app_url}/5sim/v1/user/profile", headers=_bearer(customer.api_key),
                           timeout=10).json()
    # Then it carries 5sim's undocumented fields, the last order first, and a rating within 0-96
    assert (fresh["did_order"], fresh["last_order"], fresh["total_active_orders"]) == (False, "", 0)
    line = f"usa:telegram:any:{order.id}:{order.price:.2f}"
    assert (profile["did_order"], profile["last_order"], profile["last_top_orders"]) == (True, line, "{" + line + "}")
    assert (profile["last_top_idx"], profile["total_active_orders"]) == (0, 1)
    assert 0 <= profile["rating"] <= 96 and client.user.get_profile_data().rating == profile["rating"]
    # And each payment's ID is an integer, as 5sim's are
    payments = client.user.get_payments_history()
    assert [type(p.id) for p in payments.data] == [int, int]


def test_fivesim__moves_on_an_unknown_order_answer_400_as_5sim_does(stack, priced):
    customer = customer_with_key(priced, balance_cents=1000)
    for move in ("cancel", "finish", "ban"):
        reply = requests.get(f"{stack.app_url}/5sim/v1/user/{move}/987654321", headers=_bearer(customer.api_key),
                             timeout=10)
        assert (reply.status_code, reply.text) == (400, "order not found")
    reply = requests.get(f"{stack.app_url}/5sim/v1/user/check/987654321", headers=_bearer(customer.api_key),
                         timeout=10)
    assert (reply.status_code, reply.text) == (404, "order not found")


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}


def test_fivesim__hosting_a_number_for_a_day_lists_every_sms(stack, priced):
    # Given a 5sim client pointed at us, for an account holding 10.00
    client = client_for(stack, customer_with_key(priced, balance_cents=1000).api_key)
    # When it buys a day of hosting and two SMS arrive
    order = client.user.buy_number(Country.ENGLAND, ANY, HostingProduct.ONE_DAY)
    for count, code in enumerate(("11111", "22222"), start=1):
        deliver_sms(stack, order.phone.lstrip("+"), f"Your code is {code}")
        checked = eventually(lambda: client.user.order(OrderAction.CHECK, order), lambda o, n=count: len(o.sms) == n)
    finished = client.user.order(OrderAction.FINISH, order)
    # Then it is a hosting order that listed every SMS, and finishing it keeps the price
    assert order.product is HostingProduct.ONE_DAY and order.status is FiveSimStatus.RECEIVED
    assert [s.activation_code for s in checked.sms] == ["11111", "22222"]
    assert finished.status is FiveSimStatus.FINISHED
    assert client.user.get_profile_data().balance == pytest.approx(10.0 - float(order.price))
    # And a month (longer than our four weeks) is no product, and `any` country must be chosen
    with pytest.raises(FiveSimError):
        client.user.buy_number(Country.ENGLAND, ANY, HostingProduct.ONE_MONTH)
    with pytest.raises(FiveSimError):
        client.user.buy_number(Country.ANY_COUNTRY, ANY, HostingProduct.ONE_DAY)
