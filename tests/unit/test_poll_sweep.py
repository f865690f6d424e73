"""The poll job's sweep: deployed, one invocation a minute polls every few seconds while numbers wait."""
from __future__ import annotations

from chalicelib.providers.base import PartnerActivationState, PartnerUnavailable
from chalicelib.store.activations import Activation
from tests.fake_partner import FakePartner
from tests.unit.activation_support import Desk


class SleepLog:
    """Stands in for time.sleep: moves the desk's clock and runs what the world does meanwhile."""

    def __init__(self, desk: Desk, meanwhile: dict[int, object] | None = None) -> None:
        self.desk = desk
        self.slept: list[float] = []
        self.meanwhile = meanwhile or {}

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.desk.clock.advance(seconds)
        action = self.meanwhile.get(len(self.slept))
        if callable(action):
            action()


def test_poll_for__no_number_waiting_costs_one_cycle_and_no_sleep(desk):
    # Given no activation anywhere
    sleep = SleepLog(desk)
    # When the deployed job sweeps for 45 s
    cycles = desk.service.poll_for(45, 5, sleep=sleep)
    # Then it asked the partner once and returned at once (no Lambda time billed for waiting)
    assert (cycles, desk.partner.calls["get_active_states"], sleep.slept) == (1, 1, [])


def test_poll_for__a_code_that_arrives_mid_sweep_is_picked_up_within_one_interval(desk):
    # Given a waiting number whose SMS reaches the partner 12 s into the sweep
    _, activation = desk.waiting_number(1000)
    started = desk.clock.now()
    sleep = SleepLog(desk, {3: lambda: desk.deliver(activation, "Your Telegram code is 24680")})
    # When the job sweeps every 5 s for 45 s
    cycles = desk.service.poll_for(45, 5, sleep=sleep)
    # Then the code is there from the cycle right after it arrived (15 s in), not a minute later
    shown = Activation.get(activation.activation_id)
    assert (shown.status, shown.sms[0].code, shown.sms[0].source) == ("RECEIVED", "24680", "poll")
    assert float(shown.sms[0].received_at) == started + 15
    # And, the number being still open (more SMS may come), the sweep went on to its end: 10 cycles in 45 s
    assert cycles == 10
    assert sleep.slept == [5] * 9
    assert desk.partner.calls["get_active_states"] == 10


def test_poll_for__ends_when_the_last_number_closes(desk):
    # Given one waiting number, finished by its user 7 s into the sweep
    user, activation = desk.waiting_number(1000)

    def user_cancels() -> None:
        desk.past_cancel_window()
        desk.service.cancel(user.account_id, int(activation.activation_id))

    sleep = SleepLog(desk, {2: user_cancels})
    # When the job sweeps every 5 s for 45 s
    cycles = desk.service.poll_for(45, 5, sleep=sleep)
    # Then it stops at the first cycle that finds nothing open at the partner
    assert cycles == 3
    assert desk.partner.calls["get_active_states"] == 3


class UnreachablePartner(FakePartner):
    def get_active_states(self) -> list[PartnerActivationState]:
        self.calls["get_active_states"] += 1
        raise PartnerUnavailable(f"{self.name}: timed out")


def test_poll_for__a_failing_partner_does_not_stop_the_others(moto_tables):
    # Given a partner that times out on every poll, and a number waiting at another
    working, broken = FakePartner(cost_minor=40), UnreachablePartner(cost_minor=80)
    desk = Desk(moto_tables, [working, broken])
    _, activation = desk.waiting_number(1000)
    desk.deliver(activation, "Your Telegram code is 13579")
    # When the job runs its sweep
    desk.service.poll_for(10, 5, sleep=SleepLog(desk))
    # Then the working partner's code is in, and the broken partner was asked each cycle
    assert Activation.get(activation.activation_id).sms[0].code == "13579"
    assert broken.calls["get_active_states"] == working.calls["get_active_states"] == 3
