"""Telling partners that an activation ended (finish, cancel), durably.

A partner left uncancelled may still bill us if an SMS reaches the number before its own timeout, and an
SMSHub agent never ends an activation by itself: its SIM stays busy. So a finish or cancel the partner
cannot take now (timeout, 5xx, open circuit) is queued and made again by the `retry_partner_calls` job with
exponential backoff until the partner takes it or `max_attempts` is reached (then an operator is told by an
error log). A partner that refuses (the activation already ended there) is not asked again.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping

from chalicelib.domain.clock import Clock
from chalicelib.observability import emit_counts, logger
from chalicelib.providers.base import Partner, PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.services.platform import outbox
from chalicelib.store import outbox_repo
from chalicelib.store.outbox_repo import PartnerCall, Queue

_BATCH = 50
GIVEN_UP_METRIC = "PartnerCallsGivenUp"  # infra/operations.py alarms on it


class PartnerAction(str, enum.Enum):
    FINISH = "finish"
    CANCEL = "cancel"


class Told(enum.Enum):
    DONE = "done"
    REFUSED = "refused"  # the partner answered no: the activation is not in a state it can take this in
    QUEUED = "queued"  # the partner could not be reached; the job will try again


class PartnerCalls:
    def __init__(self, partners: Mapping[str, Partner], clock: Clock, shards: int, *, max_attempts: int = 10,
                 first_backoff_seconds: float = 30.0) -> None:
        self.partners = partners
        self.clock = clock
        self.shards = shards
        self.max_attempts = max_attempts
        self.first_backoff_seconds = first_backoff_seconds

    def tell(self, partner: Partner, partner_activation_id: str, action: PartnerAction) -> Told:
        """Make the call now; when the partner cannot be reached, queue it for the retry job."""
        try:
            _make(partner, partner_activation_id, action)
        except PartnerRejected as exc:
            logger.info("partner refused the call", extra={"partner": partner.name, "action": action.value,
                                                           "error": str(exc)})
            return Told.REFUSED
        except (PartnerUnavailable, PartnerNoNumbers) as exc:
            self._queue(partner.name, partner_activation_id, action, str(exc))
            return Told.QUEUED
        return Told.DONE

    def retry_due(self) -> int:
        """Make every queued call whose time has come; the count the partners took."""
        due = outbox.due_items(Queue.PARTNER_CALLS, self.clock.now(), self.shards, _BATCH)
        return sum(self._attempt(call) for call in due)

    def _queue(self, partner: str, partner_activation_id: str, action: PartnerAction, error: str) -> None:
        now = self.clock.now()
        call_id = f"{partner}#{partner_activation_id}#{action.value}"
        call = PartnerCall(call_id, partner=partner, partner_activation_id=partner_activation_id, action=action.value,
                           last_error=error, next_attempt_at=now + self.first_backoff_seconds,
                           due=outbox.due_key(call_id, self.shards), created_at=now)
        if not outbox_repo.add(Queue.PARTNER_CALLS, call, only_new=True):
            return  # already queued: the job owns it
        logger.warning("partner not told; queued", extra={"partner": partner, "action": action.value,
                                                          "partner_activation_id": partner_activation_id,
                                                          "error": error})

    def _attempt(self, call: PartnerCall) -> bool:
        if not self._lease(call):
            return False
        partner = self.partners.get(call.partner)
        if partner is None:
            self._settle(call, "failed", "partner no longer configured")
            return False
        try:
            _make(partner, call.partner_activation_id, PartnerAction(call.action))
        except PartnerRejected as exc:
            self._settle(call, "done", f"refused: {exc}")  # it ended there meanwhile: nothing left to do
            return False
        except (PartnerUnavailable, PartnerNoNumbers) as exc:
            self._retry_later(call, str(exc))
            return False
        self._settle(call, "done", None)
        return True

    def _lease(self, call: PartnerCall) -> bool:
        return outbox.lease(Queue.PARTNER_CALLS, call, self.clock)

    def _retry_later(self, call: PartnerCall, error: str) -> None:
        if not outbox.retry_later(Queue.PARTNER_CALLS, call, self.clock, error, max_attempts=self.max_attempts,
                                  first_backoff_seconds=self.first_backoff_seconds):
            _given_up(call, error)

    def _settle(self, call: PartnerCall, status: str, error: str | None) -> None:
        if status == "failed":
            _given_up(call, error)
        outbox.settle(Queue.PARTNER_CALLS, call, self.clock, status, error)


def _given_up(call: PartnerCall, error: str | None) -> None:
    logger.error("partner call given up: end it in the partner's own panel", extra={
        "partner": call.partner, "action": call.action, "partner_activation_id": call.partner_activation_id,
        "error": error})
    emit_counts({GIVEN_UP_METRIC: 1})  # the PartnerCallsGivenUp alarm


def _make(partner: Partner, partner_activation_id: str, action: PartnerAction) -> None:
    if action is PartnerAction.FINISH:
        partner.finish(partner_activation_id)
    else:
        partner.cancel(partner_activation_id)
