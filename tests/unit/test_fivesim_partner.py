"""FiveSimPartner against a tiny fake 5sim over real HTTP: mapping, buying, states, paging and failures."""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.domain.clock import iso
from chalicelib.providers.base import (
    PartnerNoNumbers,
    PartnerOffer,
    PartnerRejected,
    PartnerSms,
    PartnerStatus,
    PartnerUnavailable,
)
from chalicelib.providers.fivesim import FiveSimPartner
from chalicelib.providers.transport import HttpPolicy
from tests.clock import FixedClock

TOKEN = "good-token"
NOW = 1_800_000_000.0
PRICES = {
    "russia": {"telegram": {"mts": {"cost": 12.5, "count": 100, "rate": 99.1}, "beeline": {"cost": 9, "count": 0}}},
    "england": {"whatsapp": {"virtual21": {"cost": 20.25, "count": 7}}, "unknownapp": {"any": {"cost": 1, "count": 1}}},
    "narnia": {"telegram": {"any": {"cost": 1, "count": 1}}},
}


class FakeFiveSim:
    """Just enough of 5sim: prices, buy, check, cancel, finish, order history and profile."""

    def __init__(self) -> None:
        self.orders: dict[int, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.phones = iter(f"+7900{n:07d}" for n in range(1, 1000))
        self.no_free_phones = False
        self.server_error = False
        self.reuse_price = 12.5
        self.lock = threading.Lock()
        self.base_url = ""

    def add_order(self, status: str = "PENDING", expires: float = NOW + 900, price: float = 12.5) -> dict[str, Any]:
        order_id = len(self.orders) + 1
        order = {"id": order_id, "phone": next(self.phones), "operator": "mts", "product": "telegram",
                 "price": price, "status": status, "expires": iso(expires), "sms": [], "created_at": iso(NOW),
                 "country": "russia"}
        self.orders[order_id] = order
        return order

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, object]:
        if self.server_error:
            return 502, "<html>Bad Gateway</html>"
        if path == "/v1/guest/prices":
            return 200, PRICES
        if path == "/v1/user/profile":
            return 200, {"id": 1, "email": "us@example.com", "balance": 100.509, "rating": 96}
        if path == "/v1/user/orders":
            newest_first = sorted(self.orders.values(), key=lambda o: -o["id"])
            offset, limit = int(query["offset"]), int(query["limit"])
            return 200, {"Data": newest_first[offset:offset + limit], "Total": len(self.orders)}
        if re.fullmatch(r"/v1/user/buy/activation/\w+/\w+/\w+", path):
            return (400, "no free phones") if self.no_free_phones else (200, self.add_order())
        if match := re.fullmatch(r"/v1/user/reuse/(\w+)/(\d+)", path):
            return self._reuse(match.group(1), match.group(2))
        if match := re.fullmatch(r"/v1/user/(check|cancel|finish)/(\d+)", path):
            return self._act(match.group(1), self.orders.get(int(match.group(2))))
        return 404, "not found"

    def _reuse(self, product: str, number: str) -> tuple[int, object]:
        """A new order on a number of a finished order for the product; else 5sim's `reuse not possible`."""
        used = [o for o in self.orders.values() if o["phone"] == f"+{number}" and o["product"] == product
                and o["status"] == "FINISHED"]
        if not used:
            return 400, "reuse not possible"
        order = self.add_order(price=self.reuse_price)
        order["phone"] = used[0]["phone"]
        return 200, order

    def _act(self, verb: str, order: dict[str, Any] | None) -> tuple[int, object]:
        if order is None:
            return 400, "order not found"
        if verb == "cancel":
            if order["sms"]:
                return 400, "order has sms"
            if order["status"] != "PENDING":
                return 400, "order not found"
            order["status"] = "CANCELED"
        if verb == "finish":
            if not order["sms"]:
                return 400, "order no sms"
            if order["status"] == "FINISHED":
                return 400, "order not found"
            order["status"] = "FINISHED"
        return 200, order


class _Handler(BaseHTTPRequestHandler):
    fake: FakeFiveSim

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self.fake.lock:
            self.fake.requests.append(self.path)
            status, body = ((401, "") if self.headers.get("Authorization") != f"Bearer {TOKEN}"
                            else self.fake.answer(url.path, query))
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def fake() -> Iterator[FakeFiveSim]:
    fake = FakeFiveSim()
    handler = type("Handler", (_Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    fake.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    yield fake
    server.shutdown()
    server.server_close()


def _partner(fake: FakeFiveSim, token: str = TOKEN, page_size: int = 100) -> FiveSimPartner:
    return FiveSimPartner("5sim", fake.base_url, token, clock=FixedClock(NOW),
                          policy=HttpPolicy(read_retries=2, retry_backoff_seconds=0), orders_page_size=page_size)


def test_get_offers__names_become_our_codes_and_prices_cents(fake: FakeFiveSim) -> None:
    # Given / When 5sim's prices are read
    offers = _partner(fake).get_offers()
    # Then products and countries map to our service codes and ids, one offer per operator; a product our table
    # lacks is offered under its word (code and name); a country we do not know is skipped
    assert offers == [
        PartnerOffer(service="tg", country=0, operator="mts", cost_minor=1250, currency="RUB", count=100),
        PartnerOffer(service="tg", country=0, operator="beeline", cost_minor=900, currency="RUB", count=0),
        PartnerOffer(service="wa", country=16, operator="virtual21", cost_minor=2025, currency="RUB", count=7),
        PartnerOffer(service="unknownapp", country=16, operator="any", cost_minor=100, currency="RUB", count=1,
                     service_name="unknownapp"),
    ]


def test_get_number__buys_with_the_token_and_max_price(fake: FakeFiveSim) -> None:
    # Given / When a Telegram number in Russia is bought for at most 13.00
    number = _partner(fake).get_number("tg", 0, None, max_cost_minor=1300)
    # Then the purchase used 5sim's names, and the number comes back digits only with its cost in cents
    assert fake.requests == ["/v1/user/buy/activation/russia/any/telegram?maxPrice=13.00"]
    assert (number.partner_activation_id, number.phone, number.cost_minor) == ("1", "79000000001", 1250)


def test_get_number__no_free_phones_raises_no_numbers(fake: FakeFiveSim) -> None:
    # Given 5sim has no numbers / When one is bought / Then the router is told to try the next partner
    fake.no_free_phones = True
    with pytest.raises(PartnerNoNumbers):
        _partner(fake).get_number("tg", 0, "mts", None)


def test_get_number__an_excluded_number_is_given_back(fake: FakeFiveSim) -> None:
    # Given a buyer who already had the next number 5sim will hand out
    partner = _partner(fake)
    # When a number is bought excluding it
    with pytest.raises(PartnerNoNumbers):
        partner.get_number("tg", 0, None, None, exclude_phones=["79000000001"])
    # Then the order was canceled at 5sim rather than kept
    assert fake.orders[1]["status"] == "CANCELED"


def test_get_number__unknown_country_is_rejected_without_a_call(fake: FakeFiveSim) -> None:
    # Given / When a number is bought in a country 5sim has no name for here
    with pytest.raises(PartnerRejected):
        _partner(fake).get_number("tg", 999, None, None)
    # Then 5sim was not asked
    assert fake.requests == []


def test_get_number__bad_token_is_rejected(fake: FakeFiveSim) -> None:
    # Given / When the adapter has a wrong token / Then 5sim's 401 is a refusal
    with pytest.raises(PartnerRejected, match="bad API key"):
        _partner(fake, token="nope").get_number("tg", 0, None, None)


def test_get_state__every_sms_with_code_and_time(fake: FakeFiveSim) -> None:
    # Given an order that received an SMS
    order = fake.add_order(status="RECEIVED")
    order["sms"].append({"created_at": "2027-01-15T08:00:03.123456Z", "date": "2027-01-15T08:00:03Z",
                         "sender": "Telegram", "text": "Telegram code 12345", "code": "12345"})
    # When its state is read
    state = _partner(fake).get_state("1")
    # Then the SMS is there with its code and an ISO time
    assert state.status is PartnerStatus.RECEIVED
    assert state.sms == (PartnerSms(text="Telegram code 12345", code="12345", received_at="2027-01-15T08:00:03Z"),)


def test_get_active_states__pages_newest_first_until_orders_have_expired(fake: FakeFiveSim) -> None:
    # Given two expired orders, then a finished one, then two open ones (newest)
    fake.add_order(status="TIMEOUT", expires=NOW - 100)
    fake.add_order(status="TIMEOUT", expires=NOW - 50)
    fake.add_order(status="FINISHED")
    fake.add_order(status="PENDING")
    fake.add_order(status="RECEIVED")
    # When the poller reads the open orders two at a time
    states = _partner(fake, page_size=2).get_active_states()
    # Then it found both open orders and stopped at the page that reached expired orders
    assert [(s.partner_activation_id, s.status) for s in states] == [("5", PartnerStatus.RECEIVED),
                                                                      ("4", PartnerStatus.WAITING)]
    assert len(fake.requests) == 2


def test_cancel__is_idempotent(fake: FakeFiveSim) -> None:
    # Given an order with no SMS
    fake.add_order()
    partner = _partner(fake)
    # When it is canceled twice (5sim answers the second with an error)
    partner.cancel("1")
    partner.cancel("1")
    # Then it is canceled and no error reached the caller
    assert fake.orders[1]["status"] == "CANCELED"


def test_finish__without_sms_is_rejected(fake: FakeFiveSim) -> None:
    # Given an order still waiting / When it is finished / Then 5sim's refusal is passed on
    fake.add_order()
    with pytest.raises(PartnerRejected, match="order no sms"):
        _partner(fake).finish("1")


def test_get_balance_minor__rounded_down_to_cents(fake: FakeFiveSim) -> None:
    # Given a balance of 100.509 / When it is read / Then we never count the fraction of a cent we lack
    assert _partner(fake).get_balance_minor() == 10050


def test_get_balance_minor__server_errors_are_retried_then_unavailable(fake: FakeFiveSim) -> None:
    # Given 5sim behind a failing gateway
    fake.server_error = True
    # When the balance is read / Then it is tried three times, then reported unavailable
    with pytest.raises(PartnerUnavailable, match="HTTP 502"):
        _partner(fake).get_balance_minor()
    assert len(fake.requests) == 3


def test_reactivate__reuses_the_number_by_product_and_digits(fake: FakeFiveSim) -> None:
    # Given a finished Telegram order on +79000000001
    finished = fake.add_order(status="FINISHED")
    partner = _partner(fake)
    # When the number is asked for again (5sim quotes no price: the listing applies)
    cost = partner.reactivation_cost_minor(str(finished["id"]), "79000000001", "tg")
    again = partner.reactivate(str(finished["id"]), "79000000001", "tg", max_cost_minor=1300)
    # Then one user/reuse call made a new order on the same number at its price
    assert cost is None
    assert (again.phone, again.cost_minor) == ("79000000001", 1250)
    assert again.partner_activation_id != str(finished["id"])
    assert [r for r in fake.requests if "/reuse/" in r] == ["/v1/user/reuse/telegram/79000000001"]


def test_reactivate__reuse_not_possible_is_rejected(fake: FakeFiveSim) -> None:
    with pytest.raises(PartnerRejected):
        _partner(fake).reactivate("1", "79000000009", "tg", max_cost_minor=1300)


def test_reactivate__a_reuse_above_the_ceiling_is_given_back(fake: FakeFiveSim) -> None:
    # Given a finished order whose reuse costs 20.00 now
    finished = fake.add_order(status="FINISHED")
    fake.reuse_price = 20
    # When it is reused for at most 13.00
    with pytest.raises(PartnerNoNumbers):
        _partner(fake).reactivate(str(finished["id"]), "79000000001", "tg", max_cost_minor=1300)
    # Then the dear order was canceled at 5sim
    assert [o["status"] for o in fake.orders.values()][-1] == "CANCELED"
