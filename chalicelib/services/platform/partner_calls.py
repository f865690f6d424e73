"""Telling partners that an activation ended (finish, cancel), durably.

A partner left uncancelled may still bill us if an SMS reaches the number before its own timeout, and an
SMSHub agent never ends an activation by itself: its SIM stays busy. So a finish or cancel the partner
cannot take now (timeout, 5xx, open circuit) is queued and made again by the `retry_partner_calls` job with
exponential backoff until the partner takes it or `max_attempts` is reached (then an operator is told by an
error log). A partner that refuses (the activation already ended there) is not asked again.

The queue itself is `partner_call_queue`, loaded when a call is first queued or retried: a cold container's first
order tells no partner anything, so it does not load the outbox (three value classes, ~5 ms).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping

from chalicelib.domain.clock import Clock
from chalicelib.observability import logger
from chalicelib.providers.base import Partner, PartnerNoNumbers, PartnerRejected, PartnerUnavailable

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
            make_call(partner, partner_activation_id, action)
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
        from chalicelib.services.platform import partner_call_queue

        return partner_call_queue.retry_due(self)

    def _queue(self, partner: str, partner_activation_id: str, action: PartnerAction, error: str) -> None:
        from chalicelib.services.platform import partner_call_queue

        partner_call_queue.queue(self, partner, partner_activation_id, action, error)


def make_call(partner: Partner, partner_activation_id: str, action: PartnerAction) -> None:
    if action is PartnerAction.FINISH:
        partner.finish(partner_activation_id)
    else:
        partner.cancel(partner_activation_id)
