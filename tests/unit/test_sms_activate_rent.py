"""The SMS-Activate rent adapter against canned partner replies: the shapes clones send, errors, idempotent ends."""
from __future__ import annotations

import json

import pytest

from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.providers.rentals import RentListed, RentSms
from chalicelib.providers.sms_activate import SmsActivatePartner
from chalicelib.providers.transport import HttpPolicy
from tests.canned_http import Asked, Canned, CannedPartner, canned_partner


class Replies:
    """Each action's next canned body, served over HTTP by a loopback partner that records what it was asked."""

    def __init__(self) -> None:
        self.bodies: dict[str, list[str]] = {}
        self.server: CannedPartner | None = None

    def answer(self, asked: Asked) -> Canned:
        body = self.bodies[asked.query["action"]].pop(0)
        return Canned(body.encode(), headers=(("Content-Type", "application/json"),))

    @property
    def asked(self) -> list[dict[str, str]]:
        """The query parameters of each request, as they came over the wire."""
        assert self.server is not None
        return [a.query for a in self.server.asked]


@pytest.fixture
def rentals():  # type: ignore[no-untyped-def]
    replies = Replies()
    with canned_partner(replies.answer) as server:
        replies.server = server

        def rentals_answering(**bodies: str | list[str]):  # type: ignore[no-untyped-def]
            replies.bodies = {k: v if isinstance(v, list) else [v] for k, v in bodies.items()}
            adapter = SmsActivatePartner("p", server.url, "key", policy=HttpPolicy(read_retries=0),
                                         sleep=lambda _: None)
            return adapter.rentals, replies
        yield rentals_answering


def test_offers__quant_as_a_number_or_current_and_total_and_hours_sent_as_rent_time(rentals):
    reply = {"countries": {"0": 0}, "operators": {"0": "any"}, "currency": 840,
             "services": {"tg": {"cost": 1.5, "quant": 20}, "full": {"cost": 4, "quant": {"current": 7, "total": 9}}}}
    adapter, wire = rentals(getRentServicesAndCountries=json.dumps(reply))
    offers = {o.service: (o.cost_minor, o.count) for o in adapter.offers(0, 24, "mts")}
    assert offers == {"tg": (150, 20), "full": (400, 7)}
    assert wire.asked[0]["rent_time"] == "24" and wire.asked[0]["operator"] == "mts"


def test_rent__the_phone_and_the_partners_id_and_our_push_url(rentals):
    adapter, wire = rentals(getRentNumber=json.dumps(
        {"status": "success", "phone": {"id": 5, "endDate": "2027-01-01T00:00:00", "number": "+79001234567"}}))
    rented = adapter.rent("tg", 0, 4, None, "https://us.example/v1/partners/p/push")
    assert (rented.partner_rent_id, rented.phone) == ("5", "79001234567")
    assert wire.asked[0]["url"] == "https://us.example/v1/partners/p/push"


@pytest.mark.parametrize(("body", "error"), [
    ('{"status":"error","message":"NO_NUMBERS"}', PartnerNoNumbers), ("NO_NUMBERS", PartnerNoNumbers),
    ('{"status":"error","message":"NO_BALANCE"}', PartnerUnavailable),
    ('{"status":"error","message":"BAD_SERVICE"}', PartnerRejected),
    ('<html>502</html>', PartnerUnavailable),
])
def test_rent__refusals_are_the_partner_errors_routing_understands(rentals, body, error):
    adapter, _ = rentals(getRentNumber=body)
    with pytest.raises(error):
        adapter.rent("tg", 0, 4, None, None)


def test_state__waiting_ended_and_a_page_of_sms_oldest_first(rentals):
    page = {"status": "success", "quantity": "3", "values": {
        "0": {"phoneFrom": "Telegram", "text": "code 1", "service": "tg", "date": "2027-01-01 00:00:01"},
        "1": {"phoneFrom": "", "text": "code 2", "service": "tg", "date": "2027-01-01 00:00:02"}}}
    adapter, wire = rentals(getRentStatus=['{"status":"error","message":"STATUS_WAIT_CODE"}',
                                              '{"status":"error","message":"STATUS_FINISH"}', json.dumps(page)])
    assert adapter.state("5", 0, 2).open and not adapter.state("5", 0, 2).open
    shown = adapter.state("5", 1, 2)
    assert shown.quantity == 3 and shown.sms == (RentSms("code 1", "Telegram", "2027-01-01 00:00:01"),
                                                 RentSms("code 2", None, "2027-01-01 00:00:02"))
    assert [a["page"] for a in wire.asked] == ["1", "1", "2"]  # 1-based on the wire


def test_listed__with_or_without_counts_and_none_open(rentals):
    adapter, _ = rentals(getRentList=['{"status":"success","values":{"0":{"id":"5","phone":"7900","quantity":2}}}',
                                      '{"status":"success","values":[{"id":6,"phone":"7901"}]}',
                                      '{"status":"error","message":"NO_NUMBERS"}'])
    assert adapter.listed() == [RentListed("5", 2)]
    assert adapter.listed() == [RentListed("6", None)]
    assert adapter.listed() == []


def test_finish_and_cancel__repeating_one_is_not_an_error_but_a_late_cancel_is(rentals):
    adapter, _ = rentals(setRentStatus=['{"status":"error","message":"ALREADY_FINISH"}',
                                        '{"status":"error","message":"ALREADY_CANCEL"}',
                                        '{"status":"error","message":"CANT_CANCEL"}'])
    adapter.finish("5")
    adapter.cancel("5")
    with pytest.raises(PartnerRejected):
        adapter.cancel("5")


def test_extension__price_in_price_or_cost_and_the_extension_sent_as_rent_time(rentals):
    adapter, wire = rentals(getContinueRentPriceNumber=['{"status":"success","price":1.2,"currency":840}',
                                                           '{"status":"success","cost":"0.5"}'],
                               continueRentNumber='{"status":"success","phone":{"id":5,"endDate":"x","number":"79"}}')
    assert adapter.extend_price_minor("5", 24) == 120 and adapter.extend_price_minor("5", 4) == 50
    adapter.extend("5", 24)
    assert wire.asked[-1] == {"api_key": "key", "action": "continueRentNumber", "id": "5", "rent_time": "24"}
