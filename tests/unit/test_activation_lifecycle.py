"""What users and jobs do to an activation after ordering: cancel, finish, another SMS, ban, expire, revoke."""
from __future__ import annotations

import pytest

from chalicelib.domain.errors import EarlyCancelDenied, IllegalTransition, NotFound, PartnerError
from chalicelib.providers.base import PartnerStatus, PartnerUnavailable
from chalicelib.store.activations import BadNumber, bad_number_owner
from tests.unit.activation_support import Desk

LIFETIME_PASSED = 1201  # seconds: the Desk's numbers live 20 minutes


def test_cancel__refunds_in_full_once_and_tells_the_partner(desk):
    # Given a waiting number past the early-cancel window
    user, activation = desk.waiting_number(1000)
    desk.past_cancel_window()
    # When the user cancels
    canceled = desk.service.cancel(user.account_id, int(activation.activation_id))
    # Then the price is back, the partner knows, and a second cancel changes nothing
    assert canceled.status == "CANCELED"
    assert desk.balance(user.account_id) == 1000
    assert desk.partner.rented[activation.partner_activation_id].status is PartnerStatus.CANCELED
    with pytest.raises(IllegalTransition):
        desk.service.cancel(user.account_id, int(activation.activation_id))
    assert len(desk.refunds(user.account_id)) == 1


def test_cancel__inside_the_early_window_is_denied_with_when_it_opens(desk):
    # Given a number issued a minute ago (cancel opens after two)
    user, activation = desk.waiting_number(1000)
    desk.clock.advance(60)
    # When the user cancels
    with pytest.raises(EarlyCancelDenied) as denied:
        desk.service.cancel(user.account_id, int(activation.activation_id))
    # Then they learn when they may, the money stays charged and the partner was not told
    assert denied.value.details == {"cancel_available_at": "2027-01-15T08:02:00Z"}
    assert desk.balance(user.account_id) == 940
    assert desk.partner.calls["cancel"] == 0


def test_cancel__an_sms_found_at_the_partner_makes_the_charge_final(desk):
    # Given the SMS reached the partner but not us yet
    user, activation = desk.waiting_number(1000)
    desk.past_cancel_window()
    desk.deliver(activation, "Your Telegram code is 12345")
    # When the user cancels
    with pytest.raises(IllegalTransition):
        desk.service.cancel(user.account_id, int(activation.activation_id))
    # Then the SMS is now theirs and the charge stands
    shown = desk.service.lifecycle.load(int(activation.activation_id))
    assert (shown.status, [s.code for s in shown.sms]) == ("RECEIVED", ["12345"])
    assert desk.balance(user.account_id) == 940


def test_cancel__someone_elses_activation_is_not_found(desk):
    # Given an activation of another user
    _owner, activation = desk.waiting_number(1000)
    other = desk.account(1000)
    desk.past_cancel_window()
    # When the other user cancels it
    with pytest.raises(NotFound):
        desk.service.cancel(other.account_id, int(activation.activation_id))
    # Then nothing happened to it
    assert desk.status_of(activation) == "WAITING"


def test_cancel__with_refunds_switched_off_keeps_the_charge(moto_tables):
    # Given an operator who switched refunds off (agreement 6.4)
    desk = Desk(moto_tables, refunds_enabled=False)
    user, activation = desk.waiting_number(1000)
    desk.past_cancel_window()
    # When the user cancels
    desk.service.cancel(user.account_id, int(activation.activation_id))
    # Then the activation ends but the charge stays
    assert desk.balance(user.account_id) == 940
    assert desk.refunds(user.account_id) == []


def test_finish__after_the_code_is_final_and_tells_the_partner(desk):
    # Given a number whose SMS arrived
    user, activation = desk.waiting_number(1000)
    desk.received(user, activation)
    # When the user finishes it
    finished = desk.service.finish(user.account_id, int(activation.activation_id))
    # Then it is finished, paid, and the partner knows
    assert finished.status == "FINISHED"
    assert desk.balance(user.account_id) == 940
    assert desk.partner.rented[activation.partner_activation_id].status is PartnerStatus.FINISHED


def test_finish__before_any_sms_is_refused(desk):
    # Given a waiting number
    user, activation = desk.waiting_number(1000)
    # When the user finishes it
    with pytest.raises(IllegalTransition):
        desk.service.finish(user.account_id, int(activation.activation_id))
    # Then it still waits
    assert desk.status_of(activation) == "WAITING"


def test_retry__another_sms_is_free_and_arrives_on_the_same_number(desk):
    # Given a received code
    user, activation = desk.waiting_number(1000)
    desk.received(user, activation, "Your Telegram code is 11111")
    # When the user asks for another SMS and it comes
    retrying = desk.service.retry(user.account_id, int(activation.activation_id))
    shown = desk.received(user, activation, "Your Telegram code is 22222")
    # Then the partner was asked, both codes are shown, and nothing more was charged
    assert retrying.status == "RETRY"
    assert desk.partner.calls["request_another_sms"] == 1
    assert (shown.status, [s.code for s in shown.sms]) == ("RECEIVED", ["11111", "22222"])
    assert desk.balance(user.account_id) == 940


def test_retry__partner_down_leaves_the_activation_as_it_was(desk):
    # Given a received code and a partner that cannot be reached
    user, activation = desk.waiting_number(1000)
    desk.received(user, activation, "Your Telegram code is 11111")
    desk.partner.request_another_sms = _raise(PartnerUnavailable("down"))  # type: ignore[method-assign]
    # When the user asks for another SMS
    with pytest.raises(PartnerError):
        desk.service.retry(user.account_id, int(activation.activation_id))
    # Then they can try again: the activation still shows the code
    assert desk.status_of(activation) == "RECEIVED"


def test_ban__before_any_sms_refunds_and_remembers_the_number(desk):
    # Given a waiting number the user found already used on Telegram
    user, activation = desk.waiting_number(1000)
    desk.past_cancel_window()
    # When they report it
    banned = desk.service.ban(user.account_id, int(activation.activation_id))
    # Then they are refunded, the partner canceled it, and the number is on their list for Telegram
    assert banned.status == "BANNED"
    assert desk.balance(user.account_id) == 1000
    assert desk.partner.rented[activation.partner_activation_id].status is PartnerStatus.CANCELED
    assert [b.phone for b in BadNumber.query(bad_number_owner(user.account_id, "tg"))] == [activation.phone]


def test_ban__inside_the_early_window_is_denied_in_words_of_a_report(desk):
    # Given a number without an SMS issued a minute ago
    user, activation = desk.waiting_number(1000)
    desk.clock.advance(60)
    # When the user reports it
    with pytest.raises(EarlyCancelDenied) as denied:
        desk.service.ban(user.account_id, int(activation.activation_id))
    # Then the refusal speaks of reporting (not canceling), says when, and the charge stays
    assert "reported" in str(denied.value) and "cancel" not in str(denied.value).split("(")[0]
    assert denied.value.details == {"cancel_available_at": "2027-01-15T08:02:00Z"}
    assert desk.balance(user.account_id) == 940


def test_ban__after_the_sms_keeps_the_charge(desk):
    # Given a number whose code arrived
    user, activation = desk.waiting_number(1000)
    desk.received(user, activation)
    # When the user reports it
    banned = desk.service.ban(user.account_id, int(activation.activation_id))
    # Then it is banned but the charge was final with the SMS
    assert banned.status == "BANNED"
    assert desk.balance(user.account_id) == 940


def test_expire_overdue__times_out_and_refunds_a_number_without_sms(desk):
    # Given a waiting number past its 20-minute lifetime
    user, activation = desk.waiting_number(1000)
    desk.clock.advance(LIFETIME_PASSED)
    # When the expiry job runs (twice, as jobs may)
    ended = desk.service.expire_overdue_activations()
    desk.service.expire_overdue_activations()
    # Then it timed out, was refunded once, and the partner canceled it
    assert ended == 1
    assert desk.status_of(activation) == "TIMEOUT"
    assert desk.balance(user.account_id) == 1000
    assert len(desk.refunds(user.account_id)) == 1
    assert desk.partner.rented[activation.partner_activation_id].status is PartnerStatus.CANCELED


def test_expire_overdue__finishes_a_number_that_got_its_sms(desk):
    # Given a number with its code, past its lifetime
    user, activation = desk.waiting_number(1000)
    desk.received(user, activation)
    desk.clock.advance(LIFETIME_PASSED)
    # When the expiry job runs
    desk.service.expire_overdue_activations()
    # Then it is finished and paid
    assert desk.status_of(activation) == "FINISHED"
    assert desk.balance(user.account_id) == 940


def test_expire_overdue__leaves_live_numbers_alone(desk):
    # Given a number with ten minutes to go
    _, activation = desk.waiting_number(1000)
    desk.clock.advance(600)
    # When the expiry job runs
    desk.service.expire_overdue_activations()
    # Then it still waits
    assert desk.status_of(activation) == "WAITING"


def test_expire_overdue__also_ends_numbers_of_a_partner_no_longer_configured(moto_tables):
    # Given a waiting number from a partner the operator has since removed from the settings
    user, activation = Desk(moto_tables).waiting_number(1000)
    after = Desk(moto_tables)
    after.clock.advance(LIFETIME_PASSED)
    # When the expiry job of the new configuration runs past the number's lifetime
    after.service.expire_overdue_activations()
    # Then the user is not left waiting with their money held: timed out and refunded
    assert after.status_of(activation) == "TIMEOUT"
    assert after.balance(user.account_id) == 1000


def test_revoke__admin_ends_a_waiting_number_with_a_refund(desk):
    # Given a waiting number
    user, activation = desk.waiting_number(1000)
    # When an admin revokes it (no early window for admins)
    revoked = desk.service.revoke(int(activation.activation_id))
    # Then it is revoked and refunded
    assert revoked.status == "REVOKED"
    assert desk.balance(user.account_id) == 1000


def _raise(error: Exception):
    def call(*_: object) -> None:
        raise error
    return call
