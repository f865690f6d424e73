"""SMS reaching an activation, by whichever of the three paths is first: a partner's push, an on-demand
question when the user looks, or the poller's one call per partner per cycle.

All three end in `record_sms`, which is idempotent by content: an SMS whose text the activation already
holds is not new (a repeated push, a poll that read an SMS already pushed, a stale status). The SMS,
the status (WAITING/RETRY → RECEIVED) and the user's webhook event commit in one transaction.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.config import Settings
from chalicelib.domain.activation import Activation, ActivationSms
from chalicelib.domain.activation_state import ActivationEvent, ActivationStatus
from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.errors import Conflict, IllegalTransition, NotFound
from chalicelib.domain.webhook_events import EventType, WebhookEvent, activation_stream, subscribes
from chalicelib.providers.base import Partner, PartnerActivationState, PartnerStatus
from chalicelib.services.activations.lifecycle import PARTNER_ERRORS, Lifecycle
from chalicelib.services.platform.live_updates import LiveUpdates
from chalicelib.services.platform.webhook_outbox import queuing
from chalicelib.store import account_repo, activation_repo, transaction
from chalicelib.store.base import JoinedWrite, WriteRefused

_ATTEMPTS = 20
_MAX_PARTNER_CODE_LENGTH = 12
_PARTNER_STATE_MATTERS = (ActivationStatus.WAITING, ActivationStatus.RETRY, ActivationStatus.RECEIVED)


class SmsSource(str, enum.Enum):
    PUSH = "push"
    ON_DEMAND = "on_demand"
    POLL = "poll"


@dataclass(frozen=True)
class PollResult:
    awaiting: int  # activations the partner still holds open for us
    changed: int  # of ours, how many this cycle moved


class SmsIntake:
    def __init__(self, settings: Settings, partners: Mapping[str, Partner], clock: Clock, lifecycle: Lifecycle,
                 live: LiveUpdates) -> None:
        self.settings = settings
        self.partners = partners
        self.clock = clock
        self.lifecycle = lifecycle
        self.live = live

    def record_sms(self, activation: Activation, text: str, partner_code: str | None, source: SmsSource
                   ) -> Activation:
        """Store an SMS with its code, move to RECEIVED and queue the user's webhook; a no-op when not new."""
        for _ in range(_ATTEMPTS):
            if any(sms.text == text for sms in activation.sms):
                return activation
            try:
                step = self.lifecycle.step(activation, ActivationEvent.SMS_ARRIVED)
            except IllegalTransition:
                return activation  # ended already: an SMS after a cancel or a timeout changes nothing
            message = ActivationSms(text=text, code=_code(text, partner_code, activation.service),
                                    received_at=self.clock.now(), source=source.value)
            try:
                return self._commit(activation, step.status, message)
            except WriteRefused:
                activation = self.lifecycle.load(activation.activation_id)
        raise Conflict("The activation is changing too fast; try again.")

    def record_push(self, partner: str, partner_activation_id: str, text: str, code: str | None) -> bool:
        """A partner pushed an SMS; False when no activation of ours has that partner id."""
        activation = activation_repo.find_by_partner_ref(partner, partner_activation_id)
        if activation is None:
            return False
        self.record_sms(activation, text, code, SmsSource.PUSH)
        return True

    def look(self, account_id: str, activation_id: int) -> Activation:
        """A user's activation, first asking the partner when it waits for an SMS and was not asked for
        `status_refresh_min_seconds` (one conditional write decides both: see store/activations.claim_refresh)."""
        activation, due = activation_repo.claim_refresh(account_id, activation_id, self.clock.now(),
                                                        self.settings.status_refresh_min_seconds)
        if activation is None:
            raise NotFound("No such activation.")
        return self.refresh_now(activation, SmsSource.ON_DEMAND) if due else activation

    def refresh_now(self, activation: Activation, source: SmsSource) -> Activation:
        found = self.lifecycle.partner_of(activation)
        if found is None:
            return activation
        partner, partner_activation_id = found
        try:
            state = partner.get_state(partner_activation_id)
        except PARTNER_ERRORS:
            return activation
        return self.apply_partner_state(activation, state, source)

    def apply_partner_state(self, activation: Activation, state: PartnerActivationState, source: SmsSource
                            ) -> Activation:
        if state.status is PartnerStatus.RECEIVED:
            for sms in state.sms:
                activation = self.record_sms(activation, sms.text, sms.code, source)
            return activation
        if state.status is PartnerStatus.CANCELED and activation.status is ActivationStatus.WAITING:
            try:
                # The partner dropped the number before any SMS: the user gets their money back now.
                return self.lifecycle.apply(activation, ActivationEvent.PARTNER_FAILED,
                                            only_from=ActivationStatus.WAITING)
            except IllegalTransition:
                return self.lifecycle.load(activation.activation_id)
        return activation

    def poll(self, partner: Partner) -> PollResult:
        """One call for all of a partner's active activations, applied to ours."""
        states = {s.partner_activation_id: s for s in partner.get_active_states()}
        if not states:
            return PollResult(awaiting=0, changed=0)
        changed = 0
        for activation in activation_repo.open_of(partner.name, self.settings.write_shards):
            state = states.get(activation.partner_activation_id or "")
            if state is None or activation.status not in _PARTNER_STATE_MATTERS:
                continue
            changed += self.apply_partner_state(activation, state, SmsSource.POLL).version != activation.version
        return PollResult(awaiting=len(states), changed=changed)

    def _commit(self, activation: Activation, status: ActivationStatus, message: ActivationSms) -> Activation:
        changes: dict[str, Any] = {"status": status, "sms": (*activation.sms, message), "has_sms": True}
        account = account_repo.read(activation.account_id, consistent=False)
        told = account is not None and subscribes(account, EventType.SMS_RECEIVED)
        if told:
            changes["hook_seq"] = activation.version + 1
        writes: list[JoinedWrite] = [activation_repo.change_write(activation, changes)]
        if told:
            event = _sms_event(activation, status, message, self.clock.now())
            writes.append(queuing(activation.account_id, event, shards=self.settings.write_shards,
                                  after_sequence=activation.hook_seq))
        if not activation.has_sms:  # the first code: the delivery succeeded, counted once by the version check
            writes += self.lifecycle.memory.outcome_writes(activation, received=True)
        transaction.commit(writes)
        if account is not None:
            self.live.tell(account, {"type": "activation", "activation_id": activation.activation_id,
                                     "status": status.value, "code": message.code})
        return activation_repo.changed(activation, changes)


def _code(text: str, partner_code: str | None, service: str) -> str | None:
    """Our extraction first; the partner's code when ours finds none and theirs looks like a code, not the text."""
    from chalicelib.domain.sms_code import extract_code  # its ~15 regexes compile on the first SMS, not at cold start

    ours = extract_code(text, service)
    if ours or not partner_code or partner_code == text or len(partner_code) > _MAX_PARTNER_CODE_LENGTH:
        return ours
    return partner_code


def _sms_event(activation: Activation, status: ActivationStatus, message: ActivationSms, now: float
               ) -> WebhookEvent:
    return WebhookEvent(EventType.SMS_RECEIVED, activation_stream(activation.activation_id), activation.version + 1,
                        now, {"activation_id": activation.activation_id, "service": activation.service,
                              "country": activation.country, "phone": activation.phone, "status": status.value,
                              "sms": {"code": message.code, "text": message.text,
                                      "received_at": iso(message.received_at)}})
