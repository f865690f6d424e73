"""A SIM-bank agent as a partner, end to end: the app is configured with an agent (the simulator), a customer orders
over REST v1, the agent pushes the SMS to `/v1/partners/{name}/smshub`, and ending the activation reaches the agent.

The session stack's app knows only its own partner, so this module runs a second app process on the same
DynamoDB Local with PARTNERS_JSON naming the agent (tests/support.py second_app).
"""
from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.config import settings_from_env
from chalicelib.domain.ids import new_id
from infra.local.simulator.smshub_agent import AgentHandle, start_smshub_agent
from infra.local.stack import Stack, free_port
from tests.integration import hostile
from tests.support import client_at, customer_with_key, second_app, wait_until

pytestmark = pytest.mark.integration

KEY = "agent-key"
CANCEL_GRACE_SECONDS = 2.2  # the stack's early-cancel window is 2 s


@dataclass
class AgentHub:
    """Our app with one agent partner, and the agent pushing to it."""

    name: str
    app_url: str
    agent: AgentHandle
    log: Path  # the app's log (Powertools lines and the access log)

    @property
    def push_url(self) -> str:
        return f"{self.app_url}/v1/partners/{self.name}/smshub"


@pytest.fixture(scope="module")
def hub(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentHub]:
    name, port = new_id("agent"), free_port()
    agent = start_smshub_agent(key=KEY, push_url=f"http://127.0.0.1:{port}/v1/partners/{name}/smshub",
                               push_retry_seconds=0.2)
    partners = [{"name": name, "protocol": "smshub_agent", "base_url": agent.url, "api_key": KEY,
                 "prices": {"*": 40}}]
    try:
        log = tmp_path_factory.mktemp("agent-app") / "app.log"
        with second_app(stack, partners, log, port=port) as app_url:
            yield AgentHub(name, app_url, agent, log)
    finally:
        agent.stop()


def test_agent_partner__order_push_finish_and_cancel_over_rest(hub: AgentHub, stack: Stack) -> None:
    # Given a customer with money, and two Telegram numbers ordered over REST v1, both supplied by the agent
    bearer = {"Authorization": f"Bearer {customer_with_key(settings_from_env(stack.env()), 1000).api_key}"}
    orders = [requests.post(f"{hub.app_url}/v1/activations", json={"service": "tg", "country": 0}, headers=bearer,
                            timeout=30) for _ in range(2)]
    ordered_at = time.monotonic()
    assert [r.status_code for r in orders] == [201, 201], [r.text for r in orders]
    used, dropped = (r.json() for r in orders)
    agent_ids = {a.phone: a.id for a in hub.agent.state.activations.values()}
    assert {used["phone"], dropped["phone"]} == set(agent_ids)
    # When an SMS reaches the first number, and the agent pushes it to us
    delivered = requests.post(f"{hub.agent.url}/_sim/deliver", timeout=5,
                              json={"phone": used["phone"], "phoneFrom": "Telegram", "text": "Telegram code 48213"})
    sms_id = delivered.json()["smsId"]

    # Then the customer sees the code
    def shown() -> dict[str, Any]:
        return dict(requests.get(f"{hub.app_url}/v1/activations/{used['id']}", headers=bearer, timeout=30).json())

    assert wait_until(lambda: shown()["status"] == "RECEIVED")
    assert [s["code"] for s in shown()["sms"]] == ["48213"]
    assert wait_until(lambda: hub.agent.state.pushes[sms_id].replies == ["SUCCESS"])
    # When the agent pushes the same SMS again (our SUCCESS got lost), gzip-compressed as the protocol asks
    repeat = {"action": "PUSH_SMS", "key": KEY, "smsId": sms_id, "phone": int(used["phone"]),
              "phoneFrom": "Telegram", "text": "Telegram code 48213"}
    again = requests.post(hub.push_url, data=gzip.compress(json.dumps(repeat).encode()), timeout=30,
                          headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    # Then it is acknowledged and not added twice
    assert (again.status_code, again.json()) == (200, {"status": "SUCCESS"})
    assert len(shown()["sms"]) == 1
    # When the customer finishes the first and, once the early-cancel window is over, cancels the second
    finished = requests.post(f"{hub.app_url}/v1/activations/{used['id']}/finish", headers=bearer, timeout=30)
    time.sleep(max(0.0, CANCEL_GRACE_SECONDS - (time.monotonic() - ordered_at)))
    canceled = requests.post(f"{hub.app_url}/v1/activations/{dropped['id']}/cancel", headers=bearer, timeout=30)
    # Then the agent was told: sold (3) for the first, cancelled (4) for the second
    assert (finished.json()["status"], canceled.json()["status"]) == ("FINISHED", "CANCELED")
    assert [(f["activationId"], f["status"]) for f in hub.agent.state.finishes] == [
        (agent_ids[used["phone"]], 3), (agent_ids[dropped["phone"]], 4)]


def test_agent_push__each_answer_tells_the_agent_whether_to_push_again(hub: AgentHub) -> None:
    # Given a well-formed push for a number no activation of ours has
    push = {"action": "PUSH_SMS", "key": KEY, "smsId": 9001, "phone": 79990001122, "phoneFrom": "Telegram",
            "text": "Telegram code 11111"}

    def post(url: str, body: Any) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        reply = requests.post(url, data=raw, headers={"Content-Type": "application/json"}, timeout=30)
        return reply.status_code, reply.json()

    # When it arrives, and when variants of it arrive that are wrong
    unknown_phone = post(hub.push_url, push)
    bad_key = post(hub.push_url, {**push, "key": "guess"})
    not_json = post(hub.push_url, b"{not json")
    inflated_by_the_gateway = requests.post(hub.push_url, data=json.dumps(push).encode(), timeout=30, headers={
        "Content-Type": "application/json", "Content-Encoding": "gzip"})
    wrong_types = post(hub.push_url, {**push, "smsId": "one", "text": 5})
    other_action = post(hub.push_url, {**push, "action": "GET_NUMBER"})
    no_such_agent = post(f"{hub.app_url}/v1/partners/nobody/smshub", push)
    # Then the unknown number asks for another push (our record of a new number may be late), and every wrong
    # request gets a 4xx with the protocol's ERROR, never a 5xx
    assert unknown_phone[0] == 200 and unknown_phone[1]["status"] == "ERROR"
    assert unknown_phone[1]["error"].startswith("NO_ACTIVATION")
    # And a body API Gateway already inflated (its gzip header passed on) is read like any other
    assert inflated_by_the_gateway.status_code == 200 and inflated_by_the_gateway.json()["status"] == "ERROR"
    assert [status for status, _ in (bad_key, not_json, wrong_types, other_action, no_such_agent)] == [
        401, 422, 422, 422, 404]
    assert {body["status"] for _, body in (bad_key, not_json, wrong_types, other_action, no_such_agent)} == {"ERROR"}


def test_agent_push__guessing_an_agents_key_meets_429(hub: AgentHub) -> None:
    # Given someone who posts pushes with made-up keys (from an address of their own)
    attacker = client_at("127.0.0.41")
    push = {"action": "PUSH_SMS", "smsId": 9002, "phone": 79990001123, "phoneFrom": "Telegram", "text": "x"}
    # When they guess as fast as the app answers
    replies = []
    for guess in range(91):  # 30 a fixed 10 s window: 60 quick guesses can split 30/30 across two windows
        replies.append(attacker.post(hub.push_url, json={**push, "key": f"guess-{guess}"}, timeout=30))
        if replies[-1].status_code == 429:
            break
    # Then every guess is refused, and the guessing is cut off like any other credential guessing
    assert {r.status_code for r in replies[:-1]} == {401}
    assert replies[-1].status_code == 429 and replies[-1].json()["status"] == "ERROR"


def test_agent_push__hostile_fields_with_the_right_key_never_answer_5xx_or_log_an_exception(hub: AgentHub) -> None:
    # Given a well-formed push from the agent, with its key
    push = {"action": "PUSH_SMS", "key": KEY, "smsId": 9100, "phone": 79990001124, "phoneFrom": "Telegram",
            "text": "Telegram code 22222"}
    log, findings = hostile.AppLog.at(hub.log), hostile.Findings()
    agent = client_at("127.0.0.82")
    values: list[object] = [*hostile.SAMPLE, *hostile.NON_TEXT]
    bodies = [*hostile.BODIES] + [json.dumps(push | {name: value}).encode()
                                  for index, name in enumerate(["smsId", "phone", "phoneFrom", "text", "key", "action"])
                                  for value in hostile.share(values, [*hostile.ALWAYS, 10**40], index)]
    # When each field is each hostile value (the protocol's Ulong smsId and phone as '²' broke it once)
    for body in bodies:
        reply = agent.post(hub.push_url, data=body, headers={"Content-Type": "application/json"}, timeout=30)
        findings.check(f"push {body[:80]!r}", reply.status_code, reply.text)
    # Then nothing answered 5xx and nothing was logged as an exception
    findings.assert_clean(log)
