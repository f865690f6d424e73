"""The OpenAPI document of REST v1 against the running server: served as is, complete both ways, and truthful."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pyotp
import pytest
import requests
import schemathesis
from schemathesis.core.result import Ok

from chalicelib.config import Settings
from chalicelib.store.base import bind_models
from infra.local.localstripe_setup import confirm_setup_intent_with_test_card
from infra.local.stack import Stack
from tests.integration.helpers_security import PASSWORD, Member, bearer, fund, link_token, sign_in, unique_email
from tests.support import customer_with_key, deliver_sms, refresh_prices, sms_only_on_demand, wait_until
from tests.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.integration

DOCUMENT = Path(__file__).resolve().parents[2] / "chalicelib" / "api" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch")
# Other protocols served by the same app, each with its own wire format: not REST v1, not in this document.
OTHER_PROTOCOL_MODULES = ("chalicelib.api.web", "chalicelib.api.handler_api", "chalicelib.api.fivesim_api",
                          "chalicelib.api.smshub_push")
SMS_WAIT_SECONDS = 15
CANCEL_GRACE_SECONDS = 2.2  # the stack's early-cancel window is 2 s


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item if method in METHODS}


def registered_rest_operations() -> set[tuple[str, str]]:
    """(METHOD, path) of every route the app registers, less the routes of the other protocols."""
    from app import app

    found = set()
    for path, entries in app.routes.items():
        for method, entry in entries.items():
            if entry.view_function.__module__ not in OTHER_PROTOCOL_MODULES and path.startswith(("/v1/", "/health")):
                found.add((method.upper(), path))
    return found


class ContractClient:
    """HTTP to the app; every reply must be a documented status whose body matches the documented schema."""

    def __init__(self, base_url: str, document: dict[str, Any]) -> None:
        self.base_url = base_url
        self.document = document
        self.seen: set[tuple[str, str]] = set()
        self._validators: dict[str, Any] = {}

    def call(self, method: str, template: str, *, auth: dict[str, str] | None = None,
             path: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
        reply = requests.request(method, self.base_url + template.format(**(path or {})), headers=auth,
                                 timeout=30, **kwargs)
        self.check(method, template, reply)
        return reply

    def check(self, method: str, template: str, reply: requests.Response) -> None:
        operation = self.document["paths"][template][method.lower()]
        status = str(reply.status_code)
        assert status in operation["responses"], (
            f"{method} {template} answered {status}, not documented: {reply.text[:300]}")
        documented = self._resolve(operation["responses"][status])
        schema = documented.get("content", {}).get("application/json", {}).get("schema")
        if "text/csv" in documented.get("content", {}):
            assert reply.headers["Content-Type"].startswith("text/csv"), f"{method} {template} is not CSV"
        elif schema is None:
            assert reply.content == b"", f"{method} {template} {status} should have no body: {reply.text[:200]}"
        else:
            problems = [str(e).splitlines()[0] for e in self._validator(schema).iter_errors(reply.json())]
            assert not problems, f"{method} {template} {status} body breaks the schema: {problems}\n{reply.text[:500]}"
        if reply.ok:
            self.seen.add((method.upper(), template))

    def _resolve(self, item: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in item:
            node: Any = self.document
            for part in item["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            item = node
        return item

    def _validator(self, schema: dict[str, Any]) -> Any:
        key = json.dumps(schema, sort_keys=True)
        if key not in self._validators:
            root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema,
                    "components": self.document["components"]}
            self._validators[key] = jsonschema_rs.validator_for(root, validate_formats=True)
        return self._validators[key]


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture
def api(stack: Stack, document: dict[str, Any]) -> ContractClient:
    return ContractClient(stack.app_url, document)


def test_openapi__the_server_serves_the_document_of_the_repo(stack: Stack, document: dict[str, Any]) -> None:
    # When a client fetches the document from the running server
    reply = requests.get(f"{stack.app_url}/v1/openapi.json", timeout=10)
    # Then it is the repo's file, as JSON
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json() == document


def test_openapi__the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    # Given the document as schemathesis loads it
    schema = schemathesis.openapi.from_dict(document)
    # Then it is a valid OpenAPI document, and every operation loads
    schema.validate()
    assert all(isinstance(result, Ok) for result in schema.get_all_operations())


def test_openapi__every_error_status_carries_the_error_envelope(document: dict[str, Any]) -> None:
    # Given every response the document describes
    responses = [(path, method, status, reply) for path, item in document["paths"].items()
                 for method, op in item.items() if method in METHODS for status, reply in op["responses"].items()]
    # Then each 4xx and 5xx points at a shared error response, whose body is the Error envelope
    errors = [(p, m, s, r) for p, m, s, r in responses if s.startswith(("4", "5"))]
    assert errors
    for path, method, status, reply in errors:
        assert reply.get("$ref", "").startswith("#/components/responses/"), f"{method} {path} {status}"
    for name, reply in document["components"]["responses"].items():
        assert reply["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name


def test_openapi__every_documented_operation_exists_on_the_server(stack: Stack, document: dict[str, Any]) -> None:
    # Given every documented operation, called with placeholder path parameters and no credentials
    missing = []
    for method, template in sorted(documented_operations(document)):
        url = stack.app_url + template.replace("{", "").replace("}", "")
        reply = requests.request(method, url, json={}, timeout=10)
        # Then the server routes it: no API Gateway "Missing Authentication Token", no 405
        body = reply.text
        if (reply.status_code == 403 and "Missing Authentication Token" in body) or reply.status_code == 405:
            missing.append(f"{method} {template} → {reply.status_code} {body[:80]}")
    assert not missing, "documented but not served:\n" + "\n".join(missing)


def test_openapi__every_rest_route_of_the_server_is_documented(stack_settings: Settings,
                                                                document: dict[str, Any]) -> None:
    # Given the routes the app registers (importing the app binds models to its own settings: rebind after)
    registered = registered_rest_operations()
    bind_models(stack_settings)
    # Then each REST one is documented, and the document describes nothing else
    assert registered - documented_operations(document) == set(), "served but not documented"
    assert documented_operations(document) - registered == set(), "documented but not registered"


def test_openapi__a_customer_journey_matches_the_documented_schemas(api: ContractClient, stack: Stack,
                                                                    stack_settings: Settings,
                                                                    document: dict[str, Any]) -> None:
    # Given the partners' prices loaded, the public pages, and a member who signed up over REST and holds money
    refresh_prices(stack_settings)
    _public_pages(api)
    member = _signed_up(api, stack)
    fund(member.account_id, 2_000)
    # When they use every part of REST v1, ending with leaving the service
    _account_pages(api, member)
    _two_factor(api, member)
    with sms_only_on_demand(stack):
        _activations(api, stack, member)
        _rentals(api, stack, member)
    _money(api, stack, member)
    _support(api, member)
    _contact(api, stack)
    _errors(api, member)
    _locked_out(api, stack_settings)
    _leaving(api, stack, member)
    # Then every reply was a documented status with a body of the documented shape, and every operation
    # answered with success at least once (the Stripe webhook and partner pushes have their own suites)
    unchecked = documented_operations(document) - api.seen - {("POST", "/v1/webhooks/stripe"),
                                                              ("POST", "/v1/partners/{name}/push")}
    assert unchecked == set(), f"operations the journey never saw succeed: {sorted(unchecked)}"


def _two_factor(api: ContractClient, member: Member) -> None:
    """On with a code, a sign-in in two steps, new recovery codes, off: every answer as documented."""
    secret = api.call("POST", "/v1/account/two-factor/setup", auth=member.auth).json()["secret"]
    api.call("POST", "/v1/account/two-factor/enable", auth=member.auth,
             json={"otp_code": "12345", "current_password": member.password})  # 422
    recovery = api.call("POST", "/v1/account/two-factor/enable", auth=member.auth, json={
        "otp_code": pyotp.TOTP(secret).now(), "current_password": member.password}).json()["recovery_codes"]
    api.call("GET", "/v1/account/two-factor", auth=member.auth)
    api.call("POST", "/v1/account/two-factor/setup", auth=member.auth)  # on already: 409
    challenge = api.call("POST", "/v1/auth/login", json={"email": member.email, "password": member.password}).json()
    api.call("POST", "/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"], "code": "12345"})  # 401
    api.call("POST", "/v1/auth/login/mfa", json={"mfa_token": challenge["mfa_token"],
                                                 "code": pyotp.TOTP(secret).at(time.time() + 30)})
    api.call("PUT", "/v1/webhook", auth=member.auth, json={"url": "https://bot.example.com/sms"})  # 403 OTP_REQUIRED
    fresh = api.call("POST", "/v1/account/two-factor/recovery-codes", auth=member.auth,
                     json={"otp_code": recovery[0]}).json()["recovery_codes"]
    api.call("POST", "/v1/account/two-factor/disable", auth=member.auth, json={"otp_code": recovery[1]})  # 422
    api.call("POST", "/v1/account/two-factor/disable", auth=member.auth, json={"otp_code": fresh[0]})


def _public_pages(api: ContractClient) -> None:
    api.call("GET", "/health")
    api.call("GET", "/v1/openapi.json")
    api.call("GET", "/v1/agreement")
    api.call("GET", "/v1/agreement/{version}", path={"version": "1"})
    api.call("GET", "/v1/agreement/{version}", path={"version": "999"})
    api.call("GET", "/v1/services")
    api.call("GET", "/v1/countries")
    api.call("GET", "/v1/catalog", params={"service": "tg", "country": "0"})
    api.call("GET", "/v1/catalog", params={"country": "Russia"})


def _signed_up(api: ContractClient, stack: Stack) -> Member:
    email = unique_email()
    api.call("POST", "/v1/auth/register", json={"email": email, "password": "short", "agreement_version": "1"})
    registered = api.call("POST", "/v1/auth/register", json={"email": email, "password": PASSWORD,
                                                             "agreement_version": "1"})
    api.call("POST", "/v1/auth/register", json={"email": email, "password": PASSWORD, "agreement_version": "1"})
    api.call("POST", "/v1/auth/resend-verification", json={"email": email})
    api.call("POST", "/v1/auth/verify", json={"token": link_token(stack.outbox, email)})
    api.call("POST", "/v1/auth/verify", json={"token": "spent-or-made-up"})
    api.call("POST", "/v1/auth/login", json={"email": email, "password": "wrong " + PASSWORD})
    api.call("POST", "/v1/auth/forgot-password", json={"email": email})
    api.call("POST", "/v1/auth/reset-password", json={"token": link_token(stack.outbox, email, subject="Reset"),
                                                      "password": PASSWORD + "!"})
    session = api.call("POST", "/v1/auth/login", json={"email": email, "password": PASSWORD + "!"}).json()["token"]
    return Member(account_id=registered.json()["account_id"], email=email, password=PASSWORD + "!", session=session)


def _account_pages(api: ContractClient, member: Member) -> None:
    api.call("GET", "/v1/me", auth=member.auth)
    assert api.call("GET", "/v1/live", auth=member.auth).json()["url"].startswith("ws://127.0.0.1:")
    api.call("POST", "/v1/account/accept-agreement", auth=member.auth, json={"agreement_version": "1"})
    key = api.call("POST", "/v1/api-keys", auth=member.auth, json={"label": "bot"}).json()
    api.call("GET", "/v1/api-keys", auth=bearer(key["api_key"]))  # a bot's orders key may not list keys: 403
    api.call("GET", "/v1/api-keys", auth=member.auth)
    api.call("POST", "/v1/api-keys", auth=bearer(key["api_key"]))  # nor mint them: 403
    api.call("POST", "/v1/api-keys", auth=member.auth, json={"scopes": ["everything"]})  # 422
    api.call("GET", "/v1/sessions", auth=bearer(key["api_key"]))  # nor list sessions: 403
    sign_in(api.base_url, member.email, member.password)
    sessions = api.call("GET", "/v1/sessions", auth=member.auth).json()["items"]
    other = {"session_id": next(s["session_id"] for s in sessions if not s["current"])}
    api.call("DELETE", "/v1/sessions/{session_id}", auth=member.auth, path=other)
    api.call("DELETE", "/v1/sessions/{session_id}", auth=member.auth, path=other)  # already gone: 404
    api.call("POST", "/v1/auth/change-password", auth=member.auth,
             json={"current_password": "not it", "new_password": "amber-quarry-sextant-77"})  # 422
    api.call("DELETE", "/v1/api-keys/{key_id}", auth=member.auth, path={"key_id": key["key_id"]})
    api.call("DELETE", "/v1/api-keys/{key_id}", auth=member.auth, path={"key_id": key["key_id"]})
    api.call("PUT", "/v1/webhook", auth=member.auth, json={"url": "ftp://example.com/sms"})
    api.call("PUT", "/v1/webhook", auth=member.auth, json={"url": "http://127.0.0.1:9/sms"})
    api.call("GET", "/v1/webhook", auth=member.auth)
    api.call("DELETE", "/v1/webhook", auth=member.auth)
    api.call("GET", "/v1/activity", auth=member.auth, params={"limit": "5"})
    api.call("GET", "/v1/activity", auth=member.auth, params={"limit": "0"})
    api.call("GET", "/v1/activity/export.csv", auth=member.auth, params={"from": "2026-01-01"})


def _activations(api: ContractClient, stack: Stack, member: Member) -> None:
    order = {"service": "tg", "country": 0}
    api.call("POST", "/v1/activations", auth=member.auth, json={"service": "nope", "country": 0})
    api.call("POST", "/v1/activations", auth=member.auth, json={**order, "max_price_cents": 1})
    first = api.call("POST", "/v1/activations", auth=member.auth, json=order).json()
    path = {"activation_id": first["id"]}
    api.call("POST", "/v1/activations/{activation_id}/finish", auth=member.auth, path=path)  # no SMS yet: 409
    api.call("GET", "/v1/activations", auth=member.auth, params={"limit": "10"})
    api.call("GET", "/v1/activations", auth=member.auth, params={"status": "WAITING", "to": "yesterday"})
    api.call("GET", "/v1/activations/export.csv", auth=member.auth, params={"status": "WAITING"})
    deliver_sms(stack, first["phone"], "Your code is 12345")
    deadline = time.monotonic() + SMS_WAIT_SECONDS
    while not api.call("GET", "/v1/activations/{activation_id}", auth=member.auth, path=path).json()["sms"]:
        assert time.monotonic() < deadline, "the SMS the simulator delivered never showed"
        time.sleep(0.5)
    api.call("POST", "/v1/activations/{activation_id}/retry", auth=member.auth, path=path)
    api.call("POST", "/v1/activations/{activation_id}/finish", auth=member.auth, path=path)
    api.call("GET", "/v1/activations/{activation_id}/reactivation", auth=member.auth, path=path)
    api.call("POST", "/v1/activations/{activation_id}/reactivate", auth=member.auth, path=path,
             json={"max_price_cents": 1})  # above the maximum: 409
    api.call("POST", "/v1/activations/{activation_id}/reactivate", auth=member.auth, path=path)
    api.call("POST", "/v1/activations/bulk", auth=member.auth, json={**order, "count": 99})  # 422
    api.call("POST", "/v1/activations/bulk", auth=member.auth, json={**order, "count": 2})
    api.call("POST", "/v1/activations/multi", auth=member.auth, json={"services": ["tg", "wa"], "country": 0})
    to_ban = api.call("POST", "/v1/activations", auth=member.auth, json=order).json()
    to_cancel = {"activation_id": api.call("POST", "/v1/activations", auth=member.auth, json=order).json()["id"]}
    early = api.call("POST", "/v1/activations/{activation_id}/cancel", auth=member.auth, path=to_cancel)  # 409 if fast
    time.sleep(CANCEL_GRACE_SECONDS)
    api.call("POST", "/v1/activations/{activation_id}/ban", auth=member.auth, path={"activation_id": to_ban["id"]})
    if not early.ok:
        api.call("POST", "/v1/activations/{activation_id}/cancel", auth=member.auth, path=to_cancel)


def _rentals(api: ContractClient, stack: Stack, member: Member) -> None:
    api.call("GET", "/v1/rentals/prices", auth=member.auth, params={"country": "0", "hours": "4"})
    api.call("GET", "/v1/rentals/prices", auth=member.auth, params={"country": "0", "hours": "3"})  # 422
    api.call("POST", "/v1/rentals", auth=member.auth, json={"service": "tg", "country": 0, "hours": 673})  # 422
    kept = api.call("POST", "/v1/rentals", auth=member.auth, json={"service": "tg", "country": 0, "hours": 4}).json()
    path = {"rental_id": kept["id"]}
    deliver_sms(stack, kept["phone"], "Your code is 24680")
    deadline = time.monotonic() + SMS_WAIT_SECONDS
    while not api.call("GET", "/v1/rentals/{rental_id}/sms", auth=member.auth, path=path).json()["items"]:
        assert time.monotonic() < deadline, "the rented number's SMS never showed"
        time.sleep(0.5)
    api.call("POST", "/v1/rentals/{rental_id}/cancel", auth=member.auth, path=path)  # an SMS came: 409
    api.call("GET", "/v1/rentals/{rental_id}/extension-price", auth=member.auth, path=path, params={"hours": "24"})
    api.call("POST", "/v1/rentals/{rental_id}/extend", auth=member.auth, path=path, json={"hours": 24})
    api.call("GET", "/v1/rentals/{rental_id}", auth=member.auth, path=path)
    api.call("GET", "/v1/rentals", auth=member.auth, params={"limit": "5"})
    api.call("POST", "/v1/rentals/{rental_id}/finish", auth=member.auth, path=path)
    canceled = api.call("POST", "/v1/rentals", auth=member.auth, json={"country": 0, "hours": 4}).json()
    api.call("POST", "/v1/rentals/{rental_id}/cancel", auth=member.auth, path={"rental_id": canceled["id"]})


def _until_credited(api: ContractClient, member: Member, balance_cents: int) -> None:
    deadline = time.monotonic() + 30
    while api.call("GET", "/v1/me", auth=member.auth).json()["balance_cents"] < balance_cents:
        assert time.monotonic() < deadline, "the top-up was never credited by its webhook"
        time.sleep(0.2)


def _money(api: ContractClient, stack: Stack, member: Member) -> None:
    setup = api.call("POST", "/v1/topups/card-setup", auth=member.auth).json()
    card = confirm_setup_intent_with_test_card(stack.stripe_url, setup["publishable_key"], setup["setup_intent_id"],
                                               setup["client_secret"])
    api.call("GET", "/v1/topups/cards", auth=member.auth)
    api.call("POST", "/v1/topups", auth=member.auth, json={"amount_cents": 1, "payment_method_id": card})
    before = api.call("GET", "/v1/me", auth=member.auth).json()["balance_cents"]
    with receiving(Receiver()) as (hook, url):
        api.call("PUT", "/v1/webhook", auth=member.auth, json={"url": url, "events": ["balance.changed"]})
        api.call("POST", "/v1/topups", auth=member.auth, json={"amount_cents": 500, "payment_method_id": card})
        _until_credited(api, member, before + 500)  # Stripe's webhook credits it; the refund asks for it all
        assert wait_until(lambda: bool(hook.delivered()), seconds=20), "the balance event never reached the hook"
        sent = api.call("GET", "/v1/webhook/deliveries", auth=member.auth, params={"limit": "5"}).json()["items"]
        api.call("GET", "/v1/webhook/deliveries", auth=member.auth, params={"status": "sent"})  # 422
        api.call("POST", "/v1/webhook/deliveries/{delivery_id}/redeliver", auth=member.auth,
                 path={"delivery_id": sent[0]["delivery_id"]})
        api.call("POST", "/v1/webhook/deliveries/{delivery_id}/redeliver", auth=member.auth,
                 path={"delivery_id": "whd_none"})  # 404
    api.call("GET", "/v1/ledger", auth=member.auth, params={"limit": "2"})
    api.call("GET", "/v1/ledger", auth=member.auth, params={"limit": "-1"})
    api.call("GET", "/v1/ledger", auth=member.auth, params={"cursor": "not-ours"})
    api.call("GET", "/v1/ledger/export.csv", auth=member.auth, params={"kind": "top_up"})
    api.call("GET", "/v1/payments", auth=member.auth)
    api.call("GET", "/v1/payments", auth=member.auth, params={"limit": "1", "type": "top_up"})
    api.call("GET", "/v1/payments", auth=member.auth, params={"cursor": "not-ours"})  # 422
    api.call("GET", "/v1/payments/export.csv", auth=member.auth, params={"status": "credited"})


def _support(api: ContractClient, member: Member) -> None:
    ticket = api.call("POST", "/v1/support/tickets", auth=member.auth,
                      json={"subject": "Where is my code?", "message": "It took long."}).json()
    path = {"ticket_id": ticket["ticket_id"]}
    api.call("POST", "/v1/support/tickets/{ticket_id}/messages", auth=member.auth, path=path,
             json={"message": "It came, thanks."})
    api.call("GET", "/v1/support/tickets/{ticket_id}", auth=member.auth, path=path)
    api.call("GET", "/v1/support/tickets", auth=member.auth)
    api.call("POST", "/v1/support/tickets", auth=member.auth, json={"subject": "", "message": "x"})
    api.call("GET", "/v1/refund-requests/preview", auth=member.auth)
    api.call("POST", "/v1/refund-requests", auth=member.auth, json={"reason": "Leaving the service."})
    api.call("POST", "/v1/refund-requests", auth=member.auth, json={"reason": "Again."})  # one pending: 409
    api.call("GET", "/v1/refund-requests", auth=member.auth)


def _contact(api: ContractClient, stack: Stack) -> None:
    email = unique_email()
    api.call("POST", "/v1/support/contact", json={"email": email, "subject": "Locked out", "message": "Help."})
    api.call("POST", "/v1/support/contact", json={"email": "not an email", "subject": "Hi", "message": "Help."})
    token = link_token(stack.outbox, email, subject="Confirm your message")
    api.call("POST", "/v1/support/contact/confirm", json={"token": token})
    api.call("POST", "/v1/support/contact/confirm", json={"token": token})  # spent: 422


def _errors(api: ContractClient, member: Member) -> None:
    api.call("GET", "/v1/me")
    api.call("GET", "/v1/me", auth=bearer("made-up"))
    api.call("GET", "/v1/activations/{activation_id}", auth=member.auth, path={"activation_id": 999_999_999})
    api.call("GET", "/v1/activations/{activation_id}", auth=member.auth, path={"activation_id": "abc"})
    api.call("POST", "/v1/activations", auth=member.auth, data=b"{not json")
    api.call("POST", "/v1/activations", auth=member.auth, json={"service": "tg", "country": 0})  # all held: 402
    api.call("GET", "/v1/support/tickets/{ticket_id}", auth=member.auth, path={"ticket_id": "tkt_nobody"})


def _locked_out(api: ContractClient, stack_settings: Settings) -> None:
    customer = customer_with_key(stack_settings)
    api.call("POST", "/v1/account/report-unauthorized", auth=bearer(customer.api_key))
    api.call("GET", "/v1/me", auth=bearer(customer.api_key))


def _leaving(api: ContractClient, stack: Stack, member: Member) -> None:
    api.call("POST", "/v1/auth/logout", auth=bearer(sign_in(stack.app_url, member.email, member.password)))
    changed = bearer(api.call("POST", "/v1/auth/change-password", auth=member.auth, json={
        "current_password": member.password, "new_password": member.password,
        "revoke_api_keys": False}).json()["token"])
    api.call("GET", "/v1/me", auth=member.auth)  # the change signed every earlier session out: 401
    api.call("POST", "/v1/auth/logout-all", auth=changed)
    api.call("GET", "/v1/me", auth=changed)  # signed out everywhere: 401
    api.call("POST", "/v1/account/withdraw-consent",
             auth=bearer(sign_in(stack.app_url, member.email, member.password)))
