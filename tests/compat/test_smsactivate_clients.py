"""Outside SMS-Activate client libraries from PyPI, pointed at our handler API by base URL only, drive a lifecycle.

Each library is used as its users use it; the only change is where it sends requests:
- smsactivate 1.5 (SMS-Activate's own module) keeps the URL in a private attribute, set here by its mangled name;
- grizzly-sms-client 0.1.1 and aiosmsactivate 1.5.1 take a `base_url` argument.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmsactivate import SmsActivate
from aiosmsactivate.exceptions import SmsActivateException
from aiosmsactivate.models import SetActivationStatusResponse
from aiosmsactivate.types import ActivationStatus as AioStatus
from grizzly_sms import GrizzlySms
from grizzly_sms.errors import GrizzlySmsError
from smsactivate.api import SMSActivateAPI

from chalicelib.config import Settings
from chalicelib.domain.money import format_major, parse_major
from tests.support import customer_with_key, deliver_sms, eventually, priced_on_demand, sleep_past_grace

pytestmark = pytest.mark.compat

SERVICE, COUNTRY = "tg", 187


def run_in_own_loop(coroutine: Any) -> Any:
    """asyncio.run in a thread of its own: Playwright's sync API keeps an event loop running in the main thread."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="module")
def priced(stack) -> Iterator[Settings]:
    with priced_on_demand(stack) as settings:
        yield settings


@pytest.fixture
def handler_url(stack, priced) -> str:
    return f"{stack.app_url}/stubs/handler_api.php"


def test_smsactivate__official_module_full_lifecycle(stack, handler_url, priced):
    # Given SMS-Activate's own module pointed at us, for an account holding 10.00
    api = SMSActivateAPI(customer_with_key(priced, balance_cents=1000).api_key)
    api._SMSActivateAPI__api_url = handler_url  # type: ignore[attr-defined]
    # Then it reads the balance and the prices
    assert api.getBalance() == {"balance": "10.00"}
    cost = api.getPrices(service=SERVICE, country=COUNTRY)[str(COUNTRY)][SERVICE]["cost"]
    # When it buys a number to cancel later and one to use
    to_cancel = api.getNumber(service=SERVICE, country=COUNTRY)
    bought_at = time.monotonic()
    number = api.getNumber(service=SERVICE, country=COUNTRY)
    # Then ids and phones come back as integers, and the code is awaited
    assert isinstance(number["activation_id"], int) and isinstance(number["phone"], int)
    assert api.getStatus(id=number["activation_id"]) == "STATUS_WAIT_CODE"
    # When the SMS arrives
    deliver_sms(stack, str(number["phone"]), "Telegram code 70707")
    status = eventually(lambda: api.getStatus(id=number["activation_id"]), lambda s: s != "STATUS_WAIT_CODE")
    # Then it sees the code and the text, and finishes
    assert status == "STATUS_OK:70707"
    assert api.getFullSms(id=number["activation_id"]) == "FULL_SMS:Telegram code 70707"
    assert api.setStatus(id=number["activation_id"], status=6) == "ACCESS_ACTIVATION"
    # And the other number is canceled after the early-cancel window, refunded
    sleep_past_grace(bought_at)
    assert api.setStatus(id=to_cancel["activation_id"], status=8) == "ACCESS_CANCEL"
    # smsactivate lists STATUS_CANCEL among its errors: a canceled activation comes back as its error dict
    assert api.getStatus(id=to_cancel["activation_id"])["error"] == "STATUS_CANCEL"
    assert api.getBalance() == {"balance": format_major(1000 - parse_major(str(cost)))}


def test_smsactivate__errors_are_its_error_dicts(handler_url, priced):
    api = SMSActivateAPI(customer_with_key(priced, balance_cents=1).api_key)
    api._SMSActivateAPI__api_url = handler_url  # type: ignore[attr-defined]
    assert api.getNumber(service=SERVICE, country=COUNTRY)["error"] == "NO_BALANCE"
    assert api.getNumber(service="zz", country=COUNTRY)["error"] == "BAD_SERVICE"
    assert api.getStatus(id=987654321)["error"] == "NO_ACTIVATION"
    assert api.setStatus(id=987654321, status=2)["error"] == "BAD_STATUS"
    bad_key = SMSActivateAPI("smsr_not-a-key")
    bad_key._SMSActivateAPI__api_url = handler_url  # type: ignore[attr-defined]
    assert bad_key.getBalance()["error"] == "BAD_KEY"


def test_grizzly__full_lifecycle(stack, priced):
    # Given grizzly-sms-client pointed at our base URL, for an account holding 10.00
    with GrizzlySms(customer_with_key(priced, balance_cents=1000).api_key, base_url=stack.app_url) as client:
        # Then it reads the balance, the price list and the countries
        assert client.get_balance() == 10.0
        quotes = client.find_prices(service=SERVICE, country=COUNTRY)
        assert quotes and quotes[0].count > 0
        assert any(c.id == COUNTRY and c.eng == "USA" for c in client.get_countries())
        # When it buys one number with getNumberV2 (to cancel) and one with getNumber (to use)
        to_cancel = client.get_number_v2(SERVICE, country=COUNTRY)
        bought_at = time.monotonic()
        number = client.get_number(SERVICE, country=COUNTRY)
        assert to_cancel.currency == 840 and to_cancel.can_get_another_sms
        assert client.get_status(number.activation_id).status == "STATUS_WAIT_CODE"
        # When the SMS arrives, its own polling finds the code
        deliver_sms(stack, number.phone_number, "Telegram code 31337")
        received = client.wait_for_code(number.activation_id, interval_ms=300, timeout_ms=15_000)
        assert received.code == "31337"
        # Then it asks for another SMS, finishes, and cancels the other number after the window
        assert client.request_another_code(number.activation_id) == "ACCESS_RETRY_GET"
        assert client.complete(number.activation_id) == "ACCESS_ACTIVATION"
        sleep_past_grace(bought_at)
        assert client.cancel(to_cancel.activation_id) == "ACCESS_CANCEL"
        assert client.get_status(to_cancel.activation_id).status == "STATUS_CANCEL"
        assert client.get_balance() == pytest.approx(10.0 - quotes[0].cost)


@pytest.mark.parametrize(("order", "code"), [
    ({"service": "zz", "country": COUNTRY}, "BAD_SERVICE"),
    ({"service": SERVICE, "country": 9999}, "BAD_COUNTRY"),
    ({"service": SERVICE, "country": COUNTRY, "max_price": 0.01}, "WRONG_MAX_PRICE"),
])
def test_grizzly__order_errors_are_its_error_codes(stack, priced, order, code):
    with GrizzlySms(customer_with_key(priced, balance_cents=1000).api_key, base_url=stack.app_url) as client:
        with pytest.raises(GrizzlySmsError) as raised:
            client.get_number(**order)
    assert raised.value.code == code


def test_grizzly__no_balance_and_bad_key(stack, priced):
    with GrizzlySms(customer_with_key(priced, balance_cents=1).api_key, base_url=stack.app_url) as client:
        with pytest.raises(GrizzlySmsError) as no_balance:
            client.get_number(SERVICE, country=COUNTRY)
        with pytest.raises(GrizzlySmsError) as no_activation:
            client.get_status(987654321)
    with GrizzlySms("smsr_not-a-key", base_url=stack.app_url) as stranger, pytest.raises(GrizzlySmsError) as bad_key:
        stranger.get_balance()
    assert (no_balance.value.code, no_activation.value.code, bad_key.value.code) == (
        "NO_BALANCE", "NO_ACTIVATION", "BAD_KEY")


def test_aiosmsactivate__full_lifecycle(stack, handler_url, priced):
    # Given aiosmsactivate (POSTs with the query string, pydantic models) pointed at us, holding 10.00
    client = SmsActivate(customer_with_key(priced, balance_cents=1000).api_key, base_url=handler_url)

    async def lifecycle() -> None:
        # Then it reads the balance and the prices
        assert await client.get_balance() == 10.0
        cost = (await client.get_prices(service=SERVICE, country=COUNTRY))[str(COUNTRY)][SERVICE]["cost"]
        # When it buys numbers with getNumberV2 (validated by its pydantic model)
        to_cancel = await client.purchase(SERVICE, country=COUNTRY)
        bought_at = time.monotonic()
        number = await client.purchase(SERVICE, country=COUNTRY)
        assert number.phone_number.isdigit() and number.country_code == str(COUNTRY)
        assert await client.get_activation_status_v1(number.activation_id) == (AioStatus.WAIT, None)
        # When the SMS arrives
        deliver_sms(stack, number.phone_number, "Telegram code 24680")
        for _ in range(50):
            status, code = await client.get_activation_status_v1(number.activation_id)
            if status is AioStatus.OK:
                break
            await asyncio.sleep(0.3)
        # Then it reads the code, also through getStatusV2's model, and finishes
        assert (status, code) == (AioStatus.OK, "24680")
        v2 = await client.get_activation_status(number.activation_id)
        assert v2.sms is not None and v2.sms.code == "24680"
        finished = await client.set_activation_status(number.activation_id, 6)
        assert finished is SetActivationStatusResponse.ACTIVATED
        # And the other number, canceled after the early-cancel window, is refunded
        sleep_past_grace(bought_at)
        canceled = await client.set_activation_status(to_cancel.activation_id, 8)
        assert canceled is SetActivationStatusResponse.CANCEL
        assert await client.get_balance() == pytest.approx(10.0 - cost)

    run_in_own_loop(lifecycle())


def test_aiosmsactivate__errors_are_its_exceptions(handler_url, priced):
    client = SmsActivate(customer_with_key(priced, balance_cents=1).api_key, base_url=handler_url)
    stranger = SmsActivate("smsr_not-a-key", base_url=handler_url)

    async def code_of(call: Any) -> str:
        with pytest.raises(SmsActivateException) as raised:
            await call
        return str(raised.value.code)

    async def errors() -> list[str]:
        return [await code_of(client.purchase(SERVICE, country=COUNTRY)),
                await code_of(client.purchase("zz", country=COUNTRY)),
                await code_of(client.get_activation_status_v1(987654321)),
                await code_of(stranger.get_balance())]

    assert run_in_own_loop(errors()) == ["NO_BALANCE", "BAD_SERVICE", "NO_ACTIVATION", "BAD_KEY"]


def test_start_up_lists__each_library_reads_operators_services_and_top_countries(stack, handler_url, priced):
    key = customer_with_key(priced, balance_cents=1000).api_key
    # Given SMS-Activate's own module: getOperators and getTopCountriesByService (with and without a service)
    api = SMSActivateAPI(key)
    api._SMSActivateAPI__api_url = handler_url  # type: ignore[attr-defined]
    assert api.getOperators(country=COUNTRY) == {"status": "success",
                                                 "countryOperators": {str(COUNTRY): ["att", "tmobile", "verizon"]}}
    assert api.getTopCountriesByService(service=SERVICE)[str(COUNTRY)]["retail_price"] > 0
    assert api.getTopCountriesByService()[SERVICE] == api.getTopCountriesByService(service=SERVICE)
    # And it reads an operator no partner has as its WRONG_OPERATOR error, with nothing charged
    assert api.getNumber(service=SERVICE, country=0, operator="verizon")["error"] == "WRONG_OPERATOR"
    assert api.getBalance() == {"balance": "10.00"}
    # Given grizzly-sms-client: its service catalog
    with GrizzlySms(key, base_url=stack.app_url) as client:
        assert ("tg", "Telegram") in [(s.code, s.name) for s in client.get_services()]

    # Given aiosmsactivate: operators, the service list and a service's name from it
    async def lists() -> tuple[Any, Any]:
        client = SmsActivate(key, base_url=handler_url)
        return await client.get_operators(str(COUNTRY)), await client.get_service_name("tg")

    operators, name = run_in_own_loop(lists())
    assert operators["countryOperators"][str(COUNTRY)] == ["att", "tmobile", "verizon"] and name == "Telegram"


def test_reuse__official_module_buys_a_multi_service_number_and_aiosmsactivate_an_extra_activation(
        stack, handler_url, priced):
    key = customer_with_key(priced, balance_cents=1000).api_key
    # Given SMS-Activate's own module: one number for Telegram and WhatsApp (it json.loads the reply)
    api = SMSActivateAPI(key)
    api._SMSActivateAPI__api_url = handler_url  # type: ignore[attr-defined]
    rows = api.getMultiServiceNumber(service="tg,wa", country=COUNTRY)
    assert [row["service"] for row in rows] == ["tg", "wa"]
    assert len({row["phone"] for row in rows}) == 1 and all(isinstance(row["activation"], int) for row in rows)
    # And aiosmsactivate: a number whose code arrived is finished, priced again and bought again
    client = SmsActivate(key, base_url=handler_url)

    async def again() -> None:
        number = await client.purchase(SERVICE, country=COUNTRY)
        deliver_sms(stack, number.phone_number, "Telegram code 13579")
        for _ in range(50):
            if (await client.get_activation_status_v1(number.activation_id))[0] is AioStatus.OK:
                break
            await asyncio.sleep(0.3)
        await client.set_activation_status(number.activation_id, 6)
        quote = await client.check_extra_activation(number.activation_id)
        assert (quote["status"], quote["phone"]) == ("success", int(number.phone_number))
        new_id, phone = await client.get_extra_activation(number.activation_id)  # sent as `id`
        assert phone == number.phone_number and int(new_id) != number.activation_id

    run_in_own_loop(again())
