"""The partner simulator over real HTTP: the SMS-Activate handler protocol byte for byte, and its test controls."""
from __future__ import annotations

import hashlib
import hmac
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from infra.local.simulator.server import SimulatorHandle, start_simulator
from tests.clock import FixedClock

KEY = "sim-key"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def sim(clock: FixedClock) -> Iterator[SimulatorHandle]:
    with start_simulator(clock=clock, seed=7) as handle:
        yield handle


def call(sim: SimulatorHandle, **params: str) -> requests.Response:
    return requests.get(sim.handler_url, params={"api_key": KEY, **params}, timeout=5)


def control(sim: SimulatorHandle, path: str, body: dict[str, object] | None = None) -> requests.Response:
    return requests.post(f"{sim.url}/_sim/{path}", json=body or {}, timeout=5)


def state(sim: SimulatorHandle) -> dict[str, object]:
    reply: dict[str, object] = requests.get(f"{sim.url}/_sim/state", timeout=5).json()
    return reply


def buy(sim: SimulatorHandle, service: str = "tg", country: str = "0") -> tuple[str, str]:
    reply = call(sim, action="getNumber", service=service, country=country).text
    _, activation_id, phone = reply.split(":")
    return activation_id, phone


def test_get_balance__answers_the_balance_in_major_units(sim: SimulatorHandle) -> None:
    # Given a fresh simulator / When the balance is asked
    reply = call(sim, action="getBalance")
    # Then the reply is the exact protocol string
    assert reply.status_code == 200
    assert reply.content == b"ACCESS_BALANCE:10000.00"


@pytest.mark.parametrize(("params", "expected"), [
    ({"action": "getBalance", "api_key": "wrong"}, b"BAD_KEY"),
    ({"action": "getBalance", "api_key": ""}, b"BAD_KEY"),
    ({"action": "rentNumber"}, b"BAD_ACTION"),
    ({"action": "getNumber", "service": "zz", "country": "0"}, b"BAD_SERVICE"),
    ({"action": "getNumber", "service": "tg", "country": "999"}, b"WRONG_COUNTRY_ID"),
    ({"action": "getNumber", "service": "tg", "country": "0", "operator": "nobody"}, b"WRONG_OPERATOR"),
    ({"action": "getNumber", "service": "tg", "country": "0", "maxPrice": "0.20"}, b"WRONG_MAX_PRICE:0.45"),
    ({"action": "getStatus", "id": "abc"}, b"WRONG_ACTIVATION_ID"),
    ({"action": "getStatus", "id": "999999"}, b"NO_ACTIVATION"),
    ({"action": "setStatus", "id": "999999", "status": "8"}, b"NO_ACTIVATION"),
])
def test_handler__errors_are_exact_protocol_strings(sim: SimulatorHandle, params: dict[str, str],
                                                    expected: bytes) -> None:
    # Given a request the partner refuses / When it is sent
    reply = call(sim, **params)
    # Then the body is the bare error string: no newline, no JSON, no spaces
    assert reply.content == expected


def test_get_operators__per_country_or_one(sim: SimulatorHandle) -> None:
    everything = call(sim, action="getOperators").json()
    assert everything["status"] == "success" and everything["countryOperators"]["187"] == ["tmobile", "att", "verizon"]
    assert call(sim, action="getOperators", country="1").json() == {
        "status": "success", "countryOperators": {"1": ["kyivstar", "vodafone", "lifecell"]}}


def test_handler__post_with_form_body_or_query_string_is_accepted(sim: SimulatorHandle) -> None:
    # Given clients that POST their parameters either as a form or in the query string
    form = requests.post(sim.handler_url, data={"api_key": KEY, "action": "getBalance"}, timeout=5)
    query = requests.post(sim.handler_url, params={"api_key": KEY, "action": "getBalance"}, timeout=5)
    # Then both are answered like a GET
    assert form.content == query.content == b"ACCESS_BALANCE:10000.00"


def test_get_number__issues_a_digits_only_number_with_the_country_code(sim: SimulatorHandle) -> None:
    # Given a buyer of a Telegram number in Russia (7) and one in the UK (44)
    ru = call(sim, action="getNumber", service="tg", country="0").text
    uk = call(sim, action="getNumber", service="wa", country="16").text
    # Then each reply is ACCESS_NUMBER:<integer id>:<digits> with a plausible number, and ids differ
    assert re.fullmatch(r"ACCESS_NUMBER:\d+:79\d{9}", ru)
    assert re.fullmatch(r"ACCESS_NUMBER:\d+:447\d{9}", uk)
    assert ru.split(":")[1] != uk.split(":")[1]


def test_get_number__numbers_are_unique_and_stock_goes_down(sim: SimulatorHandle) -> None:
    # Given forty purchases of the same offer
    phones = {buy(sim, "go", "187")[1] for _ in range(40)}
    # Then no number was handed out twice and the published stock shrank by forty
    assert len(phones) == 40
    prices = call(sim, action="getPrices", service="go", country="187").json()
    assert prices == {"187": {"go": {"cost": 0.3, "count": 460}}}


def test_get_number__phone_exception_prefixes_are_avoided(sim: SimulatorHandle) -> None:
    # Given a buyer who excludes every Russian mobile prefix but 999
    exclude = "7900,7915,7926,7977"
    # When numbers are bought
    phones = [call(sim, action="getNumber", service="tg", country="0", phoneException=exclude).text.split(":")[2]
              for _ in range(10)]
    # Then each one starts with the only prefix left
    assert all(phone.startswith("7999") for phone in phones)


def test_get_number__no_stock_answers_no_numbers(sim: SimulatorHandle) -> None:
    # Given no Telegram numbers left in Russia
    control(sim, "config", {"stock": {"tg:0": 0}})
    # When one is asked for
    reply = call(sim, action="getNumber", service="tg", country="0")
    # Then the partner says so, and other offers are untouched
    assert reply.content == b"NO_NUMBERS"
    assert call(sim, action="getNumber", service="tg", country="1").text.startswith("ACCESS_NUMBER:")


def test_get_number_v2__fields_have_the_types_clients_validate(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given / When a number is bought with getNumberV2
    reply = call(sim, action="getNumberV2", service="tg", country="187")
    # Then the JSON carries the documented fields with their types
    body = reply.json()
    assert reply.headers["Content-Type"].startswith("application/json")
    assert isinstance(body["activationId"], int)
    assert re.fullmatch(r"1\d{10}", body["phoneNumber"])
    assert body["activationCost"] == 0.5
    assert body["currency"] == 840
    assert body["countryCode"] == "187"
    assert body["canGetAnotherSms"] is True
    assert body["activationTime"] == "2027-01-15 08:00:00"
    assert body["activationEndTime"] == "2027-01-15 08:20:00"
    assert body["activationOperator"] in ("tmobile", "att", "verizon")


def test_get_status__code_arrives_after_the_sms_delay(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given a number just bought
    activation_id, _ = buy(sim)
    assert call(sim, action="getStatus", id=activation_id).content == b"STATUS_WAIT_CODE"
    # When the SMS delay (3 s) has passed
    clock.advance(3)
    # Then the status carries the code and the full SMS its text
    status = call(sim, action="getStatus", id=activation_id).text
    code = status.removeprefix("STATUS_OK:")
    assert re.fullmatch(r"\d{5}", code)
    full = call(sim, action="getFullSms", id=activation_id).text
    assert full == f"FULL_SMS:Your Telegram code is {code}. Do not give this code to anyone."


def test_get_status_v2__sms_as_json_once_it_arrived(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given a number whose SMS arrived
    activation_id, _ = buy(sim, "go", "0")
    before = call(sim, action="getStatusV2", id=activation_id).json()
    clock.advance(3)
    # When getStatusV2 is asked
    after = call(sim, action="getStatusV2", id=activation_id).json()
    # Then sms is null before and the SMS (with the time it arrived) after
    assert before == {"verificationType": 1, "sms": None, "call": None}
    code = after["sms"]["code"]
    assert after["sms"] == {"dateTime": "2027-01-15 08:00:03", "code": code,
                            "text": f"G-{code} is your Google verification code."}


def test_set_status__another_sms_brings_a_new_code_after_the_delay(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given a number whose first code arrived
    activation_id, _ = buy(sim)
    clock.advance(3)
    first = call(sim, action="getStatus", id=activation_id).text.removeprefix("STATUS_OK:")
    # When another SMS is asked for
    assert call(sim, action="setStatus", id=activation_id, status="3").content == b"ACCESS_RETRY_GET"
    # Then the status waits with the last code, then shows the new one after the delay
    assert call(sim, action="getStatus", id=activation_id).text == f"STATUS_WAIT_RETRY:{first}"
    clock.advance(3)
    second = call(sim, action="getStatus", id=activation_id).text.removeprefix("STATUS_OK:")
    assert second != first and re.fullmatch(r"\d{5}", second)


def test_set_status__cancel_before_the_sms_refunds_and_repeats_harmlessly(sim: SimulatorHandle) -> None:
    # Given a number with no SMS yet
    activation_id, _ = buy(sim)
    # When it is canceled twice
    first = call(sim, action="setStatus", id=activation_id, status="8")
    second = call(sim, action="setStatus", id=activation_id, status="-1")
    # Then both succeed, the status says canceled and the balance is whole again
    assert first.content == second.content == b"ACCESS_CANCEL"
    assert call(sim, action="getStatus", id=activation_id).content == b"STATUS_CANCEL"
    assert call(sim, action="getBalance").content == b"ACCESS_BALANCE:10000.00"


def test_set_status__cancel_after_the_sms_is_refused(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given a number whose code arrived (the charge is final)
    activation_id, _ = buy(sim)
    clock.advance(3)
    # When it is canceled / Then the partner refuses
    assert call(sim, action="setStatus", id=activation_id, status="8").content == b"BAD_STATUS"
    assert call(sim, action="getBalance").content == b"ACCESS_BALANCE:9999.55"


def test_set_status__finish_ends_the_activation_and_repeats_harmlessly(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given a number whose code arrived
    activation_id, _ = buy(sim)
    clock.advance(3)
    # When it is finished twice
    replies = [call(sim, action="setStatus", id=activation_id, status="6").content for _ in range(2)]
    # Then both succeed and it is no longer active
    assert replies == [b"ACCESS_ACTIVATION", b"ACCESS_ACTIVATION"]
    assert call(sim, action="getActiveActivations").content == b"NO_ACTIVATIONS"


@pytest.mark.parametrize(("status", "expected"), [("1", b"ACCESS_READY"), ("6", b"BAD_STATUS"), ("3", b"BAD_STATUS"),
                                                  ("5", b"BAD_STATUS"), ("x", b"BAD_STATUS")])
def test_set_status__before_the_sms(sim: SimulatorHandle, status: str, expected: bytes) -> None:
    # Given a number with no SMS yet / When its status is set
    activation_id, _ = buy(sim)
    # Then only "ready" is accepted; finishing, retrying or unknown codes are refused
    assert call(sim, action="setStatus", id=activation_id, status=status).content == expected


def test_set_status__early_cancel_is_denied_inside_the_window(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given a partner that refuses cancels in the first two minutes, and a number whose SMS is late
    control(sim, "config", {"early_cancel_seconds": 120, "sms_delay_seconds": 600})
    activation_id, _ = buy(sim)
    # When it is canceled at once, then after the window
    early = call(sim, action="setStatus", id=activation_id, status="8").content
    clock.advance(120)
    late = call(sim, action="setStatus", id=activation_id, status="8").content
    # Then the first is denied and the second accepted
    assert (early, late) == (b"EARLY_CANCEL_DENIED", b"ACCESS_CANCEL")


def test_get_status__lifetime_over_without_sms_is_canceled_and_refunded(sim: SimulatorHandle,
                                                                        clock: FixedClock) -> None:
    # Given a partner whose SMS would come after the activation's lifetime
    control(sim, "config", {"sms_delay_seconds": 100, "lifetime_seconds": 60})
    activation_id, _ = buy(sim)
    # When the lifetime is over
    clock.advance(60)
    # Then the activation reads as canceled and its price is back in the balance
    assert call(sim, action="getStatus", id=activation_id).content == b"STATUS_CANCEL"
    assert call(sim, action="getBalance").content == b"ACCESS_BALANCE:10000.00"


def test_get_active_activations__lists_live_activations_in_one_reply(sim: SimulatorHandle, clock: FixedClock) -> None:
    # Given no activation, then two: one with its code, one bought later and still waiting
    assert call(sim, action="getActiveActivations").content == b"NO_ACTIVATIONS"
    received_id, phone = buy(sim)
    clock.advance(3)
    waiting_id, _ = buy(sim, "wa", "22")
    # When the active activations are asked
    body = call(sim, action="getActiveActivations").json()
    # Then both are listed, the first with its code and text
    assert body["status"] == "success"
    received, waiting = body["activeActivations"]
    code = call(sim, action="getStatus", id=received_id).text.removeprefix("STATUS_OK:")
    assert received["activationId"] == received_id and received["phoneNumber"] == phone
    assert received["smsCode"] == [code] and code in received["smsText"]
    assert received["activationCost"] == "0.45" and received["countryCode"] == "0"
    assert waiting["activationId"] == waiting_id and waiting["smsCode"] is None and waiting["smsText"] is None


def test_get_prices__published_in_major_units_per_country_and_service(sim: SimulatorHandle) -> None:
    # Given / When the prices of one offer, then all prices, are asked
    one = call(sim, action="getPrices", service="tg", country="0")
    everything = call(sim, action="getPrices").json()
    # Then the reply is byte-exact and the whole list covers every country and service
    assert one.content == b'{"0":{"tg":{"cost":0.45,"count":500}}}'
    assert set(everything) == {"0", "1", "2", "6", "12", "16", "22", "187"}
    assert len(everything["187"]) == 15


def test_get_numbers_status__stock_per_service_of_a_country(sim: SimulatorHandle) -> None:
    # Given some Discord numbers in the USA sold out
    control(sim, "config", {"stock": {"ds:187": 0}})
    # When the stock of the USA is asked
    stock = call(sim, action="getNumbersStatus", country="187").json()
    # Then each service shows its count with the forward suffix
    assert stock["ds_0"] == 0 and stock["tg_0"] == 500 and len(stock) == 15


def test_get_countries__the_documented_shape(sim: SimulatorHandle) -> None:
    # Given / When the countries are asked
    countries = call(sim, action="getCountries").json()
    # Then Russia, Ukraine, Kazakhstan and the USA are there with their ids and names
    assert countries["0"] == {"id": 0, "rus": "Россия", "eng": "Russia", "chn": "俄罗斯", "visible": 1, "retry": 1,
                              "rent": 0, "multiService": 1}
    assert [countries[k]["eng"] for k in ("1", "2", "187")] == ["Ukraine", "Kazakhstan", "USA"]


def test_sim_config__faults_are_injected_as_configured(sim: SimulatorHandle) -> None:
    # Given a partner that fails every call, then one that answers garbage, then one with no numbers
    control(sim, "config", {"http_error_rate": 1})
    server_error = call(sim, action="getBalance")
    control(sim, "config", {"http_error_rate": 0, "garbage_rate": 1})
    garbage = call(sim, action="getBalance")
    control(sim, "config", {"garbage_rate": 0, "fail_rate": 1})
    no_numbers = call(sim, action="getNumber", service="tg", country="0")
    # Then each fault shows as configured and is counted
    assert server_error.status_code == 500
    assert garbage.status_code == 200 and garbage.text.startswith("<html>")
    assert no_numbers.content == b"NO_NUMBERS"
    assert state(sim)["faults"] == {"http_error": 1, "garbage": 1, "no_numbers": 1}


def test_sim_config__unknown_or_invalid_settings_are_refused(sim: SimulatorHandle) -> None:
    # Given / When a typo'd setting and an impossible rate are sent
    typo = control(sim, "config", {"sms_delay": 1})
    bad_rate = control(sim, "config", {"fail_rate": 2, "sms_delay_seconds": 0})
    # Then both are refused with a message and nothing was applied
    assert typo.status_code == 400 and "sms_delay" in typo.json()["error"]
    assert bad_rate.status_code == 400
    assert state(sim)["config"]["sms_delay_seconds"] == 3.0  # type: ignore[index]


def test_sim_deliver__an_sms_arrives_now_on_the_number(sim: SimulatorHandle) -> None:
    # Given a number with no SMS yet
    activation_id, phone = buy(sim)
    # When an SMS is delivered to it by hand
    reply = control(sim, "deliver", {"phone": phone, "text": "Your code: 777123"})
    # Then the partner shows it at once, code extracted
    assert reply.json() == {"activationId": int(activation_id), "code": "777123"}
    assert call(sim, action="getStatus", id=activation_id).content == b"STATUS_OK:777123"
    assert call(sim, action="getFullSms", id=activation_id).content == b"FULL_SMS:Your code: 777123"


def test_sim_deliver__unknown_phone_is_404(sim: SimulatorHandle) -> None:
    # Given / When an SMS is delivered to a number nobody rented
    reply = control(sim, "deliver", {"phone": "70000000000", "text": "hi 1234"})
    # Then it is not found
    assert reply.status_code == 404


def test_sim_reset__back_to_the_start_configuration(clock: FixedClock) -> None:
    # Given a simulator started with a small stock, then reconfigured and used
    with start_simulator(clock=clock, stock=5) as sim:
        control(sim, "config", {"stock": 0, "fail_rate": 1})
        call(sim, action="getBalance")
        # When it is reset
        control(sim, "reset")
        # Then the start configuration is back and the counters are empty
        after = state(sim)
        assert after["calls"] == {} and after["activations"] == []
        assert after["stock"]["tg:0"] == 5  # type: ignore[index]
        assert after["config"]["fail_rate"] == 0.0  # type: ignore[index]


def test_sim_state__counts_handler_calls_per_action(sim: SimulatorHandle) -> None:
    # Given a few calls of different actions
    buy(sim)
    for _ in range(3):
        call(sim, action="getActiveActivations")
    # When the state is read
    counters = state(sim)
    # Then each action's calls are counted, so benchmarks can count partner calls
    assert counters["calls"] == {"getNumber": 1, "getActiveActivations": 3}
    assert counters["calls_total"] == 4


def test_simulator__imports_neither_aws_nor_chalice() -> None:
    # Given a fresh interpreter / When the simulator server is imported
    code = ("import sys, infra.local.simulator.server; "
            "print(sorted(m for m in ('boto3', 'botocore', 'pynamodb', 'chalice') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2]).stdout
    # Then it stays a light stdlib server that starts fast anywhere
    assert loaded.strip() == "[]"


class _FlakyReceiver(BaseHTTPRequestHandler):
    """A push endpoint that fails its first request, then accepts; each server gets its own subclass."""

    received: queue.Queue[tuple[dict[str, str], bytes]]
    attempts: int

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        cls = type(self)
        cls.attempts += 1  # one push at a time in these tests
        self.send_response(500 if cls.attempts == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if cls.attempts > 1:
            cls.received.put((dict(self.headers), body))

    def log_message(self, format: str, *args: object) -> None:
        return None


def _settled_pushes(sim: SimulatorHandle) -> object:
    """The push counters once the pusher has counted its last answer (it does so just after the receiver)."""
    deadline = time.monotonic() + 5
    while (pushes := state(sim)["pushes"]) != {"retried": 1, "sent": 1} and time.monotonic() < deadline:
        time.sleep(0.01)
    return pushes


def test_push__each_sms_is_posted_signed_and_retried_until_accepted() -> None:
    # Given a push URL that fails once, and a simulator delivering SMS after 0.05 s
    received: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    handler = type("Receiver", (_FlakyReceiver,), {"received": received, "attempts": 0})
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=receiver.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/push"
    try:
        with start_simulator(sms_delay_seconds=0.05, push_url=url, push_secret="s3cret") as sim:
            # When a number is bought and its SMS falls due
            activation_id, phone = buy(sim)
            headers, body = received.get(timeout=5)
            pushes = _settled_pushes(sim)
    finally:
        receiver.shutdown()
        receiver.server_close()
    # Then the SMS was posted as signed JSON, after one retry
    push = json.loads(body)
    assert push["activationId"] == int(activation_id) and push["phone"] == phone
    assert push["text"] == f"Your Telegram code is {push['code']}. Do not give this code to anyone."
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", push["receivedAt"])
    sent = {name.lower(): value for name, value in headers.items()}
    signed = sent["x-smsrooms-timestamp"].encode() + b"." + body
    assert sent["x-smsrooms-signature"] == hmac.new(b"s3cret", signed, hashlib.sha256).hexdigest()
    assert pushes == {"retried": 1, "sent": 1}


def test_no_sms_rate__a_failing_partner_issues_numbers_that_never_receive_a_code(sim, clock) -> None:
    # Given a partner whose every number fails
    control(sim, "config", {"no_sms_rate": 1.0})
    # When a number is bought and its SMS would long be due
    activation_id, _ = buy(sim)
    clock.advance(600)
    # Then it still waits, and the fault was counted
    assert call(sim, action="getStatus", id=activation_id).text == "STATUS_WAIT_CODE"
    assert state(sim)["faults"] == {"no_sms": 1}


def test_reuse_rate__a_number_comes_back_unless_excluded_by_phone_exception(sim) -> None:
    # Given a partner that hands out numbers it issued before
    first_id, phone = buy(sim)
    assert call(sim, action="setStatus", id=first_id, status="8").text == "ACCESS_CANCEL"
    control(sim, "config", {"reuse_rate": 1.0})
    # When the same number is asked not to be given, then not told so
    excluded = call(sim, action="getNumber", service="tg", country="0", phoneException=phone).text
    again = call(sim, action="getNumber", service="tg", country="0").text
    # Then the excluded one is not handed out, and the next purchase gets it again
    assert excluded.split(":")[2] != phone and again.split(":")[2] == phone


def test_honour_phone_exception__false_ignores_the_exclusions(sim) -> None:
    # Given a partner that ignores phoneException and a number it issued before
    first_id, phone = buy(sim)
    call(sim, action="setStatus", id=first_id, status="8")
    control(sim, "config", {"reuse_rate": 1.0, "honour_phone_exception": False})
    # When that number is excluded
    reply = call(sim, action="getNumber", service="tg", country="0", phoneException=phone).text
    # Then it comes anyway; and a setting that is not true or false is refused
    assert reply.split(":")[2] == phone
    assert control(sim, "config", {"honour_phone_exception": "no"}).status_code == 400
