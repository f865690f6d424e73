"""Moving an activation between states as domain.activation_state says, with its refund in the same transaction.

Every change is a compare-and-set on the activation's `version`. A refund is a wallet posting whose
cause is the activation id, and it carries the state change as its extra item: the money and the
state move together, and a second refund of the same activation cannot be written (exactly once by
construction). A writer that loses a race re-reads and re-judges the event, which may then be illegal.
An activation ordered while its owner's webhook took status changes (`status_hook`) queues an
activation.status_changed event in the same write (then a transaction, still one call).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.activation import Activation
from chalicelib.domain.activation_state import (
    ActivationEvent,
    ActivationStatus,
    Transition,
    blind_move,
    is_final,
    transition,
)
from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.errors import AlreadyApplied, Conflict, EarlyCancelDenied, IllegalTransition, NotFound
from chalicelib.domain.refund_policy import (
    MoneyEffect,
    can_cancel_at,
    cancel_available_at,
    refund_cents,
    waits_for_cancel_window,
)
from chalicelib.domain.webhook_events import CHANGES, EventType, WebhookEvent, activation_stream
from chalicelib.providers.base import Partner, PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.services.activations.delivery_memory import BAN_WEIGHT, TIMEOUT_WEIGHT, DeliveryMemory
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.platform.partner_calls import PartnerAction, PartnerCalls, Told
from chalicelib.store import activation_repo, transaction
from chalicelib.store.activation_repo import PENDING_KEY
from chalicelib.store.base import JoinedWrite, WriteRefused, joined

PARTNER_ERRORS = (PartnerNoNumbers, PartnerUnavailable, PartnerRejected)
_ATTEMPTS = 20
# Ends that count against the partner when no SMS came (a revoke is the operator's act, not the partner's).
_FAILED_DELIVERY = frozenset({ActivationStatus.CANCELED, ActivationStatus.TIMEOUT, ActivationStatus.BANNED,
                              ActivationStatus.FAILED})


class Lifecycle:
    def __init__(self, settings: Settings, partners: Mapping[str, Partner], clock: Clock, wallet: Wallet,
                 memory: DeliveryMemory, calls: PartnerCalls) -> None:
        self.settings = settings
        self.partners = partners
        self.clock = clock
        self.wallet = wallet
        self.memory = memory
        self.calls = calls

    def load(self, activation_id: int) -> Activation:
        activation = activation_repo.load(activation_id)
        if activation is None:
            raise NotFound("No such activation.")
        return activation

    def load_for_account(self, account_id: str, activation_id: int) -> Activation:
        activation = activation_repo.load(activation_id)
        if activation is None or activation.account_id != account_id:
            raise NotFound("No such activation.")
        return activation

    def step(self, activation: Activation, event: ActivationEvent) -> Transition:
        """Where `event` leads and what it does to the money; IllegalTransition when it may not happen."""
        return transition(activation.status, event, has_sms=activation.has_sms,
                          refunds_enabled=self.settings.refunds_enabled)

    def ensure_allowed(self, activation: Activation, event: ActivationEvent) -> None:
        """Refuse a user event now, before anyone is told: illegal moves, and refunds inside the early window."""
        self.step(activation, event)
        if self._inside_cancel_window(activation, event):
            # Which events wait is the refund policy's (domain/refund_policy.py); each is refused in its own words.
            grace = self.settings.cancel_grace_seconds
            message = (f"A number can be canceled {grace} seconds after it was issued."
                       if event is ActivationEvent.USER_CANCEL else
                       f"A number without an SMS can be reported {grace} seconds after it was issued "
                       "(the report refunds its price, like a cancel).")
            raise EarlyCancelDenied(message, details={"cancel_available_at": iso(self.cancel_available_at(activation))})

    def cancel_available_at(self, activation: Activation) -> float:
        return cancel_available_at(activation.created_at, self.settings.cancel_grace_seconds)

    def apply(self, activation: Activation, event: ActivationEvent, changes: Mapping[str, Any] | None = None, *,
              only_from: ActivationStatus | None = None) -> Activation:
        """Apply `event` (and extra attribute `changes`) to the latest version of the activation.

        `only_from` guards events judged on a possibly stale read (an index query, a partner's report): once
        the activation has moved on from that status, the event no longer applies (IllegalTransition).
        """
        for _ in range(_ATTEMPTS):
            if only_from is not None and activation.status is not only_from:
                raise IllegalTransition(f"The activation is no longer {only_from.value}.",
                                        details={"status": activation.status, "event": event.value})
            step = self.step(activation, event)
            fields = {"status": step.status, **(changes or {})}
            if is_final(step.status):
                fields["active_key"] = None
            try:
                return self._commit(activation, step, fields, event)
            except (WriteRefused, AlreadyApplied):  # WriteRefused: the wallet's CommitRefused too
                activation = self.load(activation.activation_id)
        raise Conflict("The activation is changing too fast; try again.")

    def apply_unread(self, account_id: str, activation_id: int, event: ActivationEvent) -> Activation:
        """Apply a user's `event` to their activation without reading it first when the state table allows (one
        conditional write); when that write does not apply, the activation is read and judged as `apply` does,
        which explains the refusal (NotFound, IllegalTransition) or applies a move a blind write cannot."""
        move = blind_move(event)
        if move is not None:
            moved = activation_repo.move_unread(account_id, activation_id, move)
            if moved is not None:
                return moved
        return self.apply(self.load_for_account(account_id, activation_id), event)

    def tell_partner(self, activation: Activation, action: PartnerAction) -> Told | None:
        """Finish or cancel at the partner; queued for the retry job when it cannot be reached (None: no partner)."""
        found = self.partner_of(activation)
        return None if found is None else self.calls.tell(*found, action)

    def partner_of(self, activation: Activation) -> tuple[Partner, str] | None:
        """The activation's partner and its id there; None before a number was issued or for a partner gone."""
        partner = self.partners.get(activation.partner or "")
        if partner is None or not activation.partner_activation_id:
            return None
        return partner, activation.partner_activation_id

    def expire(self, activation: Activation) -> Activation:
        """Lifetime over: TIMEOUT (refunded) without an SMS, FINISHED with one; the partner is told which."""
        ended = self.apply(activation, ActivationEvent.EXPIRED)
        if ended.status is ActivationStatus.TIMEOUT:
            self.tell_partner(ended, PartnerAction.CANCEL)
        else:
            self.tell_partner(ended, PartnerAction.FINISH)
        return ended

    def expire_overdue(self) -> int:
        """End every issued activation whose lifetime is over; the count ended."""
        overdue = activation_repo.overdue(self.clock.now())
        return self._each(a for a in overdue if a.status is not ActivationStatus.PENDING)

    def resolve_stale_pending(self) -> int:
        """A PENDING activation older than the resolve delay lost its order (a crash or a timeout): fail and refund.

        The number, if a partner issued one we never recorded, is not ours to cancel: we do not know its
        id, and partners end an unused number at its lifetime and refund it.
        """
        cutoff = self.clock.now() - self.settings.pending_resolve_after_seconds
        return self._each((a for a in activation_repo.open_of(PENDING_KEY, self.settings.write_shards)
                           if a.created_at < cutoff),
                          lambda a: self.apply(a, ActivationEvent.PARTNER_FAILED, only_from=ActivationStatus.PENDING))

    def _each(self, activations: Iterable[Activation], end: Callable[[Activation], Activation] | None = None) -> int:
        done = 0
        for activation in activations:
            try:
                (end or self.expire)(activation)
                done += 1
            except (IllegalTransition, Conflict):
                continue  # another writer ended it first
        return done

    def _commit(self, activation: Activation, step: Transition, fields: Mapping[str, Any], event: ActivationEvent
                ) -> Activation:
        refund = refund_cents(step.money, activation.price_cents)  # how much: domain/refund_policy.py
        told = bool(activation.status_hook) and step.status is not activation.status
        if told:
            fields = {**fields, "hook_seq": activation.version + 1}
        writes = [activation_repo.change_write(activation, fields), *self._learned(activation, step, event)]
        if told:
            from chalicelib.services.platform.webhook_outbox import queuing  # loaded only once some account is told

            event_out = self._status_event(activation, fields, step.status, refund)
            writes.append(queuing(activation.account_id, event_out, shards=self.settings.write_shards,
                                  after_sequence=activation.hook_seq))
        if step.money is MoneyEffect.NONE and len(writes) == 1:
            return activation_repo.change(activation, fields)
        if step.money is MoneyEffect.NONE:
            transaction.commit(writes)
        else:
            self.wallet.post(activation.account_id, refund, LedgerKind.ACTIVATION_REFUND,
                             str(activation.activation_id), memo=event.value, extra=joined(writes),
                             balance_hook=bool(activation.balance_hook))
        return activation_repo.changed(activation, fields)

    def _status_event(self, activation: Activation, fields: Mapping[str, Any], status: ActivationStatus,
                      refunded_cents: int) -> WebhookEvent:
        """activation.status_changed as the change leaves the activation (its version after is the sequence)."""
        return WebhookEvent(EventType.ACTIVATION_STATUS_CHANGED, activation_stream(activation.activation_id),
                            activation.version + 1, self.clock.now(), {
                                "activation_id": activation.activation_id, "service": activation.service,
                                "country": activation.country,
                                "operator": fields.get("operator", activation.operator),
                                "phone": fields.get("phone", activation.phone), "status": status.value,
                                "previous_status": activation.status.value, "change": CHANGES[status],
                                "price_cents": activation.price_cents, "refunded_cents": refunded_cents})

    def _learned(self, activation: Activation, step: Transition, event: ActivationEvent) -> list[JoinedWrite]:
        """What the platform learns from this move, as items of its transaction: a delivery that failed (the
        activation ends without an SMS) and a number reported bad (a ban) or suspect (a timeout)."""
        learned: list[JoinedWrite] = []
        if step.status in _FAILED_DELIVERY and not activation.has_sms and activation.partner:
            learned += self.memory.outcome_writes(activation, received=False)
        if event is ActivationEvent.USER_BAN or step.status is ActivationStatus.TIMEOUT:
            weight = BAN_WEIGHT if event is ActivationEvent.USER_BAN else TIMEOUT_WEIGHT
            learned += self.memory.mark_writes(activation, weight)
        return learned

    def _inside_cancel_window(self, activation: Activation, event: ActivationEvent) -> bool:
        """Whether the refund policy makes this user event wait for the early-cancel window, and it is still open."""
        grace = self.settings.cancel_grace_seconds
        return (waits_for_cancel_window(event, has_sms=activation.has_sms)
                and not can_cancel_at(activation.created_at, self.clock.now(), grace))
