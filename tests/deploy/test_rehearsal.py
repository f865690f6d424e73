"""Deploy rehearsal: the zip `make deploy` ships, run in Lambda's Python 3.11 runtime against the template's tables.

Proves a deploy works without an AWS account (rehearsal.py says how each part stands in for AWS): every function of
the packaged template is invoked with the events Lambda would give it, and the answers are a user's and an
operator's. The stage is `dev`, with every secret in SSM as an operator puts it, and the partner is the partner
simulator on a free port. The first run pip-installs the runtime's SDK into .local/rehearsal/ (cached).
"""
from __future__ import annotations

import json
import re
import secrets
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from chalicelib.domain.push_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, push_signature
from infra.local.localstripe_setup import signature_header
from infra.local.simulator.server import SimulatorHandle, start_simulator
from infra.local.simulator.smshub_agent import AgentHandle, start_smshub_agent
from infra.package import MAX_ZIPPED_BYTES, NOT_COMPILED, Package, build
from tests.deploy.rehearsal import (
    API_HOST,
    REGION,
    ApiGateway,
    EgressGuard,
    HttpResponse,
    Rehearsal,
    RehearsalError,
    Template,
    create_tables,
    iter_asset_urls,
    lambda_environment,
    lambda_runtime,
    start_dynamodb,
    start_moto,
    unzip,
)

STAGE = "dev"
STACK = f"sms-rooms-{STAGE}"
# Values published in this repository: a deployed stage must refuse anything signed with one of them.
REPO_SECRETS = ("whsec_local", "sim-push-secret", "sk_test_local", "pk_test_local", "sim-key")
SERVICE, COUNTRY = "tg", 187


def _token(prefix: str, length: int = 32) -> str:
    return prefix + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This run's build, task folder, logs and data (the clean runtime is cached in .local/rehearsal/)."""
    return tmp_path_factory.mktemp("rehearsal")


@pytest.fixture(scope="module")
def package(pytestconfig: pytest.Config, work: Path) -> Package:
    built = build(STAGE, work / "build")
    _report(pytestconfig, built.size_line())
    return built


def _report(pytestconfig: pytest.Config, line: str) -> None:
    """A figure on the terminal even when output is captured (the package's size, cold starts)."""
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\nrehearsal: {line}")


@pytest.fixture(scope="module")
def stage_secrets() -> dict[str, str]:
    return {"STRIPE_SECRET_KEY": _token("sk_test_"), "STRIPE_WEBHOOK_SECRET": _token("whsec_"),
            "SIM_PUSH_SECRET": _token("push-"), "SIM_API_KEY": _token("partner-key-"),
            "SIM_AGENT_KEY": _token("agent-key-")}


@pytest.fixture(scope="module")
def simulator(stage_secrets: dict[str, str]) -> Iterator[SimulatorHandle]:
    # No SMS of its own for an hour: the rehearsal pushes codes itself, so no job sweeps a waiting number for 40 s.
    handle = start_simulator(api_key=stage_secrets["SIM_API_KEY"], sms_delay_seconds=3600)
    with handle:
        yield handle


@pytest.fixture(scope="module")
def agent(stage_secrets: dict[str, str]) -> Iterator[AgentHandle]:
    """A SIM-bank owner's SMSHub agent, a second partner (dearer, so orders go to the simulator)."""
    with start_smshub_agent(key=stage_secrets["SIM_AGENT_KEY"]) as handle:
        yield handle


@pytest.fixture(scope="module")
def aws(work: Path) -> Iterator[dict[str, Any]]:
    """DynamoDB Local and moto's server (SSM, SES), and clients of them for arranging and checking."""
    logs = work / "logs"
    logs.mkdir(parents=True)
    dynamodb, dynamodb_url = start_dynamodb(logs, work / "dynamodb")
    try:
        moto, moto_url = start_moto(logs, work)
    except BaseException:
        dynamodb.stop()
        raise
    fake = {"region_name": REGION, "aws_access_key_id": "rehearsal", "aws_secret_access_key": "rehearsal"}
    try:
        yield {"logs": logs, "dynamodb_url": dynamodb_url, "moto_url": moto_url,
               "dynamodb": boto3.client("dynamodb", endpoint_url=dynamodb_url, **fake),
               "ssm": boto3.client("ssm", endpoint_url=moto_url, **fake),
               "sesv2": boto3.client("sesv2", endpoint_url=moto_url, **fake),
               "ses": boto3.client("ses", endpoint_url=moto_url, **fake)}
    finally:
        moto.stop()
        dynamodb.stop()


@pytest.fixture(scope="module")
def stage(package: Package, aws: dict[str, Any], simulator: SimulatorHandle, agent: AgentHandle,
          stage_secrets: dict[str, str], work: Path, pytestconfig: pytest.Config) -> Iterator[Rehearsal]:
    """The stage as a deploy leaves it: the template's tables, parameters and identity, the operator's secrets."""
    parameters = {"SenderDomain": "rehearsal.example.com", "PublicBaseUrl": f"https://{API_HOST}/{STAGE_PREFIX}",
                  "StripePublishableKey": _token("pk_test_", 24)}
    template = Template(json.loads(package.sam.read_text()), parameters, STACK)
    create_tables(template, aws["dynamodb"])
    for logical, resource in template.of_type("AWS::SSM::Parameter").items():
        props = template.resolve(resource["Properties"], logical)
        aws["ssm"].put_parameter(Name=props["Name"], Value=props["Value"], Type=props["Type"], Overwrite=True)
    for logical, resource in template.of_type("AWS::SES::EmailIdentity").items():
        identity = template.resolve(resource["Properties"]["EmailIdentity"], logical)
        aws["sesv2"].create_email_identity(EmailIdentity=identity)
        aws["ses"].verify_domain_identity(Domain=identity)
    functions = template.functions()
    prefix = {f.environment.get("SECRETS_PARAMETER_PREFIX") for f in functions.values()}
    assert len(prefix) == 1 and prefix != {None}, f"functions disagree on SECRETS_PARAMETER_PREFIX: {prefix}"
    partners = [{"name": "sim", "protocol": "sms-activate", "base_url": f"{simulator.url}/stubs/handler_api.php",
                 "api_key": stage_secrets["SIM_API_KEY"], "push_secret": stage_secrets["SIM_PUSH_SECRET"]},
                {"name": "agent", "protocol": "smshub_agent", "base_url": agent.url,
                 "api_key": stage_secrets["SIM_AGENT_KEY"], "currency": "USD", "prices": {"*": 9000}}]
    # The partner's key and push secret live inside PARTNERS_JSON, not in parameters of their own.
    operator_puts = {**{k: v for k, v in stage_secrets.items() if not k.startswith("SIM_")},
                     "PARTNERS_JSON": json.dumps(partners)}
    secrets_prefix = next(iter(prefix))
    for name, value in operator_puts.items():
        aws["ssm"].put_parameter(Name=f"{secrets_prefix}{name}", Value=value, Type="SecureString", Overwrite=True)
    egress = EgressGuard()
    home = work / "home"
    home.mkdir()
    stage_name, paths = template.rest_api()
    rehearsal = Rehearsal(template=template, functions=functions, gateway=ApiGateway(stage_name, paths),
                          python=lambda_runtime(), task=unzip(package, work / "task"),
                          base_env=lambda_environment(aws["dynamodb_url"], aws["moto_url"], egress.url, home),
                          logs=aws["logs"], egress=egress)
    try:
        yield rehearsal
    finally:
        rehearsal.stop()
        egress.stop()
        _report(pytestconfig, "cold start (handler import, ms): " + ", ".join(
            f"{c.function.logical_id} {c.init_ms}" for c in rehearsal.containers.values()))


STAGE_PREFIX = "api"  # .chalice/config.json's api_gateway_stage for dev (checked below against the template)


def _ok(response: HttpResponse, status: int = 200) -> Any:
    if response.status != status:
        raise RehearsalError(f"expected {status}; {response.explain()}")
    return response.json() if "json" in response.headers.get("content-type", "") else response.body


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def priced(stage: Rehearsal) -> None:
    """The RefreshPrices schedule ran once: the catalog holds the partner's prices."""
    stage.schedule(_scheduled(stage, "refresh_prices"))


def _scheduled(stage: Rehearsal, handler_suffix: str) -> str:
    return next(logical for logical, f in stage.functions.items() if f.handler == f"app.{handler_suffix}")


@pytest.fixture(scope="module")
def customer(stage: Rehearsal) -> dict[str, Any]:
    """A verified account the admin function made, signed in through REST v1, with an API key."""
    email, password = f"rehearsal-{secrets.token_hex(4)}@example.com", _token("pw-", 20)
    created = stage.admin("create-account", email=email, verified=True, password=password)
    assert "error" not in created, created
    token = _ok(stage.http("POST", "/v1/auth/login", json_body={"email": email, "password": password}))["token"]
    key = _ok(stage.http("POST", "/v1/api-keys", headers=_bearer(token)), 201)["api_key"]
    me = _ok(stage.http("GET", "/v1/me", headers=_bearer(token)))
    return {"email": email, "token": token, "api_key": key, "account_id": me["account_id"]}


def _balance(stage: Rehearsal, customer: dict[str, Any]) -> int:
    return int(_ok(stage.http("GET", "/v1/me", headers=_bearer(customer["token"])))["balance_cents"])


def _stripe_event(topup_id: str, account_id: str, intent_id: str, amount: int) -> bytes:
    intent = {"id": intent_id, "object": "payment_intent", "amount": amount, "amount_received": amount,
              "currency": "usd", "status": "succeeded", "metadata": {"topup_id": topup_id, "account_id": account_id}}
    return json.dumps({"id": "evt_" + secrets.token_hex(8), "object": "event", "type": "payment_intent.succeeded",
                       "created": int(time.time()), "data": {"object": intent}}).encode()


def _pending_topup(stage: Rehearsal, aws: dict[str, Any], account_id: str, amount: int) -> tuple[str, str]:
    """A card top-up left waiting on 3-D Secure, as POST /v1/topups writes it (its Stripe call is not rehearsed)."""
    table = stage.template.resolve(stage.template.resources["TopUpTable"]["Properties"]["TableName"], "TopUpTable")
    topup_id, intent_id = "tu_" + secrets.token_hex(8), "pi_" + secrets.token_hex(12)
    aws["dynamodb"].put_item(TableName=table, Item={
        "topup_id": {"S": topup_id}, "account_id": {"S": account_id}, "amount_cents": {"N": str(amount)},
        "currency": {"S": "USD"}, "status": {"S": "requires_action"}, "payment_intent_id": {"S": intent_id},
        "refunded_cents": {"N": "0"}, "disputed_cents": {"N": "0"}, "created_at": {"N": str(int(time.time()))}})
    return topup_id, intent_id


def _stripe_post(stage: Rehearsal, payload: bytes, secret: str) -> HttpResponse:
    header = signature_header(payload, secret, int(time.time()))
    return stage.http("POST", "/v1/webhooks/stripe", body=payload.decode(),
                      headers={"Content-Type": "application/json", "Stripe-Signature": header})


@pytest.fixture(scope="module")
def funded(stage: Rehearsal, aws: dict[str, Any], customer: dict[str, Any],
           stage_secrets: dict[str, str]) -> dict[str, Any]:
    """The customer topped up 50.00 by card: Stripe's signed payment_intent.succeeded credited it."""
    topup_id, intent_id = _pending_topup(stage, aws, customer["account_id"], 5000)
    payload = _stripe_event(topup_id, customer["account_id"], intent_id, 5000)
    reply = _ok(_stripe_post(stage, payload, stage_secrets["STRIPE_WEBHOOK_SECRET"]))
    assert reply["outcome"] == "applied", reply
    return customer


def _push_sms(stage: Rehearsal, activation_id: str, code: str, secret: str) -> HttpResponse:
    body = json.dumps({"activationId": activation_id, "phone": "12015550123", "text": f"Your code: {code}",
                       "code": code, "receivedAt": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())})
    now = int(time.time())
    return stage.http("POST", "/v1/partners/sim/push", body=body,
                      headers={"Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
                               SIGNATURE_HEADER: push_signature(secret, now, body.encode())})


def _sms_arrives(stage: Rehearsal, simulator: SimulatorHandle, number: str, code: str, secret: str) -> None:
    """The partner receives an SMS for the number it sold and pushes it to the stage, signed with `secret`."""
    digits = number.lstrip("+")
    with simulator.state.lock:
        phones = [a.phone for a in simulator.state.activations.values() if a.phone.lstrip("+") == digits]
    assert phones, f"the partner simulator sold no number {number}"
    activation = simulator.state.deliver_now(phones[-1], f"Your code: {code}", code)
    assert activation is not None, f"the partner simulator could not deliver an SMS to {number}"
    _ok(_push_sms(stage, str(activation.id), code, secret))


# ------------------------------------------------------------------------------------------------ the package


def test_package__fits_the_size_goal_and_holds_only_runtime_code(package: Package) -> None:
    # Given the package make deploy uploads
    with __import__("zipfile").ZipFile(package.zip) as archive:
        names = archive.namelist()
    tops = {name.split("/", 1)[0] for name in names}
    # Then it is at most 10 MiB zipped, carries the app and Chalice's runtime module, and nothing of the tooling
    assert package.zipped_bytes <= MAX_ZIPPED_BYTES, package.size_line()
    assert {"app.py", "chalicelib", "chalice"} <= tops
    assert {n for n in names if n.startswith("chalice/")} == {
        "chalice/__init__.py", "chalice/app.py", f"chalice/__pycache__/__init__.{CACHE_TAG}.pyc",
        f"chalice/__pycache__/app.{CACHE_TAG}.pyc"}
    assert not tops & {"boto3", "botocore", "s3transfer", "pip", "setuptools", "click", "infra", "tests", "moto",
                       "localstripe", "pytest", "yaml", "inquirer"}
    assert not [n for n in names if "simulator" in n or "localstripe" in n]
    # And every module it ships but Stripe's carries its Python 3.11 bytecode (Lambda's /var/task is read-only: a
    # module without it is compiled again by every cold container), and no bytecode is left without its source
    sources = {n for n in names if n.endswith(".py") and n != "app.py" and not n.startswith(f"{NOT_COMPILED}/")}
    caches = {n for n in names if n.endswith(".pyc")}
    assert {_cache_of(n) for n in sources} == caches


CACHE_TAG = "cpython-311"


def _cache_of(source: str) -> str:
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name[:-3]}.{CACHE_TAG}.pyc".lstrip("/")


def test_template__the_api_stage_is_the_prefix_the_rehearsal_uses(stage: Rehearsal) -> None:
    assert stage.gateway.stage == STAGE_PREFIX


# ------------------------------------------------------------------------------------------------ API Gateway


def test_health__answers_ok_through_api_gateway(stage: Rehearsal) -> None:
    body = _ok(stage.http("GET", "/health"))
    assert body["status"] == "ok", body


def test_dashboard__page_and_every_file_it_loads_answer_under_the_stage_prefix(stage: Rehearsal) -> None:
    # Given the only URL a deploy gives: https://<api>.execute-api.<region>.amazonaws.com/api/
    page_url = stage.gateway.url("/")
    page = stage.http("GET", page_url)
    assert page.status == 200 and page.headers["content-type"].startswith("text/html"), page.explain()
    # When the browser loads what the page asks for, resolved against that URL
    assets = list(iter_asset_urls(page.body, page_url))
    assert assets, "the page loads no script or style of its own"
    for url in assets:
        # Then every file is there (API Gateway answers 403 for a path outside the stage or its routes)
        answer = stage.http("GET", url)
        assert answer.status == 200, f"the dashboard at {page_url} loads {url}: {answer.explain()}"


def test_dashboard__a_file_outside_the_stage_prefix_is_what_api_gateway_refuses(stage: Rehearsal) -> None:
    # The rehearsal's API Gateway is strict the way the real one is (so the test above can fail)
    answer = stage.http("GET", f"https://{API_HOST}/static/app.js")
    assert answer.status == 403 and answer.function == "API Gateway"


def test_rest_v1__register_sends_the_verification_email_through_ses(stage: Rehearsal, aws: dict[str, Any]) -> None:
    # Given SES with the stack's sending identity
    sent_before = aws["ses"].get_send_quota()["SentLast24Hours"]
    # When a person registers
    reply = stage.http("POST", "/v1/auth/register", json_body={
        "email": f"new-{secrets.token_hex(4)}@example.com", "password": _token("pw-", 20), "agreement_version": "1"})
    # Then the account is made and the email went out through SES, not only a log line
    _ok(reply, 201)
    assert aws["ses"].get_send_quota()["SentLast24Hours"] > sent_before, reply.explain()


def test_rest_v1__catalog_lists_the_partners_prices_after_the_refresh_schedule(stage: Rehearsal, priced: None) -> None:
    body = _ok(stage.http("GET", f"/v1/catalog?service={SERVICE}&country={COUNTRY}"))
    items = body["items"]
    assert items and all(item["price_cents"] > 0 for item in items), body
    assert any(item["available"] > 0 for item in items), body


def test_stripe_webhook__a_correctly_signed_payment_credits_once(stage: Rehearsal, aws: dict[str, Any],
                                                                  customer: dict[str, Any],
                                                                  stage_secrets: dict[str, str]) -> None:
    # Given a top-up waiting on 3-D Secure
    before = _balance(stage, customer)
    topup_id, intent_id = _pending_topup(stage, aws, customer["account_id"], 1500)
    payload = _stripe_event(topup_id, customer["account_id"], intent_id, 1500)
    # When Stripe signs its success with the stage's signing secret, twice (a redelivery)
    first = _ok(_stripe_post(stage, payload, stage_secrets["STRIPE_WEBHOOK_SECRET"]))
    again = _ok(_stripe_post(stage, payload, stage_secrets["STRIPE_WEBHOOK_SECRET"]))
    # Then the balance grows by the top-up once
    assert (first["outcome"], again["outcome"]) == ("applied", "duplicate")
    assert _balance(stage, customer) == before + 1500


@pytest.mark.parametrize("repo_value", REPO_SECRETS)
def test_stripe_webhook__an_event_signed_with_a_repo_value_is_refused(stage: Rehearsal, aws: dict[str, Any],
                                                                       customer: dict[str, Any],
                                                                       repo_value: str) -> None:
    # Given a top-up waiting on 3-D Secure (the attack of issue 13)
    before = _balance(stage, customer)
    topup_id, intent_id = _pending_topup(stage, aws, customer["account_id"], 50_000)
    # When a forged success signed with a value published in the repository arrives
    reply = _stripe_post(stage, _stripe_event(topup_id, customer["account_id"], intent_id, 50_000), repo_value)
    # Then it is refused and nothing is credited
    assert reply.status == 400 and reply.json()["error"]["code"] == "BAD_SIGNATURE", reply.explain()
    assert _balance(stage, customer) == before


def test_rest_v1__order_gets_the_pushed_code_and_finishes(stage: Rehearsal, priced: None, funded: dict[str, Any],
                                                          simulator: SimulatorHandle,
                                                          stage_secrets: dict[str, str]) -> None:
    auth = _bearer(funded["token"])
    # When the customer orders a number (the partner simulator sells it over HTTP)
    order = _ok(stage.http("POST", "/v1/activations", json_body={"service": SERVICE, "country": COUNTRY},
                           headers=auth), 201)
    # And the partner pushes its SMS, signed with the stage's push secret
    _sms_arrives(stage, simulator, order["phone"], "48213", stage_secrets["SIM_PUSH_SECRET"])
    # Then the code shows on the activation, and finishing it keeps the charge
    shown = _ok(stage.http("GET", f"/v1/activations/{order['id']}", headers=auth))
    assert "48213" in json.dumps(shown), shown
    finished = _ok(stage.http("POST", f"/v1/activations/{order['id']}/finish", headers=auth))
    assert finished["status"] in {"finished", "FINISHED"}, finished


def test_rest_v1__a_rented_number_gets_each_pushed_sms_and_the_handler_reads_them(
        stage: Rehearsal, aws: dict[str, Any], funded: dict[str, Any], stage_secrets: dict[str, str]) -> None:
    auth = _bearer(funded["token"])
    # When the customer rents a number for a day (the simulator rents it over HTTP)
    rental = _ok(stage.http("POST", "/v1/rentals", json_body={"service": SERVICE, "country": COUNTRY, "hours": 24},
                            headers=auth), 201)
    # And the partner pushes two SMS for it, signed with the stage's push secret (SMS-Activate's rent webhook body)
    for n, code in enumerate(("24680", "13579")):
        body = json.dumps({"rentId": _partner_rent_id(stage, aws, rental["id"]),
                           "sms": {"phoneFrom": "Telegram", "text": f"Your code: {code}", "date": f"2027-01-01 0{n}"}})
        now = int(time.time())
        _ok(stage.http("POST", "/v1/partners/sim/push", body=body, headers={
            "Content-Type": "application/json", TIMESTAMP_HEADER: str(now),
            SIGNATURE_HEADER: push_signature(stage_secrets["SIM_PUSH_SECRET"], now, body.encode())}))
    # Then both SMS are listed in order, and a bot reads them through the handler API's getRentStatus
    listed = _ok(stage.http("GET", f"/v1/rentals/{rental['id']}/sms", headers=auth))
    assert [m["code"] for m in listed["items"]] == ["24680", "13579"], listed
    query = f"api_key={funded['api_key']}&action=getRentStatus&id={rental['id']}"
    status = _ok(stage.http("GET", f"/stubs/handler_api.php?{query}"))
    assert status["quantity"] == "2", status
    assert _ok(stage.http("POST", f"/v1/rentals/{rental['id']}/finish", headers=auth))["status"] == "FINISHED"


def _partner_rent_id(stage: Rehearsal, aws: dict[str, Any], rental_id: int) -> str:
    """The partner's id of our rental (what its push names), read from the stage's rentals table."""
    table = stage.template.resolve(stage.template.resources["RentalTable"]["Properties"]["TableName"], "RentalTable")
    item = aws["dynamodb"].get_item(TableName=table, Key={"rental_id": {"N": str(rental_id)}},
                                    ConsistentRead=True)["Item"]
    return str(item["partner_rent_id"]["S"])


@pytest.mark.parametrize("repo_value", ["sim-push-secret", "whsec_local"])
def test_partner_push__signed_with_a_repo_value_is_refused(stage: Rehearsal, repo_value: str) -> None:
    reply = _push_sms(stage, "123456", "99999", repo_value)
    assert reply.status == 401 and reply.json()["error"]["code"] == "BAD_SIGNATURE", reply.explain()


def test_handler_api__balance_number_status_and_finish(stage: Rehearsal, priced: None, funded: dict[str, Any],
                                                        simulator: SimulatorHandle,
                                                        stage_secrets: dict[str, str]) -> None:
    def call(**params: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"api_key": funded["api_key"], **params}.items())
        return str(_ok(stage.http("GET", f"/stubs/handler_api.php?{query}")))

    assert call(action="getBalance").startswith("ACCESS_BALANCE:")
    answer = call(action="getNumber", service=SERVICE, country=COUNTRY)
    assert answer.startswith("ACCESS_NUMBER:"), answer
    _, activation_id, number = answer.split(":")
    assert call(action="getStatus", id=activation_id) == "STATUS_WAIT_CODE"
    _sms_arrives(stage, simulator, number, "55123", stage_secrets["SIM_PUSH_SECRET"])
    assert call(action="getStatus", id=activation_id) == "STATUS_OK:55123"
    assert call(action="setStatus", id=activation_id, status=6) == "ACCESS_ACTIVATION"


def test_fivesim__profile_buy_check_and_finish(stage: Rehearsal, priced: None, funded: dict[str, Any],
                                               simulator: SimulatorHandle, stage_secrets: dict[str, str]) -> None:
    auth = _bearer(funded["api_key"])
    assert _ok(stage.http("GET", "/5sim/v1/guest/countries"))
    profile = _ok(stage.http("GET", "/5sim/v1/user/profile", headers=auth))
    assert profile["balance"] > 0, profile
    order = _ok(stage.http("GET", "/5sim/v1/user/buy/activation/usa/any/telegram", headers=auth))
    _sms_arrives(stage, simulator, order["phone"], "77001", stage_secrets["SIM_PUSH_SECRET"])
    checked = _ok(stage.http("GET", f"/5sim/v1/user/check/{order['id']}", headers=auth))
    assert checked["status"] == "RECEIVED" and "77001" in json.dumps(checked["sms"]), checked
    assert _ok(stage.http("GET", f"/5sim/v1/user/finish/{order['id']}", headers=auth))["status"] == "FINISHED"


def test_smshub_push__the_agents_key_is_taken_and_any_other_refused(stage: Rehearsal,
                                                                     stage_secrets: dict[str, str]) -> None:
    def push(key: str) -> HttpResponse:
        return stage.http("POST", "/v1/partners/agent/smshub", json_body={
            "action": "PUSH_SMS", "key": key, "smsId": secrets.randbelow(10**9), "phone": 12015550999,
            "phoneFrom": "Telegram", "text": "Telegram code 31337"})

    # A number we never rented: the agent is told to try again (an SMS may beat our record of its number)
    taken = push(stage_secrets["SIM_AGENT_KEY"])
    assert (taken.status, taken.json()["status"]) == (200, "ERROR"), taken.explain()
    for wrong in ("agent-key", "sim-key", stage_secrets["SIM_API_KEY"]):
        refused = push(wrong)
        assert refused.status == 401 and refused.json()["status"] == "ERROR", refused.explain()


# ------------------------------------------------------------------------------------------------ schedules, admin


def test_schedules__every_scheduled_function_runs_on_its_eventbridge_event(stage: Rehearsal, priced: None) -> None:
    scheduled = [logical for logical, f in stage.functions.items() if f.schedules]
    assert len(scheduled) >= 5, scheduled
    failures = []
    for logical in scheduled:
        reached_before = len(stage.egress.seen)
        try:
            invocation = stage.schedule(logical)
        except RehearsalError as error:
            reached = stage.egress.seen[reached_before:]
            # Reconciling reads Stripe's payments; the rehearsal has no internet, so only that call may fail
            if reached and all(host.startswith("api.stripe.com") for host in reached):
                continue
            failures.append(str(error))
            continue
        errors = [line for line in invocation.log.splitlines() if '"level":"ERROR"' in line.replace(" ", "")]
        if errors:
            failures.append(f"function {logical} on its EventBridge event logged errors:\n" + "\n".join(errors))
    assert not failures, "\n\n".join(failures)


def test_admin__commands_answer_and_maintenance_reaches_the_api(stage: Rehearsal, customer: dict[str, Any]) -> None:
    shown = stage.admin("show", email=customer["email"])
    assert shown.get("email") == customer["email"] or customer["email"] in json.dumps(shown), shown
    for command, args in [("partners", {}), ("stats", {}), ("tickets", {}), ("refund-requests", {}),
                          ("audit", {"email": customer["email"]})]:
        reply = stage.admin(command, **args)
        assert "error" not in reply, f"admin {command}: {reply}"
    adjusted = stage.admin("adjust", email=customer["email"], amount_cents=100, reason="rehearsal credit")
    assert "error" not in adjusted, adjusted
    other = f"blocked-{secrets.token_hex(4)}@example.com"
    for command, args in [("create-account", {"email": other, "verified": True}),
                          ("block", {"email": other, "reason": "rehearsal"}), ("unblock", {"email": other}),
                          ("set-price", {"service": SERVICE, "country": COUNTRY, "price_cents": 999}),
                          ("clear-price", {"service": SERVICE, "country": COUNTRY}), ("refresh-prices", {})]:
        reply = stage.admin(command, **args)
        assert "error" not in reply, f"admin {command}: {reply}"
    assert stage.admin("nonsense")["error"]["code"] == "UNKNOWN_COMMAND"
    # When the operator turns maintenance on, the API (another function: fresh containers, as each caches the
    # switch briefly) answers 503 until it is off
    assert "error" not in stage.admin("maintenance", state="on", message="rehearsal")
    try:
        fresh = stage.cold(stage.api_function)
        during = stage.http("GET", "/v1/me", headers=_bearer(customer["token"]), container=fresh)
        assert during.status == 503 and during.json()["error"]["code"] == "MAINTENANCE", during.explain()
    finally:
        assert "error" not in stage.admin("maintenance", state="off")
    _ok(stage.http("GET", "/v1/me", headers=_bearer(customer["token"]), container=stage.cold(stage.api_function)))


WS_HOST = "rehearsalws.execute-api.us-east-1.amazonaws.com"


def _ws_event(route: str, connection_id: str, body: str | None = None, origin: str | None = None,
              binary: bool = False) -> dict[str, Any]:
    """What API Gateway's WebSocket API gives a handler (requestContext as AWS documents it; headers on $connect)."""
    event: dict[str, Any] = {
        "requestContext": {"routeKey": route, "eventType": route.strip("$").upper(), "connectionId": connection_id,
                           "domainName": WS_HOST, "stage": "api", "apiId": "rehearsalws",
                           "identity": {"sourceIp": "198.51.100.7"}, "requestTimeEpoch": int(time.time() * 1000)},
        "isBase64Encoded": binary, "body": body}
    if origin is not None:
        event["headers"] = {"Host": WS_HOST, "Origin": origin}
    return event


def test_live_updates__the_websocket_handlers_keep_a_signed_in_pages_socket(stage: Rehearsal, aws: dict[str, Any],
                                                                           customer: dict[str, Any]) -> None:
    # Given the three WebSocket functions of the packaged template (chalice's on_ws_* handlers), the live
    # connections table created from it, and the dashboard's origin (the stage's PUBLIC_BASE_URL)
    handler = {f.handler: logical for logical, f in stage.functions.items()}
    connect, message, disconnect = (stage.container(handler[f"app.websocket_{n}"])
                                    for n in ("connect", "message", "disconnect"))
    table = next(n for n in aws["dynamodb"].list_tables()["TableNames"] if n.endswith("live_connections"))
    origin = re.sub(r"^(https://[^/]+).*$", r"\1", stage.functions[stage.api_function].environment["PUBLIC_BASE_URL"])

    def kept(connection_id: str) -> Any:
        return aws["dynamodb"].get_item(TableName=table, Key={"connection_id": {"S": connection_id}}).get("Item")

    pushed_before = len(stage.egress.seen)
    # When a page of another site connects, and the dashboard's page connects, proves itself and later goes away
    refused = connect.invoke(_ws_event("$connect", "RXZpbA=", origin="https://evil.example"), "$connect").result
    replies = [connect.invoke(_ws_event("$connect", "UGFnZQ=", origin=origin), "$connect").result,
               message.invoke(_ws_event("$default", "UGFnZQ=", json.dumps({"action": "auth",
                                                                           "token": customer["token"]})),
                              "$default auth").result]
    while_open = kept("UGFnZQ=")
    replies.append(disconnect.invoke(_ws_event("$disconnect", "UGFnZQ="), "$disconnect").result)
    # Then the other site's page was refused at the handshake and nothing kept of it
    assert refused["statusCode"] == 403 and kept("RXZpbA=") is None
    # And the page's socket was the customer's, reached through its API's management endpoint, until it closed
    assert [r["statusCode"] for r in replies] == [200, 200, 200]
    assert while_open is not None and while_open["account_id"]["S"] == customer["account_id"]
    assert while_open["endpoint"]["S"] == f"https://{WS_HOST}/api"
    assert kept("UGFnZQ=") is None
    # And its "ready" answer went to API Gateway's management API (refused here: the rehearsal has no internet)
    assert any(host.startswith(WS_HOST) for host in stage.egress.seen[pushed_before:]), stage.egress.seen
    # And the API tells pages where the socket is: this stack's WebSocket API, at its stage
    live = _ok(stage.http("GET", "/v1/live", headers=_bearer(customer["token"])))
    assert re.fullmatch(r"wss://[^/]+\.execute-api\.us-east-1\.amazonaws\.com/api", live["url"]), live


def test_live_updates__a_hostile_message_is_refused_and_keeps_nothing(stage: Rehearsal, aws: dict[str, Any]) -> None:
    handler = {f.handler: logical for logical, f in stage.functions.items()}
    message = stage.container(handler["app.websocket_message"])
    table = next(n for n in aws["dynamodb"].list_tables()["TableNames"] if n.endswith("live_connections"))
    for body, binary in (("AAEC", True), ("[" * 3000, False), ('{"action": "auth", "token": "\\ud800"}', False)):
        reply = message.invoke(_ws_event("$default", "SG9zdGlsZQ=", body, binary=binary), "$default hostile").result
        assert reply["statusCode"] == 200, reply
    assert aws["dynamodb"].get_item(TableName=table, Key={"connection_id": {"S": "SG9zdGlsZQ="}}).get("Item") is None


# ------------------------------------------------------------------------------------------------ misconfigured


def test_health__a_missing_secret_gives_503_misconfigured_and_refuses_webhooks(stage: Rehearsal, aws: dict[str, Any],
                                                                                stage_secrets: dict[str, str]) -> None:
    # Given the operator has not put the Stripe signing secret yet (a fresh container reads SSM)
    prefix = stage.functions[stage.api_function].environment["SECRETS_PARAMETER_PREFIX"]
    name = f"{prefix}STRIPE_WEBHOOK_SECRET"
    aws["ssm"].delete_parameter(Name=name)
    try:
        container = stage.cold(stage.api_function)
        health = stage.http("GET", "/health", container=container)
        # Then health says so, and a webhook signed with the published local secret is refused
        assert health.status == 503 and health.json()["error"]["code"] == "MISCONFIGURED", health.explain()
        forged = json.dumps({"id": "evt_x", "type": "payment_intent.succeeded", "data": {"object": {}}}).encode()
        header = signature_header(forged, "whsec_local", int(time.time()))
        refused = stage.http("POST", "/v1/webhooks/stripe", body=forged.decode(), container=container,
                             headers={"Content-Type": "application/json", "Stripe-Signature": header})
        assert refused.status >= 400 and refused.status != 500, refused.explain()
        assert "STRIPE_WEBHOOK_SECRET" in container.log_tail(20_000)
    finally:
        aws["ssm"].put_parameter(Name=name, Value=stage_secrets["STRIPE_WEBHOOK_SECRET"], Type="SecureString",
                                 Overwrite=True)


def test_logs__no_secret_value_reaches_any_functions_log(stage: Rehearsal, stage_secrets: dict[str, str]) -> None:
    logs = stage.all_logs()
    assert logs, "the functions wrote no logs"
    leaked = [name for name, value in stage_secrets.items() if value in logs]
    assert not leaked, f"secret values in the functions' logs: {leaked}"
    assert not re.search(r"sk_test_[0-9A-Za-z]{16,}", logs)
