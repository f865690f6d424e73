"""SMS pushed by SIM-bank agents (SMSHub PUSH_SMS): find the activation it is for, record it once.

What the outcomes mean to the agent, and why, is told where they become protocol answers:
chalicelib/api/smshub_push.py.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.domain.activation import Activation
from chalicelib.domain.catalog_data import service_by_code
from chalicelib.domain.clock import Clock
from chalicelib.observability import logger
from chalicelib.services.activations.sms_intake import SmsIntake, SmsSource
from chalicelib.store import activation_repo
from chalicelib.store.ledger import claim_once, claimed, claimed_at

UNMATCHED_GRACE_SECONDS = 60.0
_CLAIM_SECONDS = 24 * 3600


@dataclass(frozen=True)
class AgentSms:
    sms_id: int
    phone: str  # digits with the country code
    sender: str  # phoneFrom: a number or a name such as "Telegram"
    text: str


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    DUPLICATE = "duplicate"  # this smsId was taken before
    NOT_YET = "not_yet"  # no open activation has the phone yet: the agent should push again
    DROPPED = "dropped"  # no activation will ever take it: the agent may stop


class AgentSmsDesk:
    """Where an agent's SMS goes: the decisions of the module docstring, over SMS intake and the store."""

    def __init__(self, intake: SmsIntake, clock: Clock) -> None:
        self.intake = intake
        self.clock = clock

    def receive(self, partner: str, sms: AgentSms) -> Outcome:
        taken = f"smshub#{partner}#{sms.sms_id}"
        if claimed(taken):
            return Outcome.DUPLICATE
        shards = self.intake.settings.write_shards
        candidates = activation_repo.open_on_phone(partner, shards, sms.phone)
        if not candidates:
            return self._unmatched(partner, sms)
        addressee = addressee_of(candidates, sms)
        if addressee is None:
            logger.warning("agent SMS names none of the services open on its number",
                           extra={"partner": partner, "sms_id": sms.sms_id, "open": len(candidates)})
            outcome = Outcome.DROPPED
        else:
            # The index item is whole (all attributes projected); record_sms re-reads if it moved since.
            self.intake.record_sms(addressee, sms.text, None, SmsSource.PUSH)
            outcome = Outcome.DELIVERED
        self._claim(taken, outcome.value)
        return outcome

    def _unmatched(self, partner: str, sms: AgentSms) -> Outcome:
        first_seen = self._claim(f"smshub#{partner}#{sms.sms_id}#unmatched", "first seen")
        if self.clock.now() - first_seen < UNMATCHED_GRACE_SECONDS:
            return Outcome.NOT_YET
        logger.warning("agent SMS for no open activation dropped",
                       extra={"partner": partner, "sms_id": sms.sms_id, "phone": sms.phone})
        return Outcome.DROPPED

    def _claim(self, key: str, value: str) -> float:
        """Write the claim once; when it was written (now, or by an earlier push)."""
        now = self.clock.now()
        if claim_once(key, now, value, ttl_seconds=_CLAIM_SECONDS):
            return now
        return claimed_at(key) or now


def addressee_of(candidates: Sequence[Activation], sms: AgentSms) -> Activation | None:
    """The one open activation an SMS is for: the only one on the number, or the one whose service it names."""
    if len(candidates) == 1:
        return candidates[0]
    named = [a for a in candidates if _names_service(f"{sms.sender} {sms.text}", a.service)]
    return named[0] if len(named) == 1 else None


def _names_service(text: str, service: str) -> bool:
    info = service_by_code(service)
    words = re.findall(r"[A-Za-z0-9]{2,}", info.name) if info else []
    return any(re.search(rf"\b{re.escape(word)}\b", text, re.IGNORECASE) for word in words)
