"""Rentals over moto with an in-memory renting partner: money, the cancel window, extensions, SMS, the jobs."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.errors import (
    Conflict,
    IllegalTransition,
    InsufficientBalance,
    InvalidInput,
    NoNumbers,
    PartnerError,
    PriceAboveMax,
)
from chalicelib.domain.rental_state import RentalStatus, RentRequest
from chalicelib.providers.base import PartnerUnavailable
from chalicelib.store.rentals import Rental
from tests.unit.dynamo_calls import count_dynamodb_calls
from tests.unit.rental_support import FOUR_HOURS_CENTS, RentDesk, wipe_rentals

HOUR = 3600


@pytest.fixture
def rd(module_tables):
    wipe_rentals()
    return RentDesk(module_tables)


def test_rent__charges_the_partners_price_with_markup_once_and_holds_the_number(rd):
    user, rental = rd.renting(1000)
    assert rental.status == RentalStatus.ACTIVE.value and rental.phone
    assert rental.ends_at == rd.clock.now() + 4 * HOUR
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_CHARGE) == [-FOUR_HOURS_CENTS]
    assert rd.books_balance(user.account_id)


def test_rent__any_service_is_the_full_code(rd):
    _, rental = rd.renting(1000, service="full")
    assert rental.service == "full" and rd.rentals_partner.rents["1"].service == "full"


def test_rent__no_partner_number_ends_failed_and_refunds_in_full(rd):
    rd.rentals_partner.rent_failure = PartnerUnavailable("down")
    user, rental = rd.renting(1000)
    assert rental.status == RentalStatus.FAILED.value
    assert rd.balance(user.account_id) == 1000
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_REFUND) == [FOUR_HOURS_CENTS]


@pytest.mark.parametrize("hours", [0, 3, 673, 10**12])
def test_rent__a_duration_outside_4_hours_to_4_weeks_is_refused_writing_nothing(rd, hours):
    user = rd.account(1000)
    with pytest.raises(InvalidInput) as refused:
        rd.rent(user, hours=hours)
    assert refused.value.code == "INVALID_TIME"
    assert rd.balance(user.account_id) == 1000 and list(Rental.scan()) == []


@pytest.mark.parametrize(("fields", "code"), [({"service": "nope"}, "BAD_SERVICE"), ({"country": 99999}, "BAD_COUNTRY"),
                                              ({"operator": "Bad Op"}, "WRONG_OPERATOR")])
def test_rent__bad_input_is_refused_before_any_debit(rd, fields, code):
    user = rd.account(1000)
    with pytest.raises(InvalidInput) as refused:
        rd.rent(user, **fields)
    assert refused.value.code == code and rd.balance(user.account_id) == 1000


def test_rent__without_enough_balance_writes_nothing(rd):
    user = rd.account(FOUR_HOURS_CENTS - 1)
    with pytest.raises(InsufficientBalance):
        rd.rent(user)
    assert list(Rental.scan()) == [] and rd.rentals_partner.calls["rent"] == 0


def test_rent__max_price_below_the_price_is_refused_with_the_price(rd):
    user = rd.account(1000)
    with pytest.raises(PriceAboveMax) as refused:
        rd.rent(user, max_price_cents=FOUR_HOURS_CENTS - 1)
    assert refused.value.details["min_price_cents"] == FOUR_HOURS_CENTS


def test_rent__nothing_in_stock_is_no_numbers_without_debit(rd):
    rd.rentals_partner.stock = 0
    user = rd.account(1000)
    with pytest.raises(NoNumbers):
        rd.rent(user)
    assert rd.balance(user.account_id) == 1000


def test_rent__an_unverified_account_is_refused(rd):
    user = rd.account(1000, status=AccountStatus.UNVERIFIED)
    with pytest.raises(Exception) as refused:
        rd.rent(user)
    assert getattr(refused.value, "code", "") == "EMAIL_NOT_VERIFIED"


def test_cancel__in_the_window_before_any_sms_refunds_everything(rd):
    user, rental = rd.renting(1000)
    rd.clock.advance(19 * 60)
    canceled = rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert canceled.status == RentalStatus.CANCELED.value and rd.balance(user.account_id) == 1000
    assert rd.rentals_partner.calls["cancel"] == 1 and rd.books_balance(user.account_id)


def test_cancel__after_the_window_is_refused_and_the_charge_kept(rd):
    user, rental = rd.renting(1000)
    rd.clock.advance(20 * 60)
    with pytest.raises(IllegalTransition) as refused:
        rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert refused.value.code == "CANT_CANCEL"
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS


def test_cancel__an_sms_at_the_partner_not_yet_seen_makes_it_final(rd):
    user, rental = rd.renting(1000)
    rd.deliver(rental)
    with pytest.raises(IllegalTransition) as refused:
        rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert refused.value.code == "CANT_CANCEL" and rd.sms_texts(rental) == ["Your Telegram code is 12345"]
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS


def test_cancel__while_the_partner_cannot_say_whether_an_sms_arrived_waits_and_refunds_nothing(rd):
    # Given a rental in its cancel window whose partner is unreachable (an SMS may be waiting there)
    user, rental = rd.renting(1000)
    rd.rentals_partner.state_failure = PartnerUnavailable("timed out")
    # When the user cancels
    with pytest.raises(PartnerError) as refused:
        rd.rentals.cancel(user.account_id, int(rental.rental_id))
    # Then the cancel is refused for now, the charge kept, and the partner not told to cancel
    assert refused.value.code == "PARTNER_UNAVAILABLE"
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS and rd.rentals_partner.calls["cancel"] == 0
    # And once the partner answers again (no SMS), the same cancel refunds everything
    rd.rentals_partner.state_failure = None
    rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert rd.balance(user.account_id) == 1000


def test_cancel__a_window_set_to_zero_makes_every_rental_final(module_tables):
    rd = RentDesk(module_tables, rental_cancel_window_seconds=0)
    user, rental = rd.renting(1000)
    with pytest.raises(IllegalTransition):
        rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS


def test_cancel__twice_refunds_once(rd):
    user, rental = rd.renting(1000)
    rd.rentals.cancel(user.account_id, int(rental.rental_id))
    with pytest.raises(IllegalTransition):
        rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_REFUND) == [FOUR_HOURS_CENTS]


def test_finish__ends_it_early_without_refund_and_tells_the_partner(rd):
    user, rental = rd.renting(1000)
    finished = rd.rentals.finish(user.account_id, int(rental.rental_id))
    assert finished.status == RentalStatus.FINISHED.value and rd.rentals_partner.calls["finish"] == 1
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS


def test_rental__another_users_rental_is_not_found(rd):
    _, rental = rd.renting(1000)
    stranger = rd.account(1000)
    with pytest.raises(Exception) as refused:
        rd.rentals.finish(stranger.account_id, int(rental.rental_id))
    assert getattr(refused.value, "code", "") == "NOT_FOUND"


def test_extend__charges_the_partners_price_with_markup_and_moves_the_end(rd):
    user, rental = rd.renting(1000)
    assert rd.rentals.extension_price(user.account_id, int(rental.rental_id), 24) == 180  # 24 × 5 × 1.5
    extended = rd.rentals.extend(user.account_id, int(rental.rental_id), 24)
    assert extended.hours == 28 and extended.ends_at == rental.ends_at + 24 * HOUR
    assert extended.paid_cents == FOUR_HOURS_CENTS + 180 and extended.pending_extension is None
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_CHARGE) == [-FOUR_HOURS_CENTS, -180]


def test_extend__refused_by_the_partner_gives_the_charge_back_once(rd):
    user, rental = rd.renting(1000)
    rd.rentals_partner.extend_failure = PartnerUnavailable("down")
    with pytest.raises(PartnerError) as refused:
        rd.rentals.extend(user.account_id, int(rental.rental_id), 24)
    assert refused.value.code == "EXTENSION_FAILED"
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_REFUND) == [180]
    again = Rental.get(int(rental.rental_id))
    assert again.pending_extension is None and again.hours == 4


def test_extend__past_four_weeks_in_all_is_refused_writing_nothing(rd):
    user, rental = rd.renting(1000)
    with pytest.raises(InvalidInput) as refused:
        rd.rentals.extend(user.account_id, int(rental.rental_id), 670)
    assert refused.value.code == "INVALID_TIME" and rd.rentals_partner.calls["extend"] == 0


def test_extend__a_finished_rental_cannot_be_extended(rd):
    user, rental = rd.renting(1000)
    rd.rentals.finish(user.account_id, int(rental.rental_id))
    with pytest.raises(Conflict):
        rd.rentals.extend(user.account_id, int(rental.rental_id), 4)


def test_extend__a_crash_while_the_partner_is_asked_is_refunded_once_by_the_job(rd):
    user, rental = rd.renting(1000)
    rd.rentals_partner.extend_failure = SystemExit("killed")
    with pytest.raises(SystemExit):
        rd.rentals.extend(user.account_id, int(rental.rental_id), 24)
    with pytest.raises(Conflict) as blocked:  # nothing else may move it meanwhile
        rd.rentals.cancel(user.account_id, int(rental.rental_id))
    assert blocked.value.code == "EXTENSION_IN_PROGRESS"
    assert rd.rentals.upkeep.refund_stuck_extensions() == 0  # too young: the partner may still answer
    rd.clock.advance(rd.settings.pending_resolve_after_seconds + 1)
    assert rd.rentals.upkeep.refund_stuck_extensions() == 1
    assert rd.rentals.upkeep.refund_stuck_extensions() == 0
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_REFUND) == [180]
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS and rd.books_balance(user.account_id)


def test_rent__a_crash_after_the_debit_is_refunded_once_by_the_job(rd):
    user = rd.account(1000)
    rd.rentals_partner.rent_failure = SystemExit("killed")
    with pytest.raises(SystemExit):
        rd.rent(user)
    rd.clock.advance(rd.settings.pending_resolve_after_seconds + 1)
    assert rd.rentals.upkeep.resolve_stale_pending() == 1
    assert rd.rentals.upkeep.resolve_stale_pending() == 0
    assert rd.balance(user.account_id) == 1000
    assert [r.status for r in Rental.scan()] == [RentalStatus.FAILED.value]


def test_sms__each_is_recorded_once_and_fires_the_users_webhook(rd):
    user = rd.account(1000, webhook_url="https://hooks.example.com/sms")
    rental = rd.rent(user)
    for text in ("Your Telegram code is 11111", "Your Telegram code is 22222"):
        rd.deliver(rental, text)
        sms = rd.rentals_partner.rents[str(rental.partner_rent_id)].sms[-1]
        for _ in range(2):  # a push repeated, then the same SMS read by a look
            rd.rentals.record_push(rd.partner.name, str(rental.partner_rent_id), sms.text, sms.sender, sms.date)
    looked = rd.look(user.account_id, rental)
    assert looked.sms_count == 2 and rd.sms_texts(rental) == ["Your Telegram code is 11111",
                                                              "Your Telegram code is 22222"]
    events = rd.webhook_events()
    assert [e["event"] for e in events] == ["rental.sms_received"] * 2
    assert sorted(e["sms"]["code"] for e in events) == ["11111", "22222"]


def test_sms__after_the_rental_ended_changes_nothing(rd):
    user, rental = rd.renting(1000)
    rd.rentals.finish(user.account_id, int(rental.rental_id))
    rd.rentals.record_push(rd.partner.name, str(rental.partner_rent_id), "late", None, "d")
    assert rd.sms_texts(rental) == []


def test_look__asks_the_partner_at_most_once_per_refresh_interval(rd):
    user, rental = rd.renting(1000)
    rd.clock.advance(rd.settings.status_refresh_min_seconds)
    before = rd.rentals_partner.calls["state"]
    for _ in range(3):
        rd.rentals.get(user.account_id, int(rental.rental_id))
    assert rd.rentals_partner.calls["state"] == before + 1


def test_poll__one_list_call_a_cycle_reads_only_rentals_with_new_sms(rd):
    user = rd.account(5000)
    rentals = [rd.rent(user) for _ in range(3)]
    rd.deliver(rentals[1])
    before = rd.rentals_partner.calls["state"]
    assert rd.rentals.upkeep.poll() == 1
    assert rd.rentals_partner.calls["listed"] == 1 and rd.rentals_partner.calls["state"] == before + 1
    assert rd.rentals.upkeep.poll() == 0 and rd.rentals_partner.calls["state"] == before + 1


def test_poll__a_list_without_counts_reads_no_rental(module_tables):
    rd = RentDesk(module_tables)
    rd.rentals_partner.lists_counts = False
    user = rd.account(5000)
    rental = rd.rent(user)
    rd.deliver(rental)
    before = rd.rentals_partner.calls["state"]
    assert rd.rentals.upkeep.poll() == 0 and rd.rentals_partner.calls["state"] == before


def test_expire__at_its_end_it_expires_without_refund(rd):
    user, rental = rd.renting(1000)
    rd.clock.advance(4 * HOUR - 1)
    assert rd.rentals.upkeep.expire_overdue() == 0
    rd.clock.advance(2)
    assert rd.rentals.upkeep.expire_overdue() == 1
    assert Rental.get(int(rental.rental_id)).status == RentalStatus.EXPIRED.value
    assert rd.balance(user.account_id) == 1000 - FOUR_HOURS_CENTS


def test_sms__a_pushed_one_costs_four_dynamodb_calls_and_no_partner_call(rd):
    # Given an active rental and an SMS its partner pushes (what POST /v1/partners/{name}/push hands over)
    _, rental = rd.renting(1000)
    partner_calls = sum(rd.rentals_partner.calls.values())
    # When it is recorded
    with count_dynamodb_calls() as calls:
        rd.rentals.record_push(rd.partner.name, str(rental.partner_rent_id), "Your code is 12345", "Telegram", "d1")
    # Then: find the rental by the partner's id and read it, read the account for its webhook, one transaction
    assert calls.by_operation() == {"Query": 1, "GetItem": 2, "TransactWriteItems": 1}
    assert sum(rd.rentals_partner.calls.values()) == partner_calls


def test_rent__the_same_idempotency_key_returns_the_first_rental_charged_once(rd):
    user = rd.account(1000)
    first = rd.rentals.rent(user, RentRequest("tg", 0, 4), "retry-1")
    again = rd.rentals.rent(user, RentRequest("tg", 0, 4), "retry-1")
    assert again.rental_id == first.rental_id and rd.rentals_partner.calls["rent"] == 1
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_CHARGE) == [-FOUR_HOURS_CENTS]


@pytest.mark.parametrize(("key", "code"), [("retry-2", "IDEMPOTENCY_KEY_REUSED"), ("bad key\u00e9", "INVALID_INPUT")])
def test_rent__an_idempotency_key_reused_for_another_rent_or_malformed_is_refused(rd, key, code):
    user = rd.account(1000)
    rd.rentals.rent(user, RentRequest("tg", 0, 4), "retry-2")
    with pytest.raises(InvalidInput) as refused:
        rd.rentals.rent(user, RentRequest("tg", 0, 24), key)
    assert refused.value.code == code
    assert rd.kinds(user.account_id, LedgerKind.RENTAL_CHARGE) == [-FOUR_HOURS_CENTS]


def test_reconcile__rental_books_kept_by_the_service_are_clean_and_a_changed_rental_is_reported(rd):
    from chalicelib.services.money.reconcile import Reconciler

    # Given an account whose rentals went every way: kept and extended, canceled, failed, an extension refused
    user = rd.account(5000)
    kept = rd.rent(user)
    rd.rentals.extend(user.account_id, int(kept.rental_id), 24)
    rd.rentals.cancel(user.account_id, int(rd.rent(user).rental_id))
    refused = rd.rent(user)
    rd.rentals_partner.extend_failure = PartnerUnavailable("down")
    with pytest.raises(PartnerError):
        rd.rentals.extend(user.account_id, int(refused.rental_id), 4)
    rd.rentals_partner.rent_failure = PartnerUnavailable("down")
    rd.rent(user)
    rd.clock.advance(1)
    reconciler = Reconciler(None, rd.clock, grace_seconds=0)
    # Then reconciliation finds nothing wrong with them
    assert [d.check for d in reconciler.run([user.account_id]).discrepancies if "rental" in d.check] == []
    # And a rental whose kept amount no longer matches its charges is reported
    Rental(int(kept.rental_id)).update(actions=[Rental.paid_cents.set(1)])
    found = reconciler.run([user.account_id]).discrepancies
    assert [(d.check, d.ref) for d in found] == [("rental_charge_mismatch", str(kept.rental_id))]
