"""The SMS-Activate handler protocol byte for byte: every reply shape and every error string clients compare."""
from __future__ import annotations

import json

import pytest

from chalicelib.api import handler_protocol as p
from chalicelib.domain import errors as e
from chalicelib.domain.activation_state import ActivationStatus as S
from chalicelib.domain.delivery_rates import Tally

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def activation(status: S = S.WAITING, sms: tuple[p.SmsView, ...] = (), **overrides: object) -> p.ActivationView:
    fields: dict[str, object] = dict(id=42, service="tg", country=187, operator="tmobile", phone="12015550123",
                                     status=status, price_cents=1250, created_at=T0, expires_at=T0 + 1200, sms=sms)
    fields.update(overrides)
    return p.ActivationView(**fields)  # type: ignore[arg-type]


SMS1 = p.SmsView(text="Telegram code 12345", code="12345", received_at=T0 + 30)
SMS2 = p.SmsView(text="Telegram code 67890\n", code="67890", received_at=T0 + 90)


def test_balance__two_decimals_in_major_units():
    assert p.balance_reply(1234) == p.Reply("ACCESS_BALANCE:12.34", "text/plain; charset=utf-8")
    assert p.balance_reply(5).body == "ACCESS_BALANCE:0.05"
    assert p.balance_reply(0).body == "ACCESS_BALANCE:0.00"


def test_number__id_and_digits_only_phone():
    # Given an activation whose phone was stored with a plus sign
    reply = p.number_reply(activation(phone="+1 201 555 0123"))
    # Then the reply is ACCESS_NUMBER:<id>:<digits> that int() parses
    assert reply.body == "ACCESS_NUMBER:42:12015550123"
    assert reply.content_type == p.TEXT


def test_number_v2__field_types_clients_validate():
    reply = p.number_v2_reply(activation(), currency_numeric=840, phone_code="1")
    assert reply.content_type == "application/json"
    assert reply.body == (
        '{"activationId":42,"phoneNumber":"12015550123","activationCost":12.5,"currency":840,"countryCode":"187",'
        '"countryPhoneCode":1,"canGetAnotherSms":true,"activationTime":"2027-01-15 08:00:00",'
        '"activationEndTime":"2027-01-15 08:20:00","activationOperator":"tmobile"}')


def test_set_status__each_code_to_its_access_string():
    replies = {code: p.set_status_reply(p.set_status_command({"status": code})).body
               for code in ("1", "3", "6", "8", "-1")}
    assert replies == {"1": "ACCESS_READY", "3": "ACCESS_RETRY_GET", "6": "ACCESS_ACTIVATION", "8": "ACCESS_CANCEL",
                       "-1": "ACCESS_CANCEL"}


@pytest.mark.parametrize("status", ["", "2", "7", "abc", "1.0"])
def test_set_status__unknown_code_is_bad_status(status):
    with pytest.raises(p.ProtocolError) as raised:
        p.set_status_command({"status": status})
    assert raised.value.reply == "BAD_STATUS"


@pytest.mark.parametrize(("status", "sms", "expected"), [
    (S.PENDING, (), "STATUS_WAIT_CODE"),
    (S.WAITING, (), "STATUS_WAIT_CODE"),
    (S.RECEIVED, (SMS1,), "STATUS_OK:12345"),
    (S.RECEIVED, (SMS1, SMS2), "STATUS_OK:67890"),
    (S.RETRY, (SMS1,), "STATUS_WAIT_RETRY:12345"),
    (S.FINISHED, (SMS1,), "STATUS_OK:12345"),
    (S.CANCELED, (), "STATUS_CANCEL"),
    (S.TIMEOUT, (), "STATUS_CANCEL"),
    (S.BANNED, (SMS1,), "STATUS_CANCEL"),
    (S.REVOKED, (), "STATUS_CANCEL"),
    (S.FAILED, (), "STATUS_CANCEL"),
])
def test_status__every_state_to_its_string(status, sms, expected):
    assert p.status_reply(activation(status, sms)) == p.Reply(expected)


def test_status__sms_without_a_code_shows_its_text_on_one_line():
    sms = p.SmsView(text="Your link:\nhttps://x.example/a", code=None, received_at=T0)
    assert p.status_reply(activation(S.RECEIVED, (sms,))).body == "STATUS_OK:Your link: https://x.example/a"


def test_status_v2__waiting_has_null_sms():
    reply = p.status_v2_reply(activation())
    assert reply == p.Reply('{"verificationType":1,"sms":null,"call":null}', "application/json")


def test_status_v2__last_sms_with_string_code_and_time():
    reply = p.status_v2_reply(activation(S.RECEIVED, (SMS1,)))
    assert reply.body == ('{"verificationType":1,"sms":{"dateTime":"2027-01-15 08:00:30","code":"12345",'
                          '"text":"Telegram code 12345"},"call":null}')


def test_status_v2__canceled_is_the_plain_cancel_string():
    assert p.status_v2_reply(activation(S.CANCELED)) == p.Reply("STATUS_CANCEL")


@pytest.mark.parametrize(("status", "sms", "expected"), [
    (S.WAITING, (), "STATUS_WAIT_CODE"),
    (S.RECEIVED, (SMS1, SMS2), "FULL_SMS:Telegram code 67890"),
    (S.TIMEOUT, (), "STATUS_CANCEL"),
])
def test_full_sms__last_text_without_trailing_newline(status, sms, expected):
    assert p.full_sms_reply(activation(status, sms)).body == expected


def test_active_activations__none_is_no_activations():
    assert p.active_activations_reply([activation(S.CANCELED), activation(S.PENDING, phone="")]) == p.Reply(
        "NO_ACTIVATIONS")


def test_active_activations__rows_with_string_status_and_flag():
    reply = p.active_activations_reply([activation(S.RECEIVED, (SMS1,)), activation(id=43)])
    assert reply.content_type == "application/json"
    assert reply.body == (
        '{"status":"success","activeActivations":['
        '{"activationId":42,"serviceCode":"tg","phoneNumber":"12015550123","activationCost":12.5,'
        '"activationStatus":"2","smsCode":"12345","smsText":"Telegram code 12345",'
        '"activationTime":"2027-01-15 08:00:00","countryCode":"187","canGetAnotherSms":"1"},'
        '{"activationId":43,"serviceCode":"tg","phoneNumber":"12015550123","activationCost":12.5,'
        '"activationStatus":"1","smsCode":null,"smsText":null,'
        '"activationTime":"2027-01-15 08:00:00","countryCode":"187","canGetAnotherSms":"1"}]}')


OFFERS = [
    p.OfferView("tg", 0, "mts", 50, 10),
    p.OfferView("tg", 0, "beeline", 45, 0),
    p.OfferView("tg", 187, "att", 125, 3),
    p.OfferView("wa", 0, "mts", 1000, 7),
]


def test_numbers_status__every_known_service_with_its_stock():
    reply = p.numbers_status_reply(["tg", "wa", "vk"], [o for o in OFFERS if o.country == 0])
    assert reply == p.Reply('{"tg_0":10,"wa_0":7,"vk_0":0}', "application/json")


def test_prices__cheapest_in_stock_and_total_count_per_pair():
    assert p.prices_reply(OFFERS).body == (
        '{"0":{"tg":{"cost":0.5,"count":10},"wa":{"cost":10.0,"count":7}},"187":{"tg":{"cost":1.25,"count":3}}}')


def test_prices__out_of_stock_pair_shows_its_cheapest_price_and_zero():
    assert p.prices_reply([p.OfferView("tg", 0, "beeline", 45, 0)]).body == '{"0":{"tg":{"cost":0.45,"count":0}}}'


def test_top_countries__keyed_by_country_most_stock_first():
    reply = p.top_countries_reply([o for o in OFFERS if o.service == "tg"], free_price=False)
    assert reply.body == ('{"0":{"country":0,"count":10,"price":0.5,"retail_price":0.5},'
                          '"187":{"country":187,"count":3,"price":1.25,"retail_price":1.25}}')


def test_top_countries__free_price_adds_the_price_map():
    reply = p.top_countries_reply([p.OfferView("tg", 0, "mts", 50, 10), p.OfferView("tg", 0, "b", 60, 2)],
                                  free_price=True)
    assert json.loads(reply.body)["0"]["freePriceMap"] == {"0.50": 10, "0.60": 2}


def test_top_countries__rate_is_the_countrys_last_day_once_an_outcome_is_known():
    # Given Russia with two offers whose numbers received 3 codes of 4 (and USA with none known)
    offers = [p.OfferView("tg", 0, "any", 50, 10, Tally(3, 2)), p.OfferView("tg", 0, "mts", 60, 2, Tally(1, 1)),
              p.OfferView("tg", 187, "any", 125, 3)]
    # Then Russia's row says 75.0 (percent) and the USA's has no rate
    reply = json.loads(p.top_countries_reply(offers, free_price=False).body)
    assert (reply["0"]["rate"], "rate" in reply["187"]) == (75.0, False)


def test_top_countries__no_service_is_every_service_keyed_by_code():
    reply = p.top_countries_by_service_reply(["wa", "tg", "vk"], OFFERS, free_price=False)
    assert reply.content_type == "application/json"
    assert reply.body == ('{"wa":{"0":{"country":0,"count":7,"price":10.0,"retail_price":10.0}},'
                          '"tg":{"0":{"country":0,"count":10,"price":0.5,"retail_price":0.5},'
                          '"187":{"country":187,"count":3,"price":1.25,"retail_price":1.25}}}')


def test_operators__country_operators_or_the_not_found_envelope():
    assert p.operators_reply({0: ["beeline", "mts"], 187: ["att"]}) == p.Reply(
        '{"status":"success","countryOperators":{"0":["beeline","mts"],"187":["att"]}}', "application/json")
    assert p.operators_reply({}) == p.Reply('{"status":"error","error":"OPERATORS_NOT_FOUND"}', "application/json")
    assert p.operators_reply({1: []}).body == '{"status":"error","error":"OPERATORS_NOT_FOUND"}'


def test_services_list__code_and_name_ascii_escaped():
    reply = p.services_list_reply([("tg", "Telegram"), ("vk", "ВКонтакте")])
    assert reply == p.Reply('{"status":"success","services":[{"code":"tg","name":"Telegram"},'
                            '{"code":"vk","name":"\\u0412\\u041a\\u043e\\u043d\\u0442\\u0430\\u043a\\u0442\\u0435"}]}',
                            "application/json")


def test_error__wrong_operator_from_the_catalog_is_its_protocol_string():
    error = e.InvalidInput("no partner has it", code="WRONG_OPERATOR", details={"field": "operator"})
    assert p.error_reply(error, 0.0) == p.Reply("WRONG_OPERATOR")


def test_countries__sms_activate_shape_ascii_escaped():
    reply = p.countries_reply([p.CountryView(0, "Russia", "Россия", "俄罗斯")])
    assert reply.body == ('{"0":{"id":0,"rus":"\\u0420\\u043e\\u0441\\u0441\\u0438\\u044f","eng":"Russia",'
                          '"chn":"\\u4fc4\\u7f57\\u65af","visible":1,"retry":1,"rent":0,"multiService":0}}')


@pytest.mark.parametrize(("cents", "text"), [(1250, "12.5"), (1000, "10.0"), (5, "0.05"), (1234, "12.34"),
                                             (0, "0.0"), (-50, "-0.5")])
def test_major__json_number_like_a_float_repr(cents, text):
    assert p.Major(cents).json() == text
    assert json.loads(text) == cents / 100


@pytest.mark.parametrize(("error", "expected"), [
    (e.Unauthenticated("x"), "BAD_KEY"),
    (e.AccountBlocked("x"), "ACCOUNT_INACTIVE"),
    (e.AccountInactive("x"), "ACCOUNT_INACTIVE"),
    (e.AccountUnverified("x"), "ACCOUNT_INACTIVE"),
    (e.AccountRestricted("x"), "NO_BALANCE"),
    (e.InsufficientBalance("x"), "NO_BALANCE"),
    (e.NotFound("x"), "NO_ACTIVATION"),
    (e.EarlyCancelDenied("x"), "EARLY_CANCEL_DENIED"),
    (e.IllegalTransition("x"), "BAD_STATUS"),
    (e.NoNumbers("x"), "NO_NUMBERS"),
    (e.PartnerError("x"), "ERROR_SQL"),
    (e.InvalidInput("x", details={"field": "service"}), "BAD_SERVICE"),
    (e.InvalidInput("x", details={"field": "country"}), "BAD_COUNTRY"),
    (e.InvalidInput("x", details={"field": "operator"}), "WRONG_OPERATOR"),
    (e.InvalidInput("x", details={"field": "max_price_cents"}), "ERROR_SQL"),
    (e.PriceAboveMax("x", details={"min_price_cents": 45}), "WRONG_MAX_PRICE:0.45"),
    (e.PriceAboveMax("x"), "WRONG_MAX_PRICE"),
    (e.PaymentError("card declined at 10.0.0.3"), "ERROR_SQL"),
])
def test_error__domain_error_to_exact_protocol_string(error, expected):
    reply = p.error_reply(error, now=T0)
    assert reply == p.Reply(expected)


def test_error__rate_limited_is_a_temporary_ban_until_a_time():
    reply = p.error_reply(e.RateLimited("slow down", retry_after_seconds=5), now=T0)
    assert reply == p.Reply("BANNED:2027-01-15 08:00:05", status=429, headers=(("Retry-After", "5"),))


def test_error__maintenance_is_error_sql_with_503():
    assert p.error_reply(e.Maintenance("back soon"), now=T0) == p.maintenance_reply()
    assert p.maintenance_reply() == p.Reply("ERROR_SQL", status=503, headers=(("Retry-After", "300"),))


@pytest.mark.parametrize(("raw", "expected"), [("", "WRONG_ACTIVATION_ID"), ("abc", "WRONG_ACTIVATION_ID"),
                                               ("0", "WRONG_ACTIVATION_ID"), ("-3", "WRONG_ACTIVATION_ID"),
                                               ("٣", "WRONG_ACTIVATION_ID")])
def test_activation_id__malformed_is_wrong_activation_id(raw, expected):
    with pytest.raises(p.ProtocolError) as raised:
        p.activation_id({"id": raw})
    assert raised.value.reply == expected


def test_activation_id__positive_integer():
    assert p.activation_id({"id": " 17 "}) == 17


@pytest.mark.parametrize("raw", ["1" * 40, "9" * 5000])
def test_activation_id__longer_than_any_id_we_issue_is_no_activation(raw):
    # A well-formed number no activation can have (DynamoDB keeps 38 digits; Python parses 4300): no such activation
    with pytest.raises(p.ProtocolError) as raised:
        p.activation_id({"id": raw})
    assert raised.value.reply == "NO_ACTIVATION"


@pytest.mark.parametrize("raw", ["1" * 5000, "1" * 40, "²", "٣", "１"])
def test_country__oversized_or_not_ascii_digits_is_bad_country(raw):
    with pytest.raises(p.ProtocolError) as raised:
        p.country_id({"country": raw}, [0, 1, 3, 187])
    assert raised.value.reply == "BAD_COUNTRY"


def test_service_and_country__unknown_values_name_the_parameter():
    with pytest.raises(p.ProtocolError) as service:
        p.service_code({"service": "zz"}, ["tg"])
    with pytest.raises(p.ProtocolError) as country:
        p.country_id({"country": "9999"}, [0, 187])
    assert (service.value.reply, country.value.reply) == ("BAD_SERVICE", "BAD_COUNTRY")


def test_country__absent_means_russia():
    assert p.country_id({}, [0, 187]) == 0


@pytest.mark.parametrize(("raw", "cents"), [("", None), ("0.5", 50), ("12", 1200), ("1.25", 125)])
def test_max_price__major_units_to_cents(raw, cents):
    assert p.max_price_cents({"maxPrice": raw}) == cents


@pytest.mark.parametrize("raw", ["abc", "1e3", "0.001", "-1", "0", "nan"])
def test_max_price__not_an_amount_is_error_sql(raw):
    with pytest.raises(p.ProtocolError) as raised:
        p.max_price_cents({"maxPrice": raw})
    assert raised.value.reply == "ERROR_SQL"


def test_operator_and_exceptions__any_is_no_preference_and_prefixes_are_digits():
    assert p.operator_name({"operator": "any"}) is None
    assert p.operator_name({"operator": "MTS,beeline"}) == "mts"
    assert p.phone_exceptions({"phoneException": "+7918, 7999 ,x1,"}) == ("7918", "7999")


def test_request_params__form_body_wins_over_query():
    params = p.request_params({"action": "getBalance", "api_key": "q"}, "application/x-www-form-urlencoded",
                              b"api_key=body&id=5")
    assert params == {"action": "getBalance", "api_key": "body", "id": "5"}


def test_request_params__multipart_body():
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\ngetStatus\r\n"
            b"--XyZ\r\nContent-Disposition: form-data; name=\"id\"\r\n\r\n7\r\n--XyZ--\r\n")
    params = p.request_params(None, "multipart/form-data; boundary=XyZ", body)
    assert params == {"action": "getStatus", "id": "7"}


def test_request_params__json_body_is_not_read():
    assert p.request_params({"action": "getBalance"}, "application/json", b'{"action":"getStatus"}') == {
        "action": "getBalance"}


def test_request_params__oversize_body_is_error_sql():
    with pytest.raises(p.ProtocolError) as raised:
        p.request_params(None, "application/x-www-form-urlencoded", b"a=" + b"x" * p.MAX_BODY_BYTES)
    assert raised.value.reply == "ERROR_SQL"


def test_for_operator__named_operator_or_partners_selling_any():
    offers = [p.OfferView("tg", 0, "mts", 50, 1), p.OfferView("tg", 0, "any", 60, 1), p.OfferView("tg", 0, "b", 1, 1)]
    assert [o.operator for o in p.for_operator(offers, "mts")] == ["mts", "any"]
    assert len(p.for_operator(offers, None)) == 3


def test_set_rent_status__a_cancel_the_partner_cannot_judge_yet_is_error_sql_to_try_again(monkeypatch):
    # Given a rental whose partner cannot say now whether an SMS came (the service waits: PARTNER_UNAVAILABLE)
    from types import SimpleNamespace

    from chalicelib import wiring
    from chalicelib.api import handler_rent
    from chalicelib.domain.accounts import Account, AccountStatus
    from chalicelib.domain.errors import PartnerError

    def cancel(account_id: str, rental_id: int) -> None:
        raise PartnerError("cannot tell now", code="PARTNER_UNAVAILABLE")

    monkeypatch.setattr(wiring, "rentals", lambda: SimpleNamespace(cancel=cancel))
    account = Account("acc_1", email="a@example.com", status=AccountStatus.ACTIVE, created_at=0.0)
    # When a bot cancels it over the rent API
    reply = handler_rent.set_rent_status(account, {"id": "5", "status": "2"})
    # Then it is told to try again (ERROR_SQL), not that there are no numbers
    assert json.loads(reply.body) == {"status": "error", "message": "ERROR_SQL"}
