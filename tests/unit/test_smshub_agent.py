"""SIM-bank agents (SMSHub agent protocol): the adapter against the agent simulator over real HTTP, where a pushed
SMS goes (the push route's decisions, over moto), and the simulator's push that repeats until the hub says SUCCESS.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from chalicelib.config import PartnerSettings, Settings, settings_from_env
from chalicelib.domain.clock import SystemClock
from chalicelib.providers import smshub_agent
from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.providers.circuit import CircuitBreaker, CircuitState
from chalicelib.providers.registry import build_partners
from chalicelib.providers.smshub_agent import SmsHubAgentPartner
from chalicelib.providers.transport import HttpPolicy
from chalicelib.services.activations.agent_sms import UNMATCHED_GRACE_SECONDS, AgentSms, AgentSmsDesk, Outcome
from chalicelib.services.activations.ordering import OrderRequest
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from infra.local.simulator.smshub_agent import AgentHandle, start_smshub_agent
from infra.local.stack import free_port
from tests.clock import FixedClock
from tests.support import activations_facade, customer_with_key, wait_until

KEY = "agent-key"
FAST = HttpPolicy(connect_timeout_seconds=0.5, read_timeout_seconds=2.0, read_retries=2, retry_backoff_seconds=0.01)


@pytest.fixture
def agent() -> Iterator[AgentHandle]:
    with start_smshub_agent(seed=7, key=KEY) as handle:
        yield handle


def partner(agent: AgentHandle, prices: dict[str, int] | None = None, **kwargs: Any) -> SmsHubAgentPartner:
    return SmsHubAgentPartner("bank", agent.url, kwargs.pop("key", KEY), kwargs.pop("currency", "USD"),
                              {"*": 40} if prices is None else prices, policy=kwargs.pop("policy", FAST), **kwargs)


def calls(agent: AgentHandle) -> dict[str, int]:
    return dict(agent.state.calls)


# ---- the adapter ---------------------------------------------------------------------------------------------

def test_get_offers__the_agents_stock_priced_from_our_table(agent: AgentHandle) -> None:
    # Given an agent with Telegram and WhatsApp numbers in Russia and the USA, and prices for two of them
    bank = partner(agent, {"tg": 40, "wa:187": 70})
    # When its offers are read
    offers = {(o.service, o.country, o.operator): (o.cost_minor, o.count) for o in bank.get_offers()}
    # Then each priced (service, country) comes with the agent's count per operator, and nothing unpriced is listed
    assert offers == {("tg", 0, "mts"): (40, 20), ("tg", 0, "beeline"): (40, 20), ("tg", 187, "tmobile"): (40, 20),
                      ("wa", 187, "tmobile"): (70, 20)}


def test_get_number__offers_our_price_as_the_sum_in_the_agents_currency(agent: AgentHandle) -> None:
    # Given an agent paid in roubles, 12.50 for a Telegram number, with two SIMs
    bank = partner(agent, {"tg": 1250}, currency="RUB")
    agent.state.config = replace(agent.state.config, phones=("79001112233", "79161234567"))
    # When a number is bought, excluding numbers that start with 7900 and one known number
    number = bank.get_number("tg", 0, "mts", 5000, ["7900", "79035550000"])
    # Then the agent was offered exactly 12.50 in RUB (643) as JSON numbers, and the exclusions
    (asked,) = agent.state.number_requests
    assert (asked["sum"], asked["currency"], asked["country"], asked["operator"]) == (Decimal("12.50"), 643, "russia",
                                                                                      "mts")
    assert asked["exceptionPhoneSet"] == ["7900", "79035550000"]
    # And the number is the SIM not excluded, costing what we offered
    (issued,) = agent.state.activations.values()
    assert (number.partner_activation_id, number.phone, number.cost_minor) == (str(issued.id), "79161234567", 1250)


def test_get_number__no_stock_is_no_numbers(agent: AgentHandle) -> None:
    # Given an agent with no Telegram numbers left in Russia
    agent.state.stock = {key: 0 for key in agent.state.stock}
    # When a number is bought
    # Then the order may try the next partner
    with pytest.raises(PartnerNoNumbers):
        partner(agent).get_number("tg", 0, None, None)


def test_get_number__what_we_do_not_price_or_cannot_afford_is_not_asked_for(agent: AgentHandle) -> None:
    # Given Telegram priced at 40 and nothing else
    bank = partner(agent, {"tg": 40})
    # When a WhatsApp number, or a Telegram one under 40, is asked for
    with pytest.raises(PartnerRejected):
        bank.get_number("wa", 0, None, None)
    with pytest.raises(PartnerNoNumbers):
        bank.get_number("tg", 0, None, 39)
    # Then the agent was never asked
    assert calls(agent).get("GET_NUMBER", 0) == 0


def test_get_number__a_slow_agent_meets_the_protocols_deadline_and_is_not_asked_twice(
        agent: AgentHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an agent answering after 0.6 s, reads allowed 2 s, and GET_NUMBER's deadline (3 s) shrunk to 0.3 s
    monkeypatch.setattr(smshub_agent, "GET_NUMBER_DEADLINE_SECONDS", 0.3)
    bank = partner(agent)
    agent.state.config = replace(agent.state.config, latency_ms=600)
    # When offers are read and a number is bought
    assert bank.get_offers()
    with pytest.raises(PartnerUnavailable):
        bank.get_number("tg", 0, None, None)
    # Then the read waited, the purchase gave up at its deadline, and was sent once: a retry could rent two numbers
    assert calls(agent)["GET_NUMBER"] == 1


def test_finish_and_cancel__tell_the_agent_sold_or_cancelled_and_repeat_safely(agent: AgentHandle) -> None:
    # Given two numbers bought
    bank = partner(agent)
    sold, dropped = bank.get_number("tg", 0, None, None), bank.get_number("tg", 0, None, None)
    # When one is finished twice (a retry) and the other cancelled
    bank.finish(sold.partner_activation_id)
    bank.finish(sold.partner_activation_id)
    bank.cancel(dropped.partner_activation_id)
    # Then the agent heard status 3 for the first (twice, harmlessly) and 4 for the second
    assert [(f["activationId"], f["status"]) for f in agent.state.finishes] == [
        (int(sold.partner_activation_id), 3), (int(sold.partner_activation_id), 3),
        (int(dropped.partner_activation_id), 4)]


def test_finish__is_idempotent_so_a_timeout_is_retried(agent: AgentHandle) -> None:
    # Given a number, then an agent slower than our read timeout
    bank = partner(agent, policy=FAST._replace(read_timeout_seconds=0.2))
    number = bank.get_number("tg", 0, None, None)
    agent.state.config = replace(agent.state.config, latency_ms=400)
    # When the activation is finished
    with pytest.raises(PartnerUnavailable):
        bank.finish(number.partner_activation_id)
    # Then FINISH_ACTIVATION was tried three times (the protocol makes a repeat safe)
    assert calls(agent)["FINISH_ACTIVATION"] == 3


def test_status_poll_and_another_sms__cost_no_call(agent: AgentHandle) -> None:
    # Given a number bought
    bank = partner(agent)
    number = bank.get_number("tg", 0, None, None)
    # When its state is asked, the poller runs and another SMS is asked for
    state = bank.get_state(number.partner_activation_id)
    active = bank.get_active_states()
    bank.request_another_sms(number.partner_activation_id)
    # Then nothing new is reported, and the agent heard nothing beyond the purchase: its SMS come by push
    assert (state.status.value, list(state.sms), active) == ("WAITING", [], [])
    assert calls(agent) == {"GET_NUMBER": 1}


def test_agent_errors__a_wrong_key_is_rejected_and_a_dead_agent_opens_the_circuit(agent: AgentHandle) -> None:
    # Given our key mistyped, and an agent that is not listening at all
    mistyped = partner(agent, key="wrong")
    dead = SmsHubAgentPartner("dead", f"http://127.0.0.1:{free_port()}/", KEY, prices={"*": 40},
                              breaker=CircuitBreaker(failure_threshold=2), policy=FAST._replace(read_retries=0))
    # When each is asked for offers
    with pytest.raises(PartnerRejected):
        mistyped.get_offers()
    for _ in range(2):
        with pytest.raises(PartnerUnavailable):
            dead.get_offers()
    # Then the agent that answered keeps a closed circuit; the dead one fails fast from now on
    assert (mistyped.breaker.state, dead.breaker.state) == (CircuitState.CLOSED, CircuitState.OPEN)


def test_registry__an_smshub_agent_partner_comes_from_the_settings() -> None:
    # Given PARTNERS_JSON naming an agent with its price table
    raw = json.dumps([{"name": "bank", "protocol": "smshub_agent", "base_url": "http://agent.example/smshub",
                       "api_key": KEY, "currency": "RUB", "prices": {"tg": 1500, "tg:187": 2500, "*": 900}}])
    settings = settings_from_env({"STAGE": "local", "PARTNERS_JSON": raw})
    # When the partners are built
    (bank,) = build_partners(settings, SystemClock())
    # Then it is an agent adapter that pays the most specific price
    assert isinstance(bank, SmsHubAgentPartner)
    assert (bank.price_minor("tg", 0), bank.price_minor("tg", 187), bank.price_minor("wa", 0)) == (1500, 2500, 900)


def test_settings__a_price_that_is_not_whole_minor_units_is_refused() -> None:
    # Given a price written as a decimal
    raw = json.dumps([{"name": "bank", "protocol": "smshub_agent", "base_url": "http://a", "api_key": KEY,
                       "prices": {"tg": 12.5}}])
    # Then the settings are refused rather than a price rounded
    with pytest.raises(ValueError, match="whole minor units"):
        settings_from_env({"STAGE": "local", "PARTNERS_JSON": raw})


# ---- where a pushed SMS goes ---------------------------------------------------------------------------------

class Hub:
    """The facade over one agent partner (moto tables), a clock we move, and the push desk."""

    def __init__(self, settings: Settings, agent: AgentHandle) -> None:
        configured = replace(settings, partners=(PartnerSettings("bank", "smshub_agent", agent.url, KEY,
                                                                 prices=(("*", 40),)),))
        self.clock = FixedClock(1_800_000_000.0)
        self.facade = activations_facade(configured, build_partners(configured, SystemClock()), self.clock)
        self.facade.refresh_prices()
        self.desk = AgentSmsDesk(self.facade.intake, self.clock)
        self.account = Account.get(customer_with_key(configured, 1000).account_id)
        self._sms_ids = iter(range(1, 1000))

    def order(self, service: str = "tg") -> Activation:
        return self.facade.order(self.account, OrderRequest(service, 0))

    def push(self, phone: str, text: str, sms_id: int | None = None, sender: str = "Service") -> Outcome:
        return self.desk.receive("bank", AgentSms(sms_id or next(self._sms_ids), phone, sender, text))

    def sms_of(self, activation: Activation) -> list[str]:
        return [s.text for s in Activation.get(activation.activation_id, consistent_read=True).sms]


@pytest.fixture
def hub(moto_tables: Settings, agent: AgentHandle) -> Hub:
    return Hub(moto_tables, agent)


def test_receive__the_sms_lands_on_its_activation_once_however_often_it_is_pushed(hub: Hub) -> None:
    # Given a number issued by the agent
    activation = hub.order()
    # When the agent pushes its SMS, then pushes it again (our SUCCESS got lost)
    first = hub.push(str(activation.phone), "Telegram code 12345", sms_id=41)
    again = hub.push(str(activation.phone), "Telegram code 12345", sms_id=41)
    # Then the activation has the SMS and its code once
    assert (first, again) == (Outcome.DELIVERED, Outcome.DUPLICATE)
    shown = Activation.get(activation.activation_id, consistent_read=True)
    assert (shown.status, [(s.code, s.source) for s in shown.sms]) == ("RECEIVED", [("12345", "push")])


def test_receive__an_unknown_number_is_pushed_again_for_a_while_then_dropped(hub: Hub) -> None:
    # Given an SMS for a number no open activation has
    # When the agent pushes it, again just before the grace is over, and again after
    first = hub.push("79990000000", "code 1111", sms_id=7)
    hub.clock.advance(UNMATCHED_GRACE_SECONDS - 1)
    within = hub.push("79990000000", "code 1111", sms_id=7)
    hub.clock.advance(2)
    after = hub.push("79990000000", "code 1111", sms_id=7)
    # Then it is asked to push again while our record of the number may be late, and let go after
    assert (first, within, after) == (Outcome.NOT_YET, Outcome.NOT_YET, Outcome.DROPPED)


def test_receive__a_number_open_for_two_services_gets_each_sms_where_its_text_says(hub: Hub,
                                                                                    agent: AgentHandle) -> None:
    # Given one SIM sold for Telegram and for WhatsApp at once
    agent.state.config = replace(agent.state.config, phones=("79161234567",))
    telegram, whatsapp = hub.order("tg"), hub.order("wa")
    assert telegram.phone == whatsapp.phone == "79161234567"
    # When a WhatsApp SMS, then one that names neither, arrive on the number
    named = hub.push("79161234567", "Your WhatsApp code: 123-456", sender="WhatsApp")
    unnamed = hub.push("79161234567", "Your code is 999999")
    # Then the WhatsApp activation got its SMS, and nobody got the SMS we could not place
    assert (named, unnamed) == (Outcome.DELIVERED, Outcome.DROPPED)
    assert (hub.sms_of(whatsapp), hub.sms_of(telegram)) == (["Your WhatsApp code: 123-456"], [])


def test_receive__a_late_repeat_never_reaches_a_newer_activation_on_the_same_number(hub: Hub,
                                                                                    agent: AgentHandle) -> None:
    # Given an SMS delivered and the activation finished, then the same number sold to us again
    agent.state.config = replace(agent.state.config, phones=("79161234567",))
    old = hub.order()
    hub.push("79161234567", "Telegram code 11111", sms_id=5)
    hub.facade.finish(hub.account.account_id, int(old.activation_id))
    new = hub.order()
    assert new.phone == old.phone
    # When the old SMS is pushed once more
    repeat = hub.push("79161234567", "Telegram code 11111", sms_id=5)
    # Then it is recognised, and the new activation still waits for its own SMS
    assert repeat is Outcome.DUPLICATE
    assert hub.sms_of(new) == []
    assert [f["status"] for f in agent.state.finishes] == [3]


def test_poll_partners__never_calls_an_agent(hub: Hub, agent: AgentHandle) -> None:
    # Given a number waiting for its SMS
    hub.order()
    before = calls(agent)
    # When the poll job runs
    changed = hub.facade.poll_partners()
    # Then it changed nothing and the agent heard nothing: its SMS come by push
    assert (changed, calls(agent)) == ({"bank": 0}, before)


# ---- the simulator's push --------------------------------------------------------------------------------------

class _FussyHub(BaseHTTPRequestHandler):
    """Answers ERROR to the first push and SUCCESS after; keeps what it was sent."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        status = "ERROR" if len(self.received) == 1 else "SUCCESS"
        data = json.dumps({"status": status}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


def test_agent_simulator__pushes_again_until_the_hub_says_success() -> None:
    # Given a hub that refuses the first push, and an agent retrying every 0.05 s
    _FussyHub.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FussyHub)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    hub_url = f"http://127.0.0.1:{server.server_address[1]}/push"
    try:
        with start_smshub_agent(key=KEY, push_url=hub_url, push_retry_seconds=0.05) as agent:
            # When an SMS reaches one of its SIMs
            reply = requests.post(f"{agent.url}/_sim/deliver", json={"phone": "79161234567", "text": "code 4242",
                                                                     "phoneFrom": "Telegram"}, timeout=5)
            push = agent.state.pushes[reply.json()["smsId"]]
            assert wait_until(lambda: push.delivered, seconds=5, every=0.02)
    finally:
        server.shutdown()
        server.server_close()
    # Then it pushed twice, the same SMS with the protocol's numeric fields, and stopped at SUCCESS
    assert push.replies == ["ERROR", "SUCCESS"]
    assert _FussyHub.received[0] == _FussyHub.received[1] == {
        "action": "PUSH_SMS", "key": KEY, "smsId": push.sms_id, "phone": 79161234567, "phoneFrom": "Telegram",
        "text": "code 4242"}

