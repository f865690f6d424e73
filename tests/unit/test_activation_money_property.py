"""Property: whatever users, partners, crashes and jobs do, in any order, money is conserved and nothing is stuck."""
from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation_state import ActivationStatus, is_final
from chalicelib.domain.errors import DomainError
from chalicelib.providers.base import PartnerStatus
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from tests.unit.activation_support import Desk

_ACTIONS = ("order", "order", "crash_order", "sms", "look", "poll", "cancel", "finish", "retry", "ban", "revoke",
            "partner_drops", "wait", "expire", "resolve")
_REFUNDED = {ActivationStatus.CANCELED, ActivationStatus.TIMEOUT, ActivationStatus.BANNED, ActivationStatus.REVOKED,
             ActivationStatus.FAILED}
START = 500


def _act(desk: Desk, account_id: str, action: str, pick: int) -> None:
    mine = list(Activation.by_account.query(account_id))
    target = mine[pick % len(mine)] if mine else None
    aid = int(target.activation_id) if target else 0
    service = desk.service
    if action in ("order", "crash_order"):
        desk.partner.number_failure = SystemExit("crash") if action == "crash_order" else None
        try:
            desk.order(Account.get(account_id))
        except SystemExit:
            pass
        desk.partner.number_failure = None
    elif action == "wait":
        desk.clock.advance(150 + 100 * pick)
    elif action in ("poll", "expire", "resolve"):
        {"poll": service.poll_partners, "expire": service.expire_overdue_activations,
         "resolve": service.resolve_stale_pending}[action]()
    elif target is None or not target.partner_activation_id:
        return
    elif action == "sms":
        text = f"Your Telegram code is {10000 + pick}"
        desk.deliver(target, text)
        service.record_push(desk.partner.name, target.partner_activation_id, text, None)
    elif action == "partner_drops":
        rented = desk.partner.rented[target.partner_activation_id]
        if rented.status is not PartnerStatus.RECEIVED:
            rented.status = PartnerStatus.CANCELED
    elif action == "look":
        desk.look(account_id, target)
    elif action == "revoke":
        service.revoke(aid)
    elif action in ("cancel", "finish", "retry", "ban"):
        getattr(service, action)(account_id, aid)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(_ACTIONS), st.integers(0, 5)), min_size=1, max_size=12))
def test_activations__any_sequence_conserves_money_and_ends_every_activation(moto_tables, steps):
    # Given a user with 5.00 (enough for a few 0.60 numbers, not for all)
    desk = Desk(moto_tables)
    user = desk.account(START)
    # When a random sequence of user, partner, crash and job events happens
    for action, pick in steps:
        try:
            _act(desk, user.account_id, action, pick)
        except DomainError:
            pass  # refusals (409, 402…) are legitimate answers; they must leave money whole, checked below
    # And afterwards the lifetimes run out and the jobs run
    desk.clock.advance(desk.settings.activation_lifetime_seconds + desk.settings.pending_resolve_after_seconds + 1)
    desk.service.resolve_stale_pending()
    desk.service.expire_overdue_activations()
    # Then every activation has ended, and the balance is the start minus the prices of those that kept their charge
    activations = list(Activation.by_account.query(user.account_id))
    assert all(is_final(ActivationStatus(a.status)) for a in activations)
    kept = sum(int(a.price_cents) for a in activations
               if ActivationStatus(a.status) not in _REFUNDED or a.has_sms)
    ledger = desk.ledger(user.account_id)
    assert desk.balance(user.account_id) == START - kept == sum(int(e.amount_cents) for e in ledger) >= 0
    # And no activation was refunded twice, nor after an SMS
    refunds = Counter(e.cause_id for e in ledger if e.kind == LedgerKind.ACTIVATION_REFUND.value)
    assert all(n == 1 for n in refunds.values())
    assert not any(a.has_sms and str(a.activation_id) in refunds for a in activations)
