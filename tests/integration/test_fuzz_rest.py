"""Fuzzing REST v1 from its OpenAPI document (schemathesis) and the handler API (hypothesis): never a 5xx, never
a reply outside the contract (REST: the documented shapes and the error envelope; handler API: protocol strings).

Both are bounded by time, not only by example counts, so the file stays within its budget on a loaded machine.
Operations that end a session or an account run with an account of their own, so the rest keep a working one.
Sign-in is not fuzzed: its per-IP throttle would lock every later test of the session out of signing in.
"""
from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from chalicelib.config import Settings
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.scopes import ALL_SCOPES, ROUTE_NEEDS, Need
from chalicelib.services.accounts.sessions import Credentials
from infra.local.stack import Stack
from tests.integration.helpers_security import bearer, error_envelope_problems
from tests.support import client_at, customer_with_key, refresh_prices

pytestmark = pytest.mark.integration

REST_BUDGET_SECONDS = 45
MIN_CALLS_PER_OPERATION = 3
HANDLER_BUDGET_SECONDS = 25
EXAMPLES_PER_OPERATION = 12
HANDLER_EXAMPLES = 300
KEYS_PER_CALLER = 4  # each key has its own rate budget: the fuzzer should meet bugs, not the rate limit

NOT_FUZZED = {("POST", "/v1/auth/login")}
# These end the caller's session or account, or hold its balance: each runs with a fresh account.
ISOLATED = {("POST", "/v1/auth/logout"), ("POST", "/v1/auth/logout-all"), ("POST", "/v1/account/withdraw-consent"),
            ("POST", "/v1/account/report-unauthorized"), ("POST", "/v1/refund-requests"), ("PUT", "/v1/webhook"),
            ("DELETE", "/v1/api-keys/{key_id}")}
# Keys cannot end a session; the rest comes from the one table of what needs a person (domain/scopes.py).
SESSION_ONLY = {("POST", "/v1/auth/logout"), *(route for route, need in ROUTE_NEEDS.items() if need is Need.SESSION)}
# The fuzzer's bad keys count against its own IP's failed-credential budget, not the rest of the suite's.
FUZZER = client_at("127.0.0.21")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@dataclass
class Caller:
    """An account's credentials: a session and several API keys, handed out in turn."""

    session: str
    keys: Iterator[str]

    def auth_for(self, method: str, path: str) -> dict[str, str]:
        return bearer(self.session if (method, path) in SESSION_ONLY else next(self.keys))


def new_caller(settings: Settings, balance_cents: int, key_count: int) -> Caller:
    customer = customer_with_key(settings, balance_cents)
    credentials = Credentials(SystemClock(), settings.session_ttl_seconds)
    keys = [customer.api_key] + [credentials.create_api_key(customer.account_id, f"fuzz {n}", ALL_SCOPES).api_key
                                 for n in range(key_count - 1)]
    return Caller(session=credentials.issue_session(customer.account_id).token, keys=itertools.cycle(keys))


def fuzz(run: Callable[[Any], None], strategy: st.SearchStrategy[Any], examples: int) -> None:
    """Run `run` on up to `examples` draws; an operation with nothing to break yields no negative draw at all."""
    try:
        settings(max_examples=examples, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                 suppress_health_check=list(HealthCheck))(given(strategy)(run))()
    except Unsatisfiable:
        return


def test_fuzz_rest__no_operation_answers_5xx_or_off_contract(stack: Stack, stack_settings: Settings) -> None:
    # Given the served document, the partners' prices, an account with money, and a time share per operation
    document = requests.get(f"{stack.app_url}/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]  # the contract test checks all are
    operations = [op for op in operations if (op.method.upper(), op.path) not in NOT_FUZZED]
    refresh_prices(stack_settings)
    caller = new_caller(stack_settings, 100_000, KEYS_PER_CALLER)
    runs = list(itertools.product(operations, (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))
    started = time.monotonic()
    failures: list[str] = []
    for done, (operation, mode) in enumerate(runs, start=1):
        isolated = (operation.method.upper(), operation.path) in ISOLATED
        owner = new_caller(stack_settings, 0, 1) if isolated else caller
        budget = Budget(stop_at=started + REST_BUDGET_SECONDS * done / len(runs))
        # When each operation is called with its documented examples, generated input and schema-breaking input
        check = case_checker(stack.app_url, owner, mode, budget, failures)
        example = body_example(document, operation.method, operation.path)
        if mode is GenerationMode.POSITIVE and example is not None:
            placeholders = {name: "1" for name in re.findall(r"{(\w+)}", operation.path)}
            check(operation.Case(body=example, media_type="application/json", path_parameters=placeholders))
        fuzz(check, operation.as_strategy(generation_mode=mode), EXAMPLES_PER_OPERATION)
    # Then nothing answered 5xx, every 4xx was the error envelope, and positive cases answered as documented
    assert not failures, f"{len(failures)} replies broke the contract:\n" + "\n".join(failures[:15])


def body_example(document: dict[str, Any], method: str, path: str) -> Any:
    """The request body example the document gives for an operation, if any."""
    body = document["paths"][path][method.lower()].get("requestBody", {})
    return body.get("content", {}).get("application/json", {}).get("example")


@dataclass
class Budget:
    """A few calls always happen; more while the clock allows."""

    stop_at: float
    minimum: int = MIN_CALLS_PER_OPERATION
    calls: int = 0

    def allows_another(self) -> bool:
        self.calls += 1
        return self.calls <= self.minimum or time.monotonic() < self.stop_at


def case_checker(base_url: str, owner: Caller, mode: GenerationMode, budget: Budget,
                 failures: list[str]) -> Callable[[Any], None]:
    checks = CHECKS if mode is GenerationMode.POSITIVE else CHECKS[:1]

    def check(case: Any) -> None:
        if not budget.allows_another():
            return
        reply = case.call(base_url=base_url, session=FUZZER, headers=owner.auth_for(case.method.upper(), case.path),
                          timeout=30)
        problems = error_envelope_problems(reply) if reply.status_code >= 400 else []
        try:
            case.validate_response(reply, checks=checks)
        except FailureGroup as group:
            problems += [failure.title for failure in group.exceptions]
        if problems:
            failures.append(f"{case.method} {case.formatted_path} → {reply.status_code} {reply.text[:200]!r}: "
                            f"{problems}\n   reproduce: {case.as_curl_command()}")

    return check


# ---- the SMS-Activate handler API ---------------------------------------------------------------------------

ACTIONS = ["getBalance", "getBalanceAndCashBack", "getNumbersStatus", "getCountries", "getPrices",
           "getTopCountriesByService", "getNumber", "getNumberV2", "setStatus", "getStatus", "getStatusV2",
           "getFullSms", "getActiveActivations", "getOperators", "getServicesList"]
PARAMETERS = ["service", "country", "operator", "maxPrice", "id", "status", "phoneException", "forward",
              "freePrice", "ref", "lang"]
_TEXT_REPLY = re.compile(
    r"(BAD_KEY|BAD_ACTION|BAD_SERVICE|BAD_STATUS|WRONG_COUNTRY_ID|BAD_COUNTRY|WRONG_OPERATOR|NO_NUMBERS|NO_BALANCE"
    r"|NO_ACTIVATION|NO_ACTIVATIONS|WRONG_ACTIVATION_ID|EARLY_CANCEL_DENIED|ACCOUNT_INACTIVE|ERROR_SQL"
    r"|ACCESS_READY|ACCESS_RETRY_GET|ACCESS_ACTIVATION|ACCESS_CANCEL|STATUS_WAIT_CODE|STATUS_WAIT_RESEND"
    r"|STATUS_CANCEL|ACCESS_BALANCE:\d+\.\d{2}|ACCESS_NUMBER:[1-9]\d*:\d+|WRONG_MAX_PRICE(:\d+\.\d{2})?"
    r"|BANNED:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|STATUS_WAIT_RETRY:[^\r\n]+|STATUS_OK:[^\r\n]+|FULL_SMS:.+)",
    re.DOTALL)


def handler_problems(reply: requests.Response) -> list[str]:
    """What makes a handler API reply something an SMS-Activate client cannot parse."""
    if reply.status_code not in (200, 429):
        return [f"HTTP {reply.status_code}"]
    if "json" in reply.headers.get("Content-Type", ""):
        try:
            json.loads(reply.text)
        except ValueError:
            return ["JSON content type, body not JSON"]
        return []
    if not _TEXT_REPLY.fullmatch(reply.text):
        return ["not a protocol string"]
    return []


words = st.sampled_from(["tg", "wa", "go", "any", "mts", "0", "1", "2", "187", "3", "6", "8", "-1", "1.5", "0.01",
                         "true", "false", "7999", "", " ", "%00", "\u0000", "😀", "1e9", "NaN"])
values = st.one_of(words, words, st.integers(-5, 40).map(str), st.integers(-(10**20), 10**20).map(str),
                   st.text(max_size=40))
handler_requests = st.fixed_dictionaries({
    "method": st.sampled_from(["GET", "POST-query", "POST-form"]),
    "action": st.one_of(st.sampled_from(ACTIONS), st.sampled_from(ACTIONS), st.sampled_from(ACTIONS),
                        st.text(max_size=20)),
    "params": st.one_of(
        st.dictionaries(st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=10)), values, max_size=6),
        # Mostly well-formed, so orders succeed and setStatus/getStatus reach real activations
        st.fixed_dictionaries({"service": st.sampled_from(["tg", "wa", "go"]), "country": st.sampled_from(["0", "187"]),
                               "id": st.integers(1, 30).map(str)},
                              optional={"status": st.sampled_from(["1", "3", "6", "8", "-1", "2"]),
                                        "operator": values, "maxPrice": values, "phoneException": values,
                                        "forward": values, "freePrice": values})),
    "key": st.sampled_from(["valid", "valid", "valid", "valid", "valid", "bad", "none"]),
})


def test_fuzz_handler_api__every_reply_is_a_protocol_reply(stack: Stack, stack_settings: Settings) -> None:
    # Given the partners' prices, a funded account's keys (each with its own rate budget) and a time budget
    refresh_prices(stack_settings)
    caller = new_caller(stack_settings, 100_000, KEYS_PER_CALLER)
    url = f"{stack.app_url}/stubs/handler_api.php"
    stop_at = time.monotonic() + HANDLER_BUDGET_SECONDS
    failures: list[str] = []

    def call(request: dict[str, Any]) -> None:
        if time.monotonic() > stop_at:
            return
        keys = {"valid": {"api_key": next(caller.keys)}, "bad": {"api_key": "not-a-key"}, "none": {}}
        params = {**request["params"], "action": request["action"], **keys[request["key"]]}
        # When a client sends any action with any parameters, by GET, POST query or POST form
        if request["method"] == "GET":
            reply = FUZZER.get(url, params=params, timeout=30)
        elif request["method"] == "POST-query":
            reply = FUZZER.post(url, params=params, timeout=30)
        else:
            reply = FUZZER.post(url, data=params, timeout=30)
        # Then the reply is HTTP 200 (or 429) with a protocol string or JSON, never a 5xx or a page
        problems = handler_problems(reply)
        if problems:
            failures.append(f"{request['method']} {params} → {reply.status_code} {reply.text[:200]!r}: {problems}")

    fuzz(call, handler_requests, HANDLER_EXAMPLES)
    assert not failures, f"{len(failures)} replies broke the protocol:\n" + "\n".join(failures[:15])
