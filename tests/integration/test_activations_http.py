"""REST v1 activations over real HTTP on the local stack (DynamoDB Local, the simulator pushing SMS, the scheduler)."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.providers.base import PartnerNumber
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from chalicelib.store.money import DynamoMoneyStore
from tests.support import activations_facade, customer_with_key, deliver_sms, priced_settings, sms_only_on_demand

pytestmark = pytest.mark.integration

GRACE_SECONDS = 2  # CANCEL_GRACE_SECONDS of the test stack


@pytest.fixture(scope="module")
def priced(stack) -> Settings:
    return priced_settings(stack)


@pytest.fixture
def on_demand_sms(stack, priced) -> Iterator[None]:
    """SMS arrive only when a test delivers one."""
    with sms_only_on_demand(stack):
        yield


class User(requests.Session):
    """An HTTP session signed in as one verified account."""

    def __init__(self, account_id: str, token: str) -> None:
        super().__init__()
        self.account_id = account_id
        self.headers["Authorization"] = f"Bearer {token}"


@pytest.fixture
def user(stack, priced) -> Callable[..., User]:
    """A verified account holding `balance_cents`, signed in with a session token."""

    def make(balance_cents: int = 1000) -> User:
        customer = customer_with_key(priced, balance_cents)
        token = Credentials(SystemClock(), priced.session_ttl_seconds).issue_session(customer.account_id).token
        return User(customer.account_id, token)

    return make


def _url(stack, path: str) -> str:
    return f"{stack.app_url}{path}"


def _order(stack, session: requests.Session, **extra: Any) -> dict[str, Any]:
    reply = session.post(_url(stack, "/v1/activations"), json={"service": "tg", "country": 0}, timeout=30, **extra)
    assert reply.status_code == 201, reply.text
    return dict(reply.json())


def _wait_for(stack, session: requests.Session, activation_id: int, done: Callable[[dict[str, Any]], bool],
              seconds: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        shown = session.get(_url(stack, f"/v1/activations/{activation_id}"), timeout=15).json()
        if done(shown) or time.monotonic() > deadline:
            return dict(shown)
        time.sleep(0.2)


def _balance_and_ledger(account_id: str) -> tuple[int, int]:
    entries = Wallet(SystemClock(), DynamoMoneyStore()).entries(account_id, limit=1000)
    return int(Account.get(account_id, consistent_read=True).balance_cents), sum(e.amount_cents for e in entries)


def test_catalog__public_lists_with_prices_and_stock(stack, priced):
    # Given the simulator's prices were loaded
    # When anyone reads the catalog, the services and the countries without signing in
    items = requests.get(_url(stack, "/v1/catalog"), params={"service": "tg", "country": 0}, timeout=15).json()
    services = requests.get(_url(stack, "/v1/services"), timeout=15).json()["items"]
    countries = requests.get(_url(stack, "/v1/countries"), timeout=15).json()["items"]
    # Then Telegram in Russia is priced and in stock, and the lists name what protocols.md needs
    (item,) = items["items"]
    assert (item["service"], item["country"], item["operator"]) == ("tg", 0, "any")
    assert item["operators"] == ["beeline", "megafon", "mts", "tele2"]  # what the partner can be asked for
    assert item["price_cents"] >= 45 and item["available"] > 0
    assert {"code": "tg", "name": "Telegram"} in services
    assert {c["id"] for c in countries} >= {0, 1, 2, 187}


def test_order__code_is_pushed_then_finish_keeps_the_charge(stack, user):
    # Given a user with 10.00 and the simulator sending the SMS 3 s after the number (pushed to us)
    alice = user(1000)
    # When they order a number and wait for the code
    ordered = _order(stack, alice)
    shown = _wait_for(stack, alice, ordered["id"], lambda a: a["status"] == "RECEIVED")
    finished = alice.post(_url(stack, f"/v1/activations/{ordered['id']}/finish"), timeout=15).json()
    # Then the code the partner sent is shown, and the price is final
    sim = requests.get(f"{stack.simulator_url}/_sim/state", timeout=5).json()
    sent = next(a for a in sim["activations"] if a["phone"] == ordered["phone"])
    assert ordered["status"] == "WAITING" and ordered["phone"].isdigit()
    assert [s["code"] for s in shown["sms"]] == [sent["sms"][0]["code"]]
    assert finished["status"] == "FINISHED"
    assert _balance_and_ledger(alice.account_id) == (1000 - ordered["price_cents"],) * 2


def test_cancel__early_is_refused_then_refunds_once(stack, user, on_demand_sms):
    # Given a fresh number
    bob = user(1000)
    ordered = _order(stack, bob)
    cancel_url = _url(stack, f"/v1/activations/{ordered['id']}/cancel")
    # When the user cancels at once, then after the early window, then again
    early = bob.post(cancel_url, timeout=15)
    time.sleep(GRACE_SECONDS)
    canceled = bob.post(cancel_url, timeout=15)
    again = bob.post(cancel_url, timeout=15)
    # Then the first is 409 EARLY_CANCEL_DENIED, the second refunds in full, the third changes nothing
    assert (early.status_code, early.json()["error"]["code"]) == (409, "EARLY_CANCEL_DENIED")
    assert early.json()["error"]["details"]["cancel_available_at"] == ordered["cancel_available_at"]
    assert (canceled.status_code, canceled.json()["status"]) == (200, "CANCELED")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "ILLEGAL_TRANSITION")
    assert _balance_and_ledger(bob.account_id) == (1000, 1000)


def test_retry__another_sms_arrives_on_the_same_number(stack, user, on_demand_sms):
    # Given a number that received its first code
    carol = user(1000)
    ordered = _order(stack, carol)
    deliver_sms(stack, ordered["phone"], "Telegram code 11111")
    _wait_for(stack, carol, ordered["id"], lambda a: a["status"] == "RECEIVED")
    # When the user asks for another SMS and it comes
    retrying = carol.post(_url(stack, f"/v1/activations/{ordered['id']}/retry"), timeout=15).json()
    deliver_sms(stack, ordered["phone"], "Telegram code 22222")
    shown = _wait_for(stack, carol, ordered["id"], lambda a: len(a["sms"]) == 2)
    # Then both codes are shown and only the first price was charged
    assert retrying["status"] == "RETRY"
    assert (shown["status"], [s["code"] for s in shown["sms"]]) == ("RECEIVED", ["11111", "22222"])
    assert _balance_and_ledger(carol.account_id)[0] == 1000 - ordered["price_cents"]


def test_ban__refunds_a_number_without_sms(stack, user, on_demand_sms):
    # Given a number the user cannot use, past the early window
    dave = user(1000)
    ordered = _order(stack, dave)
    time.sleep(GRACE_SECONDS)
    # When they report it
    banned = dave.post(_url(stack, f"/v1/activations/{ordered['id']}/ban"), timeout=15).json()
    # Then it is banned and refunded
    assert banned["status"] == "BANNED"
    assert _balance_and_ledger(dave.account_id) == (1000, 1000)


def test_order__idempotency_key_retry_returns_the_same_activation(stack, user, on_demand_sms):
    # Given an order sent with an Idempotency-Key
    erin = user(1000)
    first = _order(stack, erin, headers={"Idempotency-Key": "retry-me-1"})
    # When the client retries it
    again = _order(stack, erin, headers={"Idempotency-Key": "retry-me-1"})
    # Then it is the same activation, charged once
    assert again["id"] == first["id"]
    assert _balance_and_ledger(erin.account_id)[0] == 1000 - first["price_cents"]


def test_order__refusals_have_their_status_and_code(stack, user):
    # Given a user with 0.10 and a stranger
    poor = user(10)
    # When they order badly, too expensively, or without signing in
    bad = poor.post(_url(stack, "/v1/activations"), json={"service": "nope", "country": 0}, timeout=15)
    broke = poor.post(_url(stack, "/v1/activations"), json={"service": "tg", "country": 0}, timeout=15)
    anonymous = requests.post(_url(stack, "/v1/activations"), json={"service": "tg", "country": 0}, timeout=15)
    capped = poor.post(_url(stack, "/v1/activations"), json={"service": "tg", "country": 0, "max_price_cents": 1},
                       timeout=15)
    # Then each gets the envelope with the right status, and no money moved
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "BAD_SERVICE")
    assert (broke.status_code, broke.json()["error"]["code"]) == (402, "INSUFFICIENT_BALANCE")
    assert anonymous.status_code == 401
    assert (capped.status_code, capped.json()["error"]["code"]) == (409, "WRONG_MAX_PRICE")
    assert _balance_and_ledger(poor.account_id) == (10, 10)


def test_order__an_operator_no_partner_has_is_422_before_any_debit(stack, user):
    # Given a user with 10.00
    buyer = user(1000)
    # When they order a Russian Telegram number of an American operator
    reply = buyer.post(_url(stack, "/v1/activations"), json={"service": "tg", "country": 0, "operator": "verizon"},
                       timeout=15)
    # Then it is refused with a message naming the operator, and no money moved (no charge/refund pair)
    error = reply.json()["error"]
    assert (reply.status_code, error["code"]) == (422, "WRONG_OPERATOR") and "'verizon'" in error["message"]
    assert _balance_and_ledger(buyer.account_id) == (1000, 1000)
    assert len(Wallet(SystemClock(), DynamoMoneyStore()).entries(buyer.account_id, limit=10)) == 1


def test_get__someone_elses_activation_is_not_found(stack, user, on_demand_sms):
    # Given Frank's activation
    frank, grace = user(1000), user(1000)
    ordered = _order(stack, frank)
    # When Grace asks for it / Then it does not exist for her
    assert grace.get(_url(stack, f"/v1/activations/{ordered['id']}"), timeout=15).status_code == 404
    listed = frank.get(_url(stack, "/v1/activations"), timeout=15).json()["items"]
    assert [a["id"] for a in listed] == [ordered["id"]]


def test_partner_push__unsigned_push_is_refused(stack, priced):
    # Given / When a push arrives without the partner's signature
    reply = requests.post(_url(stack, "/v1/partners/sim/push"), json={"activationId": 1, "text": "code 1234"},
                          timeout=15)
    # Then it is refused and nothing is recorded
    assert (reply.status_code, reply.json()["error"]["code"]) == (401, "BAD_SIGNATURE")


class _CrashingPartner:
    """The real partner, except the process dies while asking it for a number."""

    def __init__(self, name: str) -> None:
        self.name = name

    def get_number(self, *args: object, **kwargs: object) -> PartnerNumber:
        raise SystemExit("process killed between the debit and the partner call")


def test_crash_between_debit_and_partner__the_scheduled_job_refunds(stack, priced, user):
    # Given an order whose process died right after the debit committed
    henry = user(1000)
    facade = activations_facade(priced, [_CrashingPartner("sim")], SystemClock())  # type: ignore[list-item]
    with pytest.raises(SystemExit):
        facade.order(Account.get(henry.account_id), OrderRequest("tg", 0))
    (stuck,) = Activation.by_account.query(henry.account_id)
    assert stuck.status == "PENDING"
    # When the stack's scheduler runs the resolve job after the resolve delay
    shown = _wait_for(stack, henry, int(stuck.activation_id), lambda a: a["status"] != "PENDING", seconds=20)
    # Then the order failed and the money is back, once
    assert shown["status"] == "FAILED"
    assert _balance_and_ledger(henry.account_id) == (1000, 1000)
