"""The queue of partner calls (finish, cancel) not made yet, and the `retry_partner_calls` job's side of it.

`PartnerCalls.tell` (partner_calls) queues a call the partner could not take; `retry_due` makes each one whose time
has come again, with exponential backoff, until the partner takes or refuses it, or `max_attempts` is reached and
an operator is told (an error log and the PartnerCallsGivenUp metric).
"""
from __future__ import annotations

from chalicelib.observability import emit_counts, logger
from chalicelib.providers.base import PartnerNoNumbers, PartnerRejected, PartnerUnavailable
from chalicelib.services.platform import outbox
from chalicelib.services.platform.partner_calls import GIVEN_UP_METRIC, PartnerAction, PartnerCalls, make_call
from chalicelib.store import outbox_repo
from chalicelib.store.outbox_repo import PartnerCall, Queue

_BATCH = 50


def queue(calls: PartnerCalls, partner: str, partner_activation_id: str, action: PartnerAction, error: str) -> None:
    """Queue a call the partner could not take now, once (a call already queued is the job's)."""
    now = calls.clock.now()
    call_id = f"{partner}#{partner_activation_id}#{action.value}"
    call = PartnerCall(call_id, partner=partner, partner_activation_id=partner_activation_id, action=action.value,
                       last_error=error, next_attempt_at=now + calls.first_backoff_seconds,
                       due=outbox.due_key(call_id, calls.shards), created_at=now)
    if not outbox_repo.add(Queue.PARTNER_CALLS, call, only_new=True):
        return  # already queued: the job owns it
    logger.warning("partner not told; queued", extra={"partner": partner, "action": action.value,
                                                      "partner_activation_id": partner_activation_id,
                                                      "error": error})


def retry_due(calls: PartnerCalls) -> int:
    """Make every queued call whose time has come; the count the partners took."""
    due = outbox.due_items(Queue.PARTNER_CALLS, calls.clock.now(), calls.shards, _BATCH)
    return sum(_attempt(calls, call) for call in due)


def _attempt(calls: PartnerCalls, call: PartnerCall) -> bool:
    if not outbox.lease(Queue.PARTNER_CALLS, call, calls.clock):
        return False
    partner = calls.partners.get(call.partner)
    if partner is None:
        _settle(calls, call, "failed", "partner no longer configured")
        return False
    try:
        make_call(partner, call.partner_activation_id, PartnerAction(call.action))
    except PartnerRejected as exc:
        _settle(calls, call, "done", f"refused: {exc}")  # it ended there meanwhile: nothing left to do
        return False
    except (PartnerUnavailable, PartnerNoNumbers) as exc:
        if not outbox.retry_later(Queue.PARTNER_CALLS, call, calls.clock, str(exc), max_attempts=calls.max_attempts,
                                  first_backoff_seconds=calls.first_backoff_seconds):
            _given_up(call, str(exc))
        return False
    _settle(calls, call, "done", None)
    return True


def _settle(calls: PartnerCalls, call: PartnerCall, status: str, error: str | None) -> None:
    if status == "failed":
        _given_up(call, error)
    outbox.settle(Queue.PARTNER_CALLS, call, calls.clock, status, error)


def _given_up(call: PartnerCall, error: str | None) -> None:
    logger.error("partner call given up: end it in the partner's own panel", extra={
        "partner": call.partner, "action": call.action, "partner_activation_id": call.partner_activation_id,
        "error": error})
    emit_counts({GIVEN_UP_METRIC: 1})  # the PartnerCallsGivenUp alarm
