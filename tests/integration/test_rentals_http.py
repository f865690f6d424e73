"""Rentals over real HTTP on the local stack: REST v1, the handler API's rent actions (and SMS-Activate's own PyPI
client), the simulator pushing each SMS, the scheduler's upkeep job polling when a push is refused."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.rentals import Rental
from tests.support import Customer, customer_with_key, deliver_sms, eventually, priced_on_demand

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    with priced_on_demand(stack) as settings:
        yield settings


@pytest.fixture
def renter(priced) -> Customer:
    return customer_with_key(priced, balance_cents=2000)


@pytest.fixture
def rest(stack, renter) -> Callable[..., requests.Response]:
    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("headers", {"Authorization": f"Bearer {renter.api_key}"})
        return requests.request(method, f"{stack.app_url}{path}", timeout=30, **kwargs)
    return call


@pytest.fixture
def handler(stack, renter) -> Callable[..., requests.Response]:
    def call(**params: str | int) -> requests.Response:
        return requests.get(f"{stack.app_url}/stubs/handler_api.php", params={"api_key": renter.api_key, **params},
                            timeout=30)
    return call


def _books(account_id: str) -> tuple[int, int]:
    entries = Wallet(SystemClock(), DynamoMoneyStore()).entries(account_id, limit=1000)
    return int(Account.get(account_id, consistent_read=True).balance_cents), sum(int(e.amount_cents) for e in entries)


def _sms(rest: Callable[..., requests.Response], rental_id: int) -> list[str]:
    return [s["text"] for s in rest("GET", f"/v1/rentals/{rental_id}/sms").json()["items"]]


def test_rest__rent_receive_every_sms_extend_and_finish(stack, rest, renter):
    # Given the price of four hours of a Telegram number
    prices = rest("GET", "/v1/rentals/prices", params={"country": 0, "hours": 4}).json()
    price = next(i["price_cents"] for i in prices["items"] if i["service"] == "tg")
    # When the user rents one, two SMS arrive (pushed by the partner), and they extend it by a day, then finish
    rented = rest("POST", "/v1/rentals", json={"service": "tg", "country": 0, "hours": 4})
    rental = rented.json()
    for count, code in enumerate(("11111", "22222"), start=1):  # SMS come seconds apart, as people send them
        deliver_sms(stack, rental["phone"], f"Your Telegram code is {code}")
        texts = eventually(lambda: _sms(rest, rental["id"]), lambda t, n=count: len(t) == n)
    quoted = rest("GET", f"/v1/rentals/{rental['id']}/extension-price", params={"hours": 24}).json()["price_cents"]
    extended = rest("POST", f"/v1/rentals/{rental['id']}/extend", json={"hours": 24}).json()
    finished = rest("POST", f"/v1/rentals/{rental['id']}/finish").json()
    # Then each SMS shows once, in order; the time and the charges add up; nothing is refunded
    assert rented.status_code == 201 and rental["status"] == "ACTIVE" and rental["price_cents"] == price
    assert texts == ["Your Telegram code is 11111", "Your Telegram code is 22222"]
    assert (extended["hours"], extended["price_cents"]) == (28, price + quoted)
    assert finished["status"] == "FINISHED"
    assert _books(renter.account_id) == (2000 - price - quoted,) * 2
    listed = rest("GET", "/v1/rentals").json()["items"]
    assert [r["id"] for r in listed] == [rental["id"]] and listed[0]["sms_count"] == 2


def test_rest__cancel_in_the_window_refunds_and_after_an_sms_is_refused(stack, rest, renter):
    first = rest("POST", "/v1/rentals", json={"country": 0, "hours": 4}).json()  # any service: "full"
    second = rest("POST", "/v1/rentals", json={"service": "wa", "country": 0, "hours": 4}).json()
    deliver_sms(stack, second["phone"], "Your WhatsApp code: 123456")
    canceled = rest("POST", f"/v1/rentals/{first['id']}/cancel")
    refused = rest("POST", f"/v1/rentals/{second['id']}/cancel")
    assert first["service"] == "full" and canceled.json()["status"] == "CANCELED"
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "CANT_CANCEL")
    assert _books(renter.account_id) == (2000 - second["price_cents"],) * 2


@pytest.mark.parametrize("body", [
    {"service": "tg", "country": 0, "hours": "٣"}, {"service": "tg", "country": 0, "hours": 10**30},
    {"service": "tg", "country": 0, "hours": 3}, {"service": "tg", "country": 0, "hours": 673},
    {"service": "tg\ud800", "country": 0, "hours": 4}, {"service": "tg", "country": "٠", "hours": 4},
    {"service": "tg", "country": 0}, {"service": "tg", "country": 0, "hours": 4.5},
])
def test_rest__bad_input_is_a_422_that_writes_nothing(stack, rest, renter, body):
    reply = rest("POST", "/v1/rentals", data=json.dumps(body))  # a lone surrogate goes as the escape \ud800
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["message"]
    assert _books(renter.account_id) == (2000, 2000)
    assert not list(Rental.by_account.query(renter.account_id))


def test_rest__prices_need_a_key_and_valid_hours(stack, rest):
    anonymous = requests.get(f"{stack.app_url}/v1/rentals/prices", params={"country": 0, "hours": 4}, timeout=15)
    huge = rest("GET", "/v1/rentals/prices", params={"country": 0, "hours": "9" * 40})
    assert anonymous.status_code == 401 and huge.status_code == 422


def test_handler__rent_actions_with_real_names_and_shapes(stack, handler, renter):
    # Given the rent price list of four hours in Russia
    listed = handler(action="getRentServicesAndCountries", rent_time=4, country=0).json()
    assert listed["currency"] == 840 and listed["services"]["tg"]["quant"] > 0
    # When a bot rents, reads its SMS page by page, extends, lists and finishes through the handler API
    rented = handler(action="getRentNumber", service="tg", rent_time=4, country=0).json()
    rent_id = rented["phone"]["id"]
    waiting = handler(action="getRentStatus", id=rent_id).json()
    for count, code in enumerate(("11111", "22222", "33333"), start=1):
        deliver_sms(stack, rented["phone"]["number"], f"Your Telegram code is {code}")
        first_page = eventually(lambda: handler(action="getRentStatus", id=rent_id, page=1, size=2).json(),
                                lambda r, n=count: r.get("quantity") == str(n))
    second_page = handler(action="getRentStatus", id=rent_id, page=2, size=2).json()
    price = handler(action="getContinueRentPriceNumber", id=rent_id, rent_time=24).json()
    extended = handler(action="continueRentNumber", id=rent_id, rent_time=24).json()
    rentals = handler(action="getRentList").json()
    finished = handler(action="setRentStatus", id=rent_id, status=1).json()
    again = handler(action="setRentStatus", id=rent_id, status=1).json()
    after = handler(action="getRentStatus", id=rent_id).json()
    # Then every reply is the rent API's JSON
    assert rented["status"] == "success" and rented["phone"]["number"].isdigit() and isinstance(rent_id, int)
    assert waiting == {"status": "error", "message": "STATUS_WAIT_CODE"}
    assert [v["text"][-5:] for v in first_page["values"].values()] == ["11111", "22222"]
    assert [v["text"][-5:] for v in second_page["values"].values()] == ["33333"]
    assert price["status"] == "success" and price["price"] > 0
    assert extended["phone"]["id"] == rent_id and extended["phone"]["endDate"] > rented["phone"]["endDate"]
    assert [v["id"] for v in rentals["values"].values()] == [rent_id]
    assert finished == {"status": "success"} and again == {"status": "error", "message": "ALREADY_FINISH"}
    assert after == {"status": "error", "message": "STATUS_FINISH"}
    entries = Wallet(SystemClock(), DynamoMoneyStore()).entries(renter.account_id, limit=100)
    charges = [e for e in entries if e.kind == LedgerKind.RENTAL_CHARGE.value]
    assert len(charges) == 2


@pytest.mark.parametrize(("params", "message"), [
    ({"action": "getRentNumber", "service": "tg", "rent_time": "٣"}, "INVALID_TIME"),
    ({"action": "getRentNumber", "service": "tg", "rent_time": "100000"}, "INVALID_TIME"),
    ({"action": "getRentNumber", "service": "nope", "rent_time": 4}, "BAD_SERVICE"),
    ({"action": "getRentNumber", "service": "tg", "rent_time": 4, "country": "9999"}, "BAD_COUNTRY"),
    ({"action": "getRentStatus"}, "NO_ID_RENT"),
    ({"action": "getRentStatus", "id": "٣"}, "INVALID_PHONE"),
    ({"action": "getRentStatus", "id": "1"}, "INVALID_PHONE"),
    ({"action": "setRentStatus", "id": "1", "status": "7"}, "INCORECT_STATUS"),
])
def test_handler__bad_rent_parameters_answer_the_protocols_error_and_write_nothing(handler, renter, params, message):
    assert handler(**params).json() == {"status": "error", "message": message}
    assert _books(renter.account_id) == (2000, 2000)


def test_handler__smsactivate_pypi_client_rents_and_reads(stack, renter):
    from smsactivate.api import SMSActivateAPI

    client = SMSActivateAPI(renter.api_key)
    client._SMSActivateAPI__api_url = f"{stack.app_url}/stubs/handler_api.php"  # type: ignore[attr-defined]
    offers = client.getRentServicesAndCountries(time=4, country=0)
    rented = client.getRentNumber(service="full", time=4, country=0)
    deliver_sms(stack, rented["phone"]["number"], "Your Discord code is 424242")
    status = eventually(lambda: client.getRentStatus(id=rented["phone"]["id"]), lambda r: r.get("status") == "success")
    canceled = client.setRentStatus(id=rented["phone"]["id"], status=2)
    assert "full" in offers["services"] and status["values"]["0"]["text"] == "Your Discord code is 424242"
    assert canceled == {"status": "error", "message": "CANT_CANCEL"}  # an SMS arrived: the charge is final


def test_poll__an_sms_whose_push_is_refused_arrives_by_the_upkeep_jobs_poll(stack, rest):
    rental = rest("POST", "/v1/rentals", json={"service": "tg", "country": 0, "hours": 4}).json()
    config = f"{stack.simulator_url}/_sim/config"
    secret = requests.get(f"{stack.simulator_url}/_sim/state", timeout=5).json()["config"]["push_secret"]
    requests.post(config, json={"push_secret": "not-the-partners-secret-at-all"}, timeout=5).raise_for_status()
    try:
        deliver_sms(stack, rental["phone"], "Your Telegram code is 55555")
        rental_row = eventually(lambda: Rental.get(rental["id"], consistent_read=True), lambda r: r.sms_count == 1)
    finally:
        requests.post(config, json={"push_secret": secret}, timeout=5).raise_for_status()
    assert rental_row.sms_count == 1 and _sms(rest, rental["id"]) == ["Your Telegram code is 55555"]


def test_rest__a_rent_retried_with_its_idempotency_key_is_charged_once(rest, renter):
    body = {"service": "tg", "country": 0, "hours": 4}
    first = rest("POST", "/v1/rentals", json=body, headers={"Authorization": f"Bearer {renter.api_key}",
                                                            "Idempotency-Key": "bot-retry-7"})
    again = rest("POST", "/v1/rentals", json=body, headers={"Authorization": f"Bearer {renter.api_key}",
                                                            "Idempotency-Key": "bot-retry-7"})
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert _books(renter.account_id) == (2000 - first.json()["price_cents"],) * 2
