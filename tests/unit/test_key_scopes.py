"""API key scopes over the REST routes (Chalice's test client, services over moto) and the one table of needs."""
from __future__ import annotations

import pytest

from app import app
from chalicelib.api.fivesim_api import PREFIX as FIVESIM
from chalicelib.api.handler_api import _ACTIONS
from chalicelib.api.handler_api import PATH as HANDLER
from chalicelib.api.handler_rent import ACTIONS as RENT_ACTIONS
from chalicelib.domain.scopes import ROUTE_NEEDS, Need, Scope, parse_scopes, stored_scopes
from chalicelib.services.platform.live_updates import ACTIONS as LIVE_ACTIONS
from chalicelib.store.accounts import Credential
from tests.unit.accounts_support import Api


def _key(api: Api, session: str, scopes: list[str] | None = None) -> str:
    body = {"label": "bot"} if scopes is None else {"label": "bot", "scopes": scopes}
    reply = api.call("POST", "/v1/api-keys", body, token=session)
    assert reply.status_code == 201, reply.json_body
    return str(reply.json_body["api_key"])


def _refused(reply, scope: str) -> bool:
    error = reply.json_body["error"]
    return reply.status_code == 403 and error["code"] == "SCOPE_REQUIRED" and f"`{scope}`" in error["message"]


def test_route_needs__every_route_of_every_api_is_in_the_one_table():
    # Given every route the app serves and every handler API action (the rent API's too)
    routes = {(method, path.removeprefix(FIVESIM) if path.startswith(FIVESIM) else path)
              for path, entries in app.routes.items() if path != HANDLER for method in entries}
    actions = ({f"handler:{name}" for name in [*_ACTIONS, *RENT_ACTIONS]}
               | {f"live:{name}" for name in LIVE_ACTIONS})
    # Then each has its line, and the table names nothing the app does not serve
    assert routes | actions <= set(ROUTE_NEEDS), sorted(map(str, (routes | actions) - set(ROUTE_NEEDS)))
    stale = set(ROUTE_NEEDS) - routes - actions
    assert not stale, sorted(map(str, stale))


def test_parse_scopes__known_names_only_and_old_rows_act_as_orders():
    assert parse_scopes(["read", "account", "read"]) == {Scope.READ, Scope.ACCOUNT}
    for bad in ([], ["admin"], [1], ["ORDERS"], ["orders\u0000"]):
        with pytest.raises(ValueError):
            parse_scopes(bad)
    assert stored_scopes(None) == {Scope.ORDERS} == stored_scopes(set())
    assert Need.READ.allows_key(frozenset({Scope.ORDERS})) and not Need.ORDERS.allows_key(frozenset({Scope.READ}))


def test_create_api_key__orders_by_default_and_the_list_shows_each_keys_scopes(api):
    # Given Ann signed in
    session = api.session()
    # When she makes a key without scopes and one with read and account
    plain = api.call("POST", "/v1/api-keys", {"label": "bot"}, token=session)
    chosen = api.call("POST", "/v1/api-keys", {"label": "ops", "scopes": ["read", "account"]}, token=session)
    # Then the first is an orders key, the second has what she chose, and the list says so
    assert plain.json_body["scopes"] == ["orders"] and chosen.json_body["scopes"] == ["account", "read"]
    listed = {k["label"]: k["scopes"] for k in api.call("GET", "/v1/api-keys", token=session).json_body["items"]}
    assert listed == {"bot": ["orders"], "ops": ["account", "read"]}


@pytest.mark.parametrize("scopes", [[], ["admin"], "orders", ["orders", "read", "account", "read"], [None], {"a": 1}])
def test_create_api_key__unknown_or_malformed_scopes_get_422_and_no_key(api, scopes):
    # Given Ann signed in
    session = api.session()
    # When she asks for a key with these scopes
    reply = api.call("POST", "/v1/api-keys", {"scopes": scopes}, token=session)
    # Then it is refused on the field, and no key exists
    assert (reply.status_code, reply.json_body["error"]["details"]["field"]) == (422, "scopes")
    assert not list(Credential.scan(Credential.kind == "api_key"))


def test_orders_key__cannot_change_the_webhook_sign_out_everywhere_or_make_keys(api):
    # Given Ann's session, her webhook, and her bot's orders key
    session = api.session()
    api.call("PUT", "/v1/webhook", {"url": "https://bot.example.com/sms"}, token=session)
    key = _key(api, session)
    # When the bot tries to point the webhook elsewhere, remove it, read its secret, sign Ann out, or mint a key
    replies = [api.call("PUT", "/v1/webhook", {"url": "https://evil.example.net/sms"}, token=key),
               api.call("DELETE", "/v1/webhook", token=key), api.call("GET", "/v1/webhook", token=key),
               api.call("POST", "/v1/auth/logout-all", token=key),
               api.call("POST", "/v1/api-keys", {"scopes": ["account"]}, token=key)]
    # Then each is 403 naming the account scope, and nothing changed: the webhook stays, the session works
    assert all(_refused(r, "account") for r in replies), [r.json_body for r in replies]
    assert api.call("GET", "/v1/webhook", token=session).json_body["url"] == "https://bot.example.com/sms"
    assert api.call("GET", "/v1/me", token=session).status_code == 200
    assert len(api.call("GET", "/v1/api-keys", token=session).json_body["items"]) == 1


def test_account_key__manages_the_webhook_keys_and_sessions_but_cannot_order(api):
    # Given Ann's account-scoped key
    session = api.session()
    key = _key(api, session, ["account"])
    # When it sets the webhook, makes a key, and signs out everywhere
    put = api.call("PUT", "/v1/webhook", {"url": "https://bot.example.com/sms"}, token=key)
    minted = api.call("POST", "/v1/api-keys", {"scopes": ["read"]}, token=key)
    out = api.call("POST", "/v1/auth/logout-all", token=key)
    # Then each works, and Ann's session ended while the key did not
    assert (put.status_code, minted.status_code, out.status_code) == (200, 201, 204)
    assert api.call("GET", "/v1/me", token=session).status_code == 401
    # And it may neither order nor read activations, nor use what needs a person
    assert _refused(api.call("POST", "/v1/activations", {"service": "tg", "country": 0}, token=key), "orders")
    assert _refused(api.call("GET", "/v1/activations", token=key), "read")
    sessions = api.call("GET", "/v1/sessions", token=key)
    assert (sessions.status_code, sessions.json_body["error"]["code"]) == (403, "SESSION_REQUIRED")


def test_read_key__reads_but_cannot_order(api):
    # Given Ann's read-only key
    key = _key(api, api.session(), ["read"])
    # When it reads her account and activity, and tries to order (with a body that would be refused anyway)
    me = api.call("GET", "/v1/me", token=key)
    activity = api.call("GET", "/v1/activity", token=key)
    order = api.call("POST", "/v1/activations", {}, token=key)
    # Then reading works and ordering is refused for want of the orders scope, before the body is looked at
    assert (me.status_code, activity.status_code) == (200, 200)
    assert _refused(order, "orders")


def test_key_from_before_scopes__acts_as_orders(api):
    # Given a key whose row carries no scopes, as every key made before scopes existed
    session = api.session()
    key = _key(api, session, ["account"])
    row = next(Credential.scan(Credential.kind == "api_key"))
    row.update(actions=[Credential.scopes.remove()])
    # When it is listed, asked to change the webhook, and used to order (a malformed order)
    listed = api.call("GET", "/v1/api-keys", token=session).json_body["items"]
    webhook = api.call("PUT", "/v1/webhook", {"url": "https://bot.example.com/sms"}, token=key)
    order = api.call("POST", "/v1/activations", {}, token=key)
    # Then it shows and acts as an orders key: no webhook, and the order reaches validation (422, not 403)
    assert [k["scopes"] for k in listed] == [["orders"]]
    assert _refused(webhook, "account")
    assert order.status_code == 422
