"""The account routes as an HTTP adapter (Chalice's test client, services over moto): statuses, envelopes, auth."""
from __future__ import annotations

import json

import pytest

from chalicelib.store.accounts import Account, Credential, OneTimeToken
from chalicelib.store.ledger import Claim
from tests.unit.accounts_support import PASSWORD


def _nothing_written() -> bool:
    return Account.count() == Claim.count() == OneTimeToken.count() == Credential.count() == 0


GOOD = {"email": "ann@example.com", "password": PASSWORD, "agreement_version": "1"}


@pytest.mark.parametrize(("raw", "code"), [
    (b"{not json", "MALFORMED_JSON"),
    (b"[1, 2]", "MALFORMED_JSON"),
    (json.dumps({**GOOD, "pad": "x" * 70_000}).encode(), "BODY_TOO_LARGE"),
    (b"{}", "INVALID_INPUT"),
    (json.dumps({**GOOD, "email": 5}).encode(), "INVALID_INPUT"),
    (json.dumps({**GOOD, "password": ["x"]}).encode(), "INVALID_INPUT"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "agreement_version"}).encode(), "INVALID_INPUT"),
    (json.dumps({**GOOD, "email": "ann at example.com"}).encode(), "INVALID_EMAIL"),
    (json.dumps({**GOOD, "password": "12345678"}).encode(), "WEAK_PASSWORD"),
    (json.dumps({**GOOD, "agreement_version": "0"}).encode(), "AGREEMENT_VERSION_NOT_CURRENT"),
])
def test_register_route__malformed_input_gets_422_with_the_envelope_and_writes_nothing(api, raw, code):
    # When a malformed registration arrives
    reply = api.call("POST", "/v1/auth/register", raw=raw)
    # Then it is a 422 with the error envelope, and no row was written
    assert reply.status_code == 422
    assert reply.json_body["error"]["code"] == code and reply.json_body["error"]["message"]
    assert _nothing_written()


def _but_request_id(headers: dict[str, str]) -> dict[str, str]:
    """Every header but X-Request-Id, which each reply has its own of."""
    return {name: value for name, value in headers.items() if name.lower() != "x-request-id"}


def test_register_route__a_taken_email_gets_the_same_answer_as_a_new_one(api):
    # When Ann registers twice
    first = api.call("POST", "/v1/auth/register", GOOD)
    second = api.call("POST", "/v1/auth/register", {**GOOD, "email": "ANN@example.com"})
    # Then both answers have the same status, headers and shape, with different ids of the same form
    assert first.status_code == second.status_code == 201
    assert _but_request_id(first.headers) == _but_request_id(second.headers)
    assert first.json_body["status"] == second.json_body["status"] == "unverified"
    assert set(first.json_body) == set(second.json_body) == {"account_id", "status"}
    ids = first.json_body["account_id"], second.json_body["account_id"]
    assert ids[0] != ids[1] and {len(i) for i in ids} == {len(ids[0])} and all(i.startswith("acc_") for i in ids)


def test_verify_route__token_from_the_email_activates_once(api):
    # Given a registration
    api.call("POST", "/v1/auth/register", GOOD)
    token = api.h.mailer.last_to("ann@example.com").token
    # When the token is posted twice
    first = api.call("POST", "/v1/auth/verify", {"token": token})
    second = api.call("POST", "/v1/auth/verify", {"token": token})
    # Then the first activates and the second is a 422 TOKEN_INVALID
    assert (first.status_code, first.json_body["status"]) == (200, "active")
    assert (second.status_code, second.json_body["error"]["code"]) == (422, "TOKEN_INVALID")


def test_login_route__token_with_expiry_and_no_store(api):
    # Given a verified account
    api.h.verified()
    # When Ann signs in
    reply = api.call("POST", "/v1/auth/login", {"email": "ann@example.com", "password": PASSWORD})
    # Then she gets a bearer token with an ISO expiry, not to be cached
    assert reply.status_code == 200 and reply.json_body["token"] and reply.json_body["expires_at"].endswith("Z")
    assert reply.headers["Cache-Control"] == "no-store"


def test_login_route__wrong_password_is_401_then_429_with_retry_after(api):
    # Given a verified account
    api.h.verified()
    wrong = {"email": "ann@example.com", "password": "not my password"}
    # When wrong passwords keep coming
    replies = [api.call("POST", "/v1/auth/login", wrong) for _ in range(7)]
    # Then the first are 401 INVALID_CREDENTIALS and then 429 with Retry-After
    assert replies[0].status_code == 401 and replies[0].json_body["error"]["code"] == "INVALID_CREDENTIALS"
    assert replies[-1].status_code == 429 and int(replies[-1].headers["Retry-After"]) >= 1


def test_me_route__shows_money_and_agreement_state(api):
    # Given Ann signed in
    token = api.session()
    # When she reads /v1/me
    me = api.call("GET", "/v1/me", token=token).json_body
    # Then the contract fields are there
    assert {k: me[k] for k in ("email", "status", "balance_cents", "held_cents", "available_cents", "currency",
                               "agreement_version", "current_agreement_version", "agreement_update_required",
                               "restricted")} == {
        "email": "ann@example.com", "status": "active", "balance_cents": 0, "held_cents": 0, "available_cents": 0,
        "currency": "USD", "agreement_version": "1", "current_agreement_version": "1",
        "agreement_update_required": False, "restricted": False}


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/me"), ("POST", "/v1/api-keys"), ("GET", "/v1/activity"),
                                              ("POST", "/v1/account/report-unauthorized"), ("PUT", "/v1/webhook"),
                                              ("POST", "/v1/auth/logout")])
def test_routes__without_a_credential_are_401(api, method, path):
    # When a route that needs a caller is called anonymously or with a made-up token
    anonymous = api.call(method, path, {})
    forged = api.call(method, path, {}, token="smsr_madeup")
    # Then both are 401 with the envelope
    assert anonymous.status_code == forged.status_code == 401
    assert anonymous.json_body["error"]["code"] == "UNAUTHENTICATED"


def test_api_key_routes__a_bots_orders_key_cannot_manage_keys(api):
    # Given Ann's session and a key made with it (default scope: orders)
    token = api.session()
    created = api.call("POST", "/v1/api-keys", {"label": "bot"}, token=token)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    key, key_id = created.json_body["api_key"], created.json_body["key_id"]
    # When the key tries to make another key, list the keys or revoke itself
    minted = api.call("POST", "/v1/api-keys", {}, token=key)
    listed = api.call("GET", "/v1/api-keys", token=key)
    revoked = api.call("DELETE", f"/v1/api-keys/{key_id}", token=key)
    # Then each is refused for want of the account scope
    for reply in (minted, listed, revoked):
        assert (reply.status_code, reply.json_body["error"]["code"]) == (403, "SCOPE_REQUIRED")
    # And the session revokes it with 204, after which a second revoke is 404
    assert api.call("DELETE", f"/v1/api-keys/{key_id}", token=token).status_code == 204
    assert api.call("DELETE", f"/v1/api-keys/{key_id}", token=token).status_code == 404


def test_forgot_password_route__same_reply_for_known_and_unknown_emails(api):
    # Given Ann's account
    api.h.verified()
    # When resets are asked for her and for a stranger
    known = api.call("POST", "/v1/auth/forgot-password", {"email": "ann@example.com"})
    unknown = api.call("POST", "/v1/auth/forgot-password", {"email": "nobody@example.com"})
    # Then the replies are identical, each address got one email, and only Ann's holds a link
    assert (known.status_code, _but_request_id(known.headers), known.json_body) == (
        unknown.status_code, _but_request_id(unknown.headers), unknown.json_body)
    assert known.status_code == 202
    assert [m.to for m in api.h.mailer.sent if "Reset" in m.subject] == ["ann@example.com", "nobody@example.com"]
    assert [m.to for m in api.h.mailer.sent if "token=" in m.body] == ["ann@example.com"] * 2  # verify, reset


def test_webhook_routes__put_get_delete_and_bad_input(api):
    # Given Ann signed in
    token = api.session()
    # When she sets, reads, and deletes her webhook
    put = api.call("PUT", "/v1/webhook", {"url": "https://bot.example.com/sms"}, token=token)
    got = api.call("GET", "/v1/webhook", token=token)
    deleted = api.call("DELETE", "/v1/webhook", token=token)
    # Then the URL and secret round-trip and deletion clears them
    assert put.status_code == 200 and put.json_body["secret"].startswith("whsec_")
    assert got.json_body == put.json_body
    assert deleted.status_code == 204
    assert api.call("GET", "/v1/webhook", token=token).json_body == {"url": None, "secret": None, "events": None}
    # And bad input is a 422 that stores nothing
    for body in ({"url": "ftp://x.example.com"}, {"url": 7}, {"url": "https://x.example.com", "rotate_secret": "yes"}):
        assert api.call("PUT", "/v1/webhook", body, token=token).status_code == 422
    assert api.call("GET", "/v1/webhook", token=token).json_body["url"] is None


def test_activity_route__lists_sign_ins_and_refuses_a_bad_limit(api):
    # Given Ann signed in
    token = api.session()
    # When she reads her activity
    items = api.call("GET", "/v1/activity?limit=10", token=token).json_body["items"]
    bad = api.call("GET", "/v1/activity?limit=0", token=token)
    # Then her sign-in is there with its IP field, and a bad limit is a 422
    assert "sign_in" in [i["kind"] for i in items] and {"kind", "ip", "detail", "created_at"} <= set(items[0])
    assert bad.status_code == 422


def test_logout_route__ends_the_session(api):
    # Given Ann signed in
    token = api.session()
    # When she signs out
    reply = api.call("POST", "/v1/auth/logout", token=token)
    # Then it is a 204 and the token no longer works
    assert reply.status_code == 204
    assert api.call("GET", "/v1/me", token=token).status_code == 401
