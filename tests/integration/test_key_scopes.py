"""API key scopes over real HTTP on the local stack: REST v1, the SMS-Activate handler API and the 5sim API."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from chalicelib.config import Settings
from tests.support import Customer, customer_with_key, priced_on_demand

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    with priced_on_demand(stack) as settings:
        yield settings


@pytest.fixture(scope="module")
def owner(priced) -> Customer:
    """An account with money and a key holding every scope (so it may make keys itself)."""
    return customer_with_key(priced, balance_cents=5000)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _new_key(stack, owner: Customer, scopes: list[str] | None) -> str:
    body = {"label": "scoped"} if scopes is None else {"label": "scoped", "scopes": scopes}
    reply = requests.post(f"{stack.app_url}/v1/api-keys", headers=_auth(owner.api_key), json=body, timeout=30)
    assert reply.status_code == 201, reply.text
    return str(reply.json()["api_key"])


def test_rest__a_bots_orders_key_orders_but_cannot_touch_the_webhook_or_sign_out(stack, owner):
    # Given a key made over REST with no scopes asked (orders)
    key = _new_key(stack, owner, None)
    url = stack.app_url
    # When it orders, reads, and then tries to redirect the webhook and sign everyone out
    ordered = requests.post(f"{url}/v1/activations", headers=_auth(key), json={"service": "tg", "country": 0},
                            timeout=30)
    listed = requests.get(f"{url}/v1/activations", headers=_auth(key), timeout=30)
    webhook = requests.put(f"{url}/v1/webhook", headers=_auth(key), json={"url": "https://evil.example.net/x"},
                           timeout=30)
    logout_all = requests.post(f"{url}/v1/auth/logout-all", headers=_auth(key), timeout=30)
    # Then ordering and reading work, and the account changes are 403 SCOPE_REQUIRED naming the scope
    assert ordered.status_code == 201, ordered.text
    assert ordered.json()["id"] in {a["id"] for a in listed.json()["items"]}
    for refused in (webhook, logout_all):
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "SCOPE_REQUIRED" and "`account`" in refused.json()["error"]["message"]
    assert requests.get(f"{url}/v1/webhook", headers=_auth(owner.api_key), timeout=30).json()["url"] is None


def test_handler_api__a_read_key_reads_but_ordering_is_bad_key(stack, owner):
    # Given a read-only key and an orders key
    reader, orderer = _new_key(stack, owner, ["read"]), _new_key(stack, owner, ["orders"])
    url = f"{stack.app_url}/stubs/handler_api.php"

    def call(key: str, **params: str | int) -> str:
        return requests.get(url, params={"api_key": key, **params}, timeout=30).text

    # When the reader asks for the balance and a number, and the orderer buys one
    balance = call(reader, action="getBalance")
    refused = call(reader, action="getNumber", service="tg", country=0)
    bought = call(orderer, action="getNumber", service="tg", country=0)
    # Then the reader reads the balance and the bought activation, and every move of its own is BAD_KEY
    assert balance.startswith("ACCESS_BALANCE:") and refused == "BAD_KEY"
    assert bought.startswith("ACCESS_NUMBER:"), bought
    activation_id = bought.split(":")[1]
    assert call(reader, action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    assert call(reader, action="setStatus", id=activation_id, status=8) == "BAD_KEY"
    assert call(orderer, action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"


def test_fivesim__a_read_key_sees_the_profile_but_cannot_buy(stack, owner):
    # Given a read-only key and an account-only key
    reader, admin_key = _new_key(stack, owner, ["read"]), _new_key(stack, owner, ["account"])
    base = f"{stack.app_url}/5sim/v1/user"
    # When each reads the profile and tries to buy
    profile = requests.get(f"{base}/profile", headers=_auth(reader), timeout=30)
    bought = requests.get(f"{base}/buy/activation/usa/any/telegram", headers=_auth(reader), timeout=30)
    account_profile = requests.get(f"{base}/profile", headers=_auth(admin_key), timeout=30)
    # Then the reader sees the profile, and buying (or reading with no read scope) is 5sim's 403, not a 401
    assert profile.status_code == 200 and profile.json()["email"] == owner.email
    assert (bought.status_code, account_profile.status_code) == (403, 403)
    assert bought.text.startswith("forbidden")
