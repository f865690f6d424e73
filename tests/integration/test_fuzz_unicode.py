"""Hostile Unicode and hostile shapes across the four surfaces (REST v1, the handler API, the 5sim routes, the Stripe
webhook and partner pushes): never a 5xx, and never an exception in the app's log.

A fixed corpus (tests/integration/hostile.py), so every run sends the same requests and a failure names its input.
The SMSHub agent push is fuzzed in test_smshub_agent_http.py, which runs an app with an agent configured.
"""
from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.domain.push_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, push_signature
from chalicelib.services.accounts.sessions import Credentials
from infra.local.localstripe_setup import signature_header
from infra.local.stack import Stack
from tests.integration import hostile as h
from tests.support import client_at, customer_with_key, priced_settings

pytestmark = pytest.mark.integration

T = TypeVar("T")
KEYS = 4  # each key has its own rate budget: the corpus should meet the parsers, not the rate limit
PASSWORD = "violet-harbour-lantern-42"


@dataclass
class Caller:
    session: str
    keys: Iterator[str]
    http: requests.Session

    def auth(self, kind: str | None) -> dict[str, str]:
        if kind is None:
            return {}
        return {"Authorization": f"Bearer {self.session if kind == 'session' else next(self.keys)}"}


def new_caller(settings: Settings, balance_cents: int, ip: str) -> Caller:
    customer = customer_with_key(settings, balance_cents)
    credentials = Credentials(SystemClock(), settings.session_ttl_seconds)
    keys = [customer.api_key] + [credentials.create_api_key(customer.account_id, f"fuzz {n}").api_key
                                 for n in range(KEYS - 1)]
    return Caller(credentials.issue_session(customer.account_id).token, itertools.cycle(keys), client_at(ip))


@pytest.fixture(scope="module")
def priced(stack: Stack) -> Settings:
    return priced_settings(stack)


@pytest.fixture(scope="module")
def caller(priced: Settings) -> Caller:
    return new_caller(priced, 100_000, "127.0.0.71")


def fuzz_body(app_url: str, who: Caller, route: tuple[str, str, dict[str, Any], list[str], str | None],
              turn: Iterator[int], findings: h.Findings) -> None:
    """Each field of the route's body replaced by its share of hostile values, then hostile whole bodies."""
    method, path, base, names, kind = route
    values: list[object] = [*h.SAMPLE, *h.NON_TEXT]
    for name in names:
        for value in h.share(values, [*h.ALWAYS, 10**40], next(turn)):
            fuzz_one(app_url, who, method, path, kind, h.json_bytes({**base, name: value}),
                     f"{name}={value!r:.60}", findings)
    for raw in h.share(h.BODIES, h.BODIES[:1], next(turn)):
        fuzz_one(app_url, who, method, path, kind, raw, f"body={raw[:40]!r}", findings)


def fuzz_one(app_url: str, who: Caller, method: str, path: str, kind: str | None, body: bytes, what: str,
             findings: h.Findings) -> None:
    reply = who.http.request(method, app_url + path, data=body, timeout=30,
                             headers={"Content-Type": "application/json", **who.auth(kind)})
    findings.check(f"{method} {path} {what}", reply.status_code, reply.text)


def test_fuzz_rest_bodies__hostile_fields_and_bodies_never_answer_5xx_or_log_an_exception(
        stack: Stack, priced: Settings, caller: Caller) -> None:
    # Given a funded account, one of its tickets, and an account of its own for refund requests (they hold money)
    ticket = caller.http.post(f"{stack.app_url}/v1/support/tickets", json={"subject": "s", "message": "m"},
                              headers=caller.auth("key"), timeout=30).json()["ticket_id"]
    refunder = new_caller(priced, 0, "127.0.0.72")
    email = f"{new_id('fuzz')}@example.com"
    routes: list[tuple[str, str, dict[str, Any], list[str], str | None, Caller]] = [
        ("POST", "/v1/auth/register", {"email": email, "password": PASSWORD, "agreement_version": "1"},
         ["email", "password", "agreement_version"], None, _anonymous("127.0.0.73")),
        ("POST", "/v1/auth/login", {"email": email, "password": PASSWORD}, ["email", "password"], None,
         _anonymous("127.0.0.74")),
        ("POST", "/v1/auth/verify", {"token": "x"}, ["token"], None, _anonymous("127.0.0.75")),
        ("POST", "/v1/auth/resend-verification", {"email": email}, ["email"], None, _anonymous("127.0.0.76")),
        ("POST", "/v1/auth/forgot-password", {"email": email}, ["email"], None, _anonymous("127.0.0.77")),
        ("POST", "/v1/auth/reset-password", {"token": "x", "password": PASSWORD}, ["token", "password"], None,
         _anonymous("127.0.0.78")),
        ("POST", "/v1/api-keys", {"label": "x"}, ["label"], "session", caller),
        ("PUT", "/v1/webhook", {"url": "https://example.invalid/hook"}, ["url", "rotate_secret"], "key", caller),
        ("POST", "/v1/support/tickets", {"subject": "s", "message": "m"}, ["subject", "message"], "key", caller),
        ("POST", f"/v1/support/tickets/{ticket}/messages", {"message": "m"}, ["message"], "key", caller),
        ("POST", "/v1/activations", {"service": "zz", "country": 0},
         ["service", "country", "operator", "max_price_cents"], "key", caller),
        ("POST", "/v1/topups", {"amount_cents": 0, "payment_method_id": "pm_x"}, ["amount_cents"], "key", caller),
        ("POST", "/v1/account/accept-agreement", {"agreement_version": "1"}, ["agreement_version"], "key", caller),
        ("POST", "/v1/refund-requests", {"reason": "x"}, ["reason"], "key", refunder),
        ("POST", "/v1/support/contact", {"email": email, "subject": "s", "message": "m"},
         ["email", "subject", "message"], None, _anonymous("127.0.0.83")),
        ("POST", "/v1/support/contact/confirm", {"token": "x"}, ["token"], None, _anonymous("127.0.0.84")),
    ]
    log, findings = h.AppLog.start(stack.data_dir), h.Findings()
    started = time.monotonic()
    # When every field of every body route meets the corpus, and every route meets hostile bodies
    turn = itertools.count()
    for *route, who in routes:
        fuzz_body(stack.app_url, who, (route[0], route[1], route[2], route[3], route[4]), turn, findings)
    # Then nothing answered 5xx and nothing was logged as an exception
    print(f"\nREST bodies: {findings.sent} requests in {time.monotonic() - started:.1f} s")
    findings.assert_clean(log)


def _anonymous(ip: str) -> Caller:
    return Caller("", itertools.cycle([""]), client_at(ip))


def test_fuzz_rest_urls__hostile_query_and_path_values_never_answer_5xx_or_log_an_exception(
        stack: Stack, caller: Caller) -> None:
    queries = [("/v1/catalog", "country", None), ("/v1/catalog", "service", None), ("/v1/activations", "limit", "key"),
               ("/v1/ledger", "limit", "key"), ("/v1/ledger", "before_seq", "key"), ("/v1/activity", "limit", "key"),
               ("/v1/activity", "before", "key")]
    paths = [("GET", "/v1/activations/{}", "key"), ("POST", "/v1/activations/{}/cancel", "key"),
             ("GET", "/v1/support/tickets/{}", "key"), ("POST", "/v1/support/tickets/{}/messages", "key"),
             ("GET", "/v1/agreement/{}", None), ("DELETE", "/v1/api-keys/{}", "session"),
             ("POST", "/v1/partners/{}/push", None)]
    values = h.url_values(h.SAMPLE + h.OTHER_DIGITS)
    log, findings = h.AppLog.start(stack.data_dir), h.Findings()
    started = time.monotonic()
    # When each query parameter and each path parameter is each hostile value
    for index, (path, name, kind) in enumerate(queries):
        for value in h.share(values, h.ALWAYS_IN_URL, index):
            reply = caller.http.get(f"{stack.app_url}{path}?{name}={value}", headers=caller.auth(kind), timeout=30)
            findings.check(f"GET {path}?{name}={value[:60]}", reply.status_code, reply.text)
    for (method, path, kind), value in _shared(paths, values, len(queries)):
        url = stack.app_url + path.format(value or "%20")
        reply = caller.http.request(method, url, headers={"Content-Type": "application/json", **caller.auth(kind)},
                                    data=b"{}", timeout=30)
        findings.check(f"{method} {path.format(value[:60])}", reply.status_code, reply.text)
    # Then nothing answered 5xx and nothing was logged as an exception
    print(f"\nREST URLs: {findings.sent} requests in {time.monotonic() - started:.1f} s")
    findings.assert_clean(log)


HANDLER_CASES = [("getStatus", ["id"]), ("setStatus", ["id", "status"]), ("getFullSms", ["id"]),
                 ("getNumber", ["service", "country", "operator", "maxPrice", "phoneException", "forward"]),
                 ("getPrices", ["service", "country"]), ("getTopCountriesByService", ["service", "freePrice"]),
                 ("getNumbersStatus", ["country", "operator"]), ("getBalance", ["action", "api_key"])]
HANDLER_BASE = {"id": "1", "status": "8", "service": "zz", "country": "0"}


def test_fuzz_handler_api__hostile_parameters_get_protocol_strings_never_error_sql_or_5xx(
        stack: Stack, caller: Caller) -> None:
    url = f"{stack.app_url}/stubs/handler_api.php"
    values = h.url_values(h.SAMPLE + h.OTHER_DIGITS)
    log, findings = h.AppLog.start(stack.data_dir), h.Findings()
    error_sql: list[str] = []
    started = time.monotonic()
    # When each parameter of each action meets its share of the corpus, in the query string or a form body
    slots = [(action, name) for action, names in HANDLER_CASES for name in names]
    for index, ((action, name), value) in enumerate(_shared(slots, values, 0)):
        as_form = index % 2 == 1
        params = {**HANDLER_BASE, "action": action, "api_key": next(caller.keys)}
        query = "&".join(f"{k}={v}" for k, v in params.items() if k != name) + f"&{name}={value}"
        if as_form:
            reply = caller.http.post(url, data=query, timeout=30,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            reply = caller.http.get(f"{url}?{query}", timeout=30)
        findings.check(f"{action} {name}={value[:60]} form={as_form}", reply.status_code, reply.text)
        if reply.text == "ERROR_SQL" and name != "maxPrice":
            error_sql.append(f"{action} {name}={value[:60]} form={as_form}")
    # Then every answer is the protocol's own refusal: no 5xx, no exception, no ERROR_SQL but for a bad maxPrice
    print(f"\nhandler API: {findings.sent} requests in {time.monotonic() - started:.1f} s")
    findings.assert_clean(log)
    assert not error_sql, f"{len(error_sql)} answered ERROR_SQL: {error_sql[:10]}"


def test_fuzz_fivesim__hostile_path_and_query_values_never_answer_5xx_or_log_an_exception(
        stack: Stack, caller: Caller) -> None:
    base = f"{stack.app_url}/5sim/v1"
    templates = ["/guest/products/{}/any", "/guest/products/russia/{}", "/guest/prices?country={}",
                 "/guest/prices?product={}", "/user/orders?limit={}", "/user/orders?offset={}",
                 "/user/payments?limit={}", "/user/payments?offset={}", "/user/check/{}", "/user/finish/{}",
                 "/user/cancel/{}", "/user/ban/{}", "/user/sms/inbox/{}", "/user/buy/activation/{}/any/telegram",
                 "/user/buy/activation/russia/{}/telegram", "/user/buy/activation/russia/any/{}",
                 "/user/buy/activation/russia/any/zz?maxPrice={}"]
    values = h.url_values(h.SAMPLE + h.OTHER_DIGITS)
    log, findings = h.AppLog.start(stack.data_dir), h.Findings()
    started = time.monotonic()
    # When each path segment and query value is each hostile value
    for template, value in _shared(templates, values, 0):
        reply = caller.http.get(base + template.format(value or "%20"), headers=caller.auth("key"), timeout=30)
        findings.check(template.format(value[:60]), reply.status_code, reply.text)
    # Then nothing answered 5xx and nothing was logged as an exception
    print(f"\n5sim: {findings.sent} requests in {time.monotonic() - started:.1f} s")
    findings.assert_clean(log)


STRIPE_EVENT = {"id": "evt_fuzz", "object": "event", "type": "payment_intent.succeeded", "created": 0,
                "data": {"object": {"id": "pi_fuzz", "object": "payment_intent", "amount": 500, "currency": "eur",
                                    "status": "succeeded", "metadata": {"topup_id": "top_fuzz"}}}}


def _nested(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def test_fuzz_webhooks__validly_signed_hostile_events_and_pushes_never_answer_5xx_or_log_an_exception(
        stack: Stack, priced: Settings) -> None:
    http = client_at("127.0.0.79")
    stripe_url, push_url = f"{stack.app_url}/v1/webhooks/stripe", f"{stack.app_url}/v1/partners/sim/push"
    stripe_bodies = [_nested(50_000), _nested(200_000), b"[" * 100_000 + b"]" * 100_000, *h.BODIES]
    event_paths = [("id",), ("type",), ("created",), ("data", "object", "id"), ("data", "object", "amount"),
                   ("data", "object", "metadata", "topup_id"), ("data", "object", "metadata"),
                   ("data", "object", "currency")]
    values: list[object] = [*h.SAMPLE, *h.NON_TEXT]
    stripe_bodies += [h.json_bytes(_with(STRIPE_EVENT, path, value)) for path, value in _shared(event_paths, values, 0)]
    push = {"activationId": "1", "text": "Your code 12345", "code": "12345"}
    push_bodies = list(h.BODIES) + [h.json_bytes(push | {name: value})
                                    for name, value in _shared(list(push), values, len(event_paths))]
    log, findings = h.AppLog.start(stack.data_dir), h.Findings()
    started = time.monotonic()
    # When Stripe (or whoever holds its secret) sends hostile events signed with the real secret
    for body in stripe_bodies:
        signature = signature_header(body, priced.stripe_webhook_secret, int(time.time()))
        reply = http.post(stripe_url, data=body, timeout=60,
                          headers={"Content-Type": "application/json", "Stripe-Signature": signature})
        findings.check(f"stripe {body[:60]!r}", reply.status_code, reply.text)
    # And the partner pushes hostile bodies signed with its secret
    push_secret = next(p for p in priced.partners if p.name == "sim").push_secrets[0]
    for body in push_bodies:
        at = int(time.time())
        reply = http.post(push_url, data=body, timeout=30, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: str(at),
            SIGNATURE_HEADER: push_signature(push_secret, at, body)})
        findings.check(f"push {body[:60]!r}", reply.status_code, reply.text)
    # Then nothing answered 5xx and nothing was logged as an exception
    print(f"\nwebhooks: {findings.sent} requests in {time.monotonic() - started:.1f} s")
    findings.assert_clean(log)


def _shared(slots: list[T], values: list[Any], first_turn: int) -> list[tuple[T, Any]]:
    """Each slot with its share of the values (hostile.share), the slots taking turns from `first_turn`."""
    always = [v for v in values if v in h.ALWAYS or v in h.ALWAYS_IN_URL or v == 10**40]
    return [(slot, value) for index, slot in enumerate(slots, start=first_turn)
            for value in h.share(values, always, index)]


def _with(document: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    """A copy of `document` with the value at `path` replaced."""
    if len(path) == 1:
        return {**document, path[0]: value}
    return {**document, path[0]: _with(document[path[0]], path[1:], value)}
