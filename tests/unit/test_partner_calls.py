"""Finishes and cancels a partner could not take are queued and made later, once; refusals are not repeated."""
from __future__ import annotations

import json

from chalicelib.providers.base import PartnerRejected, PartnerUnavailable
from chalicelib.services.platform.partner_calls import GIVEN_UP_METRIC, PartnerAction, PartnerCalls, Told
from chalicelib.store.activations import Activation, PartnerCall
from tests.fake_partner import FakePartner
from tests.unit.activation_support import Desk


class FlakyPartner(FakePartner):
    """A partner whose finish and cancel time out while `down`, or are refused while `refusing`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refusing = False

    def finish(self, partner_activation_id: str) -> None:
        self._maybe_fail("finish")
        super().finish(partner_activation_id)

    def cancel(self, partner_activation_id: str) -> None:
        self._maybe_fail("cancel")
        super().cancel(partner_activation_id)

    def _maybe_fail(self, action: str) -> None:
        if self.down:
            self.calls[f"{action}_failed"] += 1
            raise PartnerUnavailable(f"{self.name}: timed out")
        if self.refusing:
            self.calls[f"{action}_refused"] += 1
            raise PartnerRejected(f"{self.name}: BAD_STATUS")


def _queued(partner: FakePartner) -> list[PartnerCall]:
    return [c for c in PartnerCall.scan() if c.partner == partner.name]


def test_finish__a_partner_that_cannot_be_reached_is_told_by_the_job_once_it_is_back(moto_tables):
    # Given a number with its code, and its partner down when the user finishes
    partner = FlakyPartner()
    desk = Desk(moto_tables, [partner])
    user, activation = desk.waiting_number()
    desk.deliver(activation, "Your Telegram code is 55555")
    desk.look(user.account_id, activation)
    partner.down = True
    # When the user finishes
    finished = desk.service.finish(user.account_id, int(activation.activation_id))
    # Then the user is done at once, and the finish waits in the queue
    assert finished.status == "FINISHED"
    [queued] = _queued(partner)
    assert (queued.action, queued.status, str(queued.due).partition("#")[0]) == ("finish", "pending", "due")
    # And the job, before the backoff is over, does not ask yet; after it, while still down, backs off again
    assert desk.service.retry_partner_calls() == 0 and partner.calls["finish_failed"] == 1
    desk.clock.advance(30)
    assert desk.service.retry_partner_calls() == 0 and partner.calls["finish_failed"] == 2
    # And once the partner is back, the next due run tells it, once
    partner.down = False
    desk.clock.advance(60)
    assert desk.service.retry_partner_calls() == 1
    desk.clock.advance(3600)
    assert desk.service.retry_partner_calls() == 0
    assert partner.calls["finish"] == 1
    assert partner.rented[activation.partner_activation_id].status.value == "FINISHED"
    assert PartnerCall.get(queued.call_id).status == "done"


def test_cancel__the_user_is_refunded_while_the_partner_is_down_and_the_cancel_follows(moto_tables):
    # Given a waiting number past the early-cancel window, and its partner down
    partner = FlakyPartner()
    desk = Desk(moto_tables, [partner])
    user, activation = desk.waiting_number(balance_cents=1000)
    desk.past_cancel_window()
    partner.down = True
    # When the user cancels
    canceled = desk.service.cancel(user.account_id, int(activation.activation_id))
    # Then the money is back at once, and the partner's cancel is made by the job when it answers again
    assert canceled.status == "CANCELED" and desk.balance(user.account_id) == 1000
    partner.down = False
    desk.clock.advance(30)
    assert desk.service.retry_partner_calls() == 1
    assert partner.rented[activation.partner_activation_id].status.value == "CANCELED"


def test_tell__a_partner_that_refuses_is_not_asked_again(moto_tables):
    # Given a partner that answers that the activation cannot be canceled (it ended there already)
    partner = FlakyPartner()
    desk = Desk(moto_tables, [partner])
    _, activation = desk.waiting_number()
    partner.refusing = True
    # When we tell it to cancel / Then that is its answer, and nothing is queued to ask again
    told = desk.service.lifecycle.calls.tell(partner, activation.partner_activation_id, PartnerAction.CANCEL)
    assert told is Told.REFUSED
    assert _queued(partner) == []


def test_retry_due__a_call_the_partner_refuses_on_retry_is_settled(moto_tables):
    # Given a queued cancel, and the partner refusing it when it is back (the number ended there meanwhile)
    partner = FlakyPartner()
    desk = Desk(moto_tables, [partner])
    _, activation = desk.waiting_number()
    partner.down = True
    desk.service.lifecycle.tell_partner(Activation.get(activation.activation_id), PartnerAction.CANCEL)
    partner.down, partner.refusing = False, True
    # When the job runs twice, well apart
    for _ in range(2):
        desk.clock.advance(3600)
        desk.service.retry_partner_calls()
    # Then it asked once and settled the call
    assert partner.calls["cancel_refused"] == 1
    assert [c.status for c in _queued(partner)] == ["done"]


def test_retry_due__gives_up_after_its_attempts_and_stops_asking(moto_tables, capsys):
    # Given a partner that never answers and a queue that tries three times in all
    partner = FlakyPartner()
    desk = Desk(moto_tables, [partner])
    _, activation = desk.waiting_number()
    calls = PartnerCalls({partner.name: partner}, desk.clock, desk.settings.write_shards, max_attempts=3,
                         first_backoff_seconds=10)
    partner.down = True
    assert calls.tell(partner, activation.partner_activation_id, PartnerAction.CANCEL) is Told.QUEUED
    # When the job runs long after every backoff, several times
    for _ in range(5):
        desk.clock.advance(3600)
        calls.retry_due()
    # Then the partner was asked three times in all, and the call is marked failed for an operator
    assert partner.calls["cancel_failed"] == 3
    [given_up] = _queued(partner)
    assert (given_up.status, given_up.attempts, given_up.due) == ("failed", 3, None)
    # And the metric the PartnerCallsGivenUp alarm watches counted it once
    assert _emitted(capsys.readouterr().out, GIVEN_UP_METRIC) == [[1.0]]


def _emitted(stdout: str, metric: str) -> list[list[float]]:
    """Values of `metric` in the CloudWatch embedded-metric lines Powertools printed."""
    blobs = [json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')]
    return [blob[metric] for blob in blobs if metric in blob]
