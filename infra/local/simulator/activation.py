"""One simulated activation: its state, its SMS, and the SMS scheduled to arrive (delivered lazily by time)."""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

_CODE = re.compile(r"(?<!\d)\d{4,8}(?!\d)")


class SimStatus(enum.Enum):
    WAITING = "WAITING"              # no SMS yet
    WAITING_RETRY = "WAITING_RETRY"  # setStatus 3 asked for another SMS
    RECEIVED = "RECEIVED"
    CANCELED = "CANCELED"            # canceled, or timed out without an SMS
    FINISHED = "FINISHED"            # setStatus 6, or timed out after an SMS


ACTIVE = (SimStatus.WAITING, SimStatus.WAITING_RETRY, SimStatus.RECEIVED)


class ProtocolError(Exception):
    """A request the partner refuses; `reply` is the exact protocol string it answers."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True)
class SimSms:
    text: str
    code: str
    received_at: float


@dataclass(frozen=True)
class PendingSms:
    due_at: float
    text: str
    code: str


@dataclass
class SimActivation:
    id: int
    service: str
    country: int
    operator: str
    phone: str
    cost_minor: int
    created_at: float
    expires_at: float
    status: SimStatus = SimStatus.WAITING
    sms: list[SimSms] = field(default_factory=list)
    pending: PendingSms | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def last_code(self) -> str | None:
        return self.sms[-1].code if self.sms else None

    def deliver_due(self, now: float) -> SimSms | None:
        """Deliver the scheduled SMS if its time has come within the lifetime; the new SMS, if any."""
        if self.pending is None or not self.active or self.pending.due_at > min(now, self.expires_at):
            return None
        sms = SimSms(self.pending.text, self.pending.code, self.pending.due_at)
        self.pending = None
        self.receive(sms)
        return sms

    def receive(self, sms: SimSms) -> None:
        self.sms.append(sms)
        self.status = SimStatus.RECEIVED

    def expire_if_due(self, now: float) -> bool:
        """End an activation whose lifetime is over; True when it ended without an SMS (to be refunded)."""
        if not self.active or now < self.expires_at:
            return False
        self.pending = None
        self.status = SimStatus.FINISHED if self.sms else SimStatus.CANCELED
        return not self.sms

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id, "service": self.service, "country": self.country, "operator": self.operator,
            "phone": self.phone, "cost_minor": self.cost_minor, "status": self.status.value,
            "created_at": self.created_at, "expires_at": self.expires_at,
            "sms": [{"text": s.text, "code": s.code, "received_at": s.received_at} for s in self.sms],
            "sms_due_at": self.pending.due_at if self.pending else None,
        }


class SmsListener(Protocol):
    """Told when an SMS is scheduled and when it arrives (the push delivery listens)."""

    def sms_scheduled(self, activation_id: int, delay_seconds: float) -> None: ...

    def sms_delivered(self, activation: SimActivation, sms: SimSms) -> None: ...

    def rental_sms(self, url: str, body: bytes) -> None: ...


class SilentListener:
    def sms_scheduled(self, activation_id: int, delay_seconds: float) -> None:
        return None

    def sms_delivered(self, activation: SimActivation, sms: SimSms) -> None:
        return None

    def rental_sms(self, url: str, body: bytes) -> None:
        return None


def code_in(text: str) -> str:
    """The code a partner would extract: the first run of 4-8 digits, else the whole text (as SMS-Activate does)."""
    match = _CODE.search(text)
    return match.group(0) if match else text


def format_major(minor: int) -> str:
    """Minor units as the protocol's decimal text: 45 → "0.45"."""
    return str((Decimal(minor) / 100).quantize(Decimal("0.01")))


def major_number(minor: int) -> float:
    """Minor units as the JSON number the protocol carries (`"cost": 0.45`).

    The wire format is a JSON float; n/100 has a shortest repr with at most two decimals, so nothing is lost.
    """
    return float(format_major(minor))
