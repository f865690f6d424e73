"""SmsActivatePartner against the partner simulator over real HTTP: every Partner operation and every failure mode."""
from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from chalicelib.providers.base import (
    PartnerNoNumbers,
    PartnerOffer,
    PartnerRejected,
    PartnerStatus,
    PartnerUnavailable,
)
from chalicelib.providers.circuit import CircuitBreaker
from chalicelib.providers.sms_activate import SmsActivatePartner
from chalicelib.providers.transport import HttpPolicy
from infra.local.simulator.server import SimulatorHandle, start_simulator
from tests.clock import FixedClock

pytestmark = pytest.mark.integration

# Fast failure tests: a short read timeout and no pause between read retries.
POLICY = HttpPolicy(connect_timeout_seconds=1, read_timeout_seconds=0.3, read_retries=2, retry_backoff_seconds=0)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def sim(clock: FixedClock) -> Iterator[SimulatorHandle]:
    with start_simulator(clock=clock, seed=11) as handle:
        yield handle


@pytest.fixture
def partner(sim: SimulatorHandle) -> SmsActivatePartner:
    return SmsActivatePartner("sim", sim.url, "sim-key", policy=POLICY)


def configure(sim: SimulatorHandle, **config: object) -> None:
    requests.post(f"{sim.url}/_sim/config", json=config, timeout=5).raise_for_status()


def calls(sim: SimulatorHandle) -> dict[str, int]:
    counted: dict[str, int] = requests.get(f"{sim.url}/_sim/state", timeout=5).json()["calls"]
    return counted


def test_get_offers__prices_in_minor_units_with_stock(partner: SmsActivatePartner) -> None:
    # Given / When the partner's offers are read
    offers = partner.get_offers()
    # Then every service of every country is there, priced in cents of the partner's currency, named as the
    # partner's getServicesList names it
    assert len(offers) == 15 * 8
    assert PartnerOffer(service="tg", country=0, operator="any", cost_minor=45, currency="USD", count=500,
                        operators=("mts", "megafon", "beeline", "tele2"), service_name="Telegram") in offers
    assert {o.service_name for o in offers if o.service == "zv"} == {"Zava Rides"}


def test_get_offers__one_call_per_list(partner: SmsActivatePartner, sim: SimulatorHandle) -> None:
    # When the partner's offers are read
    partner.get_offers()
    # Then prices, operators and service names took one call each
    assert calls(sim) == {"getPrices": 1, "getOperators": 1, "getServicesList": 1}


def test_get_offers__a_clone_without_get_operators_still_lists_its_offers(partner: SmsActivatePartner,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a clone that answers BAD_ACTION to getOperators
    read = partner._read

    def no_operators(action: str, *args: object, **params: object) -> object:
        if action == "getOperators":
            raise PartnerRejected("sim: BAD_ACTION")
        return read(action, *args, **params)  # type: ignore[arg-type]

    monkeypatch.setattr(partner, "_read", no_operators)
    # Then its offers are read all the same, without an operator list (any name is passed on to it)
    offers = partner.get_offers()
    assert len(offers) == 15 * 8 and {o.operators for o in offers} == {()}


def test_get_number__rents_a_digits_only_number(partner: SmsActivatePartner) -> None:
    # Given / When a Telegram number in Russia is rented
    number = partner.get_number("tg", 0, None, max_cost_minor=100)
    # Then it has an id and a Russian mobile number, digits only
    assert number.partner_activation_id.isdigit()
    assert number.phone.startswith("79") and number.phone.isdigit() and len(number.phone) == 11


def test_get_state__the_code_arrives_after_the_sms_delay(partner: SmsActivatePartner, clock: FixedClock) -> None:
    # Given a number just rented
    number = partner.get_number("go", 187, None, None)
    assert partner.get_state(number.partner_activation_id).status is PartnerStatus.WAITING
    # When the SMS delay has passed
    clock.advance(3)
    # Then the state carries the SMS with its code and full text
    state = partner.get_state(number.partner_activation_id)
    assert state.status is PartnerStatus.RECEIVED
    (sms,) = state.sms
    assert sms.code is not None and sms.text == f"G-{sms.code} is your Google verification code."


def test_get_state__a_non_latin_sms_arrives_intact(partner: SmsActivatePartner, sim: SimulatorHandle) -> None:
    # Given a number that receives a Russian SMS
    number = partner.get_number("vk", 0, None, None)
    text = "Ваш код подтверждения: 4821. Никому его не сообщайте."
    requests.post(f"{sim.url}/_sim/deliver", json={"phone": number.phone, "text": text}, timeout=5).raise_for_status()
    # When its state is read, one by one and by the poller
    one = partner.get_state(number.partner_activation_id)
    (polled,) = partner.get_active_states()
    # Then the text and its code are intact both ways
    assert one.sms[0].text == polled.sms[0].text == text
    assert one.sms[0].code == polled.sms[0].code == "4821"


def test_request_another_sms__a_new_code_arrives_after_the_delay(partner: SmsActivatePartner,
                                                                   clock: FixedClock) -> None:
    # Given a number whose first code arrived
    activation_id = partner.get_number("tg", 0, None, None).partner_activation_id
    clock.advance(3)
    first = partner.get_state(activation_id).sms[0].code
    # When another SMS is asked for
    partner.request_another_sms(activation_id)
    waiting = partner.get_state(activation_id)
    clock.advance(3)
    second = partner.get_state(activation_id)
    # Then the activation waits, then shows the new code
    assert waiting.status is PartnerStatus.WAITING_RETRY and waiting.sms == ()
    assert second.status is PartnerStatus.RECEIVED and second.sms[0].code != first


def test_cancel__before_the_sms_is_idempotent(partner: SmsActivatePartner) -> None:
    # Given a number with no SMS yet
    activation_id = partner.get_number("wa", 16, None, None).partner_activation_id
    # When it is canceled twice
    partner.cancel(activation_id)
    partner.cancel(activation_id)
    # Then it reads as canceled and our money is back
    assert partner.get_state(activation_id).status is PartnerStatus.CANCELED
    assert partner.get_balance_minor() == 1_000_000


def test_cancel__after_the_sms_is_rejected(partner: SmsActivatePartner, clock: FixedClock) -> None:
    # Given a number whose code arrived
    activation_id = partner.get_number("wa", 16, None, None).partner_activation_id
    clock.advance(3)
    # When it is canceled / Then the partner refuses: the charge is final
    with pytest.raises(PartnerRejected, match="BAD_STATUS"):
        partner.cancel(activation_id)


def test_finish__after_the_sms_is_idempotent(partner: SmsActivatePartner, clock: FixedClock) -> None:
    # Given a number whose code arrived
    activation_id = partner.get_number("ds", 22, None, None).partner_activation_id
    clock.advance(3)
    # When it is finished twice
    partner.finish(activation_id)
    partner.finish(activation_id)
    # Then it is no longer among the partner's active activations
    assert partner.get_active_states() == []


def test_get_number__no_stock_raises_no_numbers(partner: SmsActivatePartner, sim: SimulatorHandle) -> None:
    # Given no Telegram numbers left in Russia
    configure(sim, stock={"tg:0": 0})
    # When one is rented / Then the router is told to try the next partner
    with pytest.raises(PartnerNoNumbers):
        partner.get_number("tg", 0, None, None)


def test_get_number__price_above_max_raises_no_numbers(partner: SmsActivatePartner) -> None:
    # Given / When a number is rented for less than the partner asks (0.45)
    # Then it is as if the partner had none at that price
    with pytest.raises(PartnerNoNumbers, match=r"cheapest is 0\.45"):
        partner.get_number("tg", 0, None, max_cost_minor=44)


def test_get_number__bad_key_raises_rejected(sim: SimulatorHandle) -> None:
    # Given an adapter configured with a wrong key
    partner = SmsActivatePartner("sim", sim.handler_url, "wrong", policy=POLICY)
    # When a number is rented / Then the refusal is not retried elsewhere as a fluke
    with pytest.raises(PartnerRejected, match="BAD_KEY"):
        partner.get_number("tg", 0, None, None)


def test_get_number__server_error_is_unavailable_and_never_retried(partner: SmsActivatePartner,
                                                                    sim: SimulatorHandle) -> None:
    # Given a partner answering 500 to everything
    configure(sim, http_error_rate=1)
    # When a number is rented
    with pytest.raises(PartnerUnavailable, match="HTTP 500"):
        partner.get_number("tg", 0, None, None)
    # Then the purchase was tried once: a retried purchase could rent two numbers
    assert calls(sim)["getNumber"] == 1


def test_get_balance_minor__reads_are_retried_then_unavailable(partner: SmsActivatePartner,
                                                               sim: SimulatorHandle) -> None:
    # Given a partner answering 500 to everything
    configure(sim, http_error_rate=1)
    # When the balance is read / Then it is tried three times before giving up
    with pytest.raises(PartnerUnavailable):
        partner.get_balance_minor()
    assert calls(sim)["getBalance"] == 3


def test_get_state__garbage_reply_is_unavailable(partner: SmsActivatePartner, sim: SimulatorHandle) -> None:
    # Given a number, then a partner answering HTML pages instead of the protocol
    activation_id = partner.get_number("tg", 0, None, None).partner_activation_id
    configure(sim, garbage_rate=1)
    # When its state is read / Then the page is never taken for a status or a code
    with pytest.raises(PartnerUnavailable, match="unexpected reply"):
        partner.get_state(activation_id)


def test_get_state__reply_slower_than_the_read_timeout_is_unavailable(sim: SimulatorHandle) -> None:
    # Given a partner that answers after 0.5 s and an adapter that waits 0.2 s, without retries
    partner = SmsActivatePartner("sim", sim.url, "sim-key", policy=HttpPolicy(read_timeout_seconds=0.2,
                                                                               read_retries=0))
    configure(sim, latency_ms=500)
    # When the balance is read
    started = time.monotonic()
    with pytest.raises(PartnerUnavailable, match="Timeout"):
        partner.get_balance_minor()
    # Then the adapter gave up at its timeout instead of hanging
    assert time.monotonic() - started < 0.45


def test_get_active_states__all_activations_in_one_call(partner: SmsActivatePartner, sim: SimulatorHandle,
                                                        clock: FixedClock) -> None:
    # Given five activations with their codes and two still waiting
    for _ in range(5):
        partner.get_number("tg", 0, None, None)
    clock.advance(3)
    waiting = {partner.get_number("vk", 1, None, None).partner_activation_id for _ in range(2)}
    # When the poller reads the partner's active activations
    states = partner.get_active_states()
    # Then all seven come back from a single partner call, codes included
    assert calls(sim)["getActiveActivations"] == 1
    assert {s.partner_activation_id for s in states if s.status is PartnerStatus.WAITING} == waiting
    received = [s for s in states if s.status is PartnerStatus.RECEIVED]
    assert len(received) == 5 and all(s.sms[0].code and s.sms[0].code in s.sms[0].text for s in received)


def test_get_active_states__none_is_an_empty_list(partner: SmsActivatePartner) -> None:
    # Given / When a partner with no activations is polled / Then the answer is empty, not an error
    assert partner.get_active_states() == []


def test_circuit__a_dead_partner_fails_fast_without_being_called(sim: SimulatorHandle) -> None:
    # Given a partner failing every call, behind a breaker that opens after two failures
    configure(sim, http_error_rate=1)
    partner = SmsActivatePartner("sim", sim.url, "sim-key", breaker=CircuitBreaker(failure_threshold=2),
                                 policy=POLICY)
    for _ in range(2):
        with pytest.raises(PartnerUnavailable):
            partner.get_number("tg", 0, None, None)
    # When a third order tries it
    with pytest.raises(PartnerUnavailable, match="circuit open"):
        partner.get_number("tg", 0, None, None)
    # Then the partner was not called again
    assert calls(sim)["getNumber"] == 2


def test_get_balance_minor__in_minor_units(partner: SmsActivatePartner) -> None:
    # Given / When our balance is read after renting a 0.45 number
    partner.get_number("tg", 0, None, None)
    # Then it is in cents
    assert partner.get_balance_minor() == 1_000_000 - 45


def _used(partner: SmsActivatePartner, sim: SimulatorHandle) -> tuple[str, str]:
    number = partner.get_number("tg", 0, None, None)
    requests.post(f"{sim.url}/_sim/deliver", json={"phone": number.phone, "text": "code 4321"},
                  timeout=5).raise_for_status()
    partner.finish(number.partner_activation_id)
    return number.partner_activation_id, number.phone


def test_reactivate__check_then_get_extra_activation_on_the_same_number(partner: SmsActivatePartner,
                                                                        sim: SimulatorHandle) -> None:
    # Given a finished activation whose number got a code
    parent, phone = _used(partner, sim)
    # When its price is checked and the number bought again
    cost = partner.reactivation_cost_minor(parent, phone, "tg")
    again = partner.reactivate(parent, phone, "tg", cost or 0)
    # Then the price is the simulator's and the new activation is on the same number
    assert cost == 45
    assert again.phone == phone and again.partner_activation_id != parent
    assert calls(sim)["checkExtraActivation"] == calls(sim)["getExtraActivation"] == 1


def test_reactivate__a_number_without_a_code_or_a_partner_without_the_action_is_rejected(
        partner: SmsActivatePartner, sim: SimulatorHandle) -> None:
    # Given a number still waiting for its code
    waiting = partner.get_number("tg", 0, None, None)
    # Then it cannot be had again (RENEW_ACTIVATION_NOT_AVAILABLE)
    with pytest.raises(PartnerRejected):
        partner.reactivation_cost_minor(waiting.partner_activation_id, waiting.phone, "tg")
    # And a clone without the action (BAD_ACTION) is rejected the same way
    parent, phone = _used(partner, sim)
    configure(sim, disabled_actions=["checkExtraActivation"])
    with pytest.raises(PartnerRejected):
        partner.reactivation_cost_minor(parent, phone, "tg")


def test_get_multi_service_number__one_number_an_activation_per_service(partner: SmsActivatePartner,
                                                                        sim: SimulatorHandle) -> None:
    # Given / When one number is bought for Telegram, WhatsApp and VK in Russia
    numbers = partner.get_multi_service_number(["tg", "wa", "vk"], 0, None)
    # Then each service has its own activation, all on one number
    assert sorted(numbers) == ["tg", "vk", "wa"]
    assert len({n.phone for n in numbers.values()}) == 1
    assert len({n.partner_activation_id for n in numbers.values()}) == 3
    # And an SMS for one service reaches only that service's activation
    phone = numbers["wa"].phone
    requests.post(f"{sim.url}/_sim/deliver", json={"phone": phone, "text": "WhatsApp code 111-222", "service": "wa"},
                  timeout=5).raise_for_status()
    assert partner.get_state(numbers["wa"].partner_activation_id).status is PartnerStatus.RECEIVED
    assert partner.get_state(numbers["tg"].partner_activation_id).status is PartnerStatus.WAITING


def test_get_multi_service_number__out_of_stock_for_one_service_is_no_numbers(partner: SmsActivatePartner,
                                                                              sim: SimulatorHandle) -> None:
    configure(sim, stock={"vk:0": 0})
    with pytest.raises(PartnerNoNumbers):
        partner.get_multi_service_number(["tg", "vk"], 0, None)
