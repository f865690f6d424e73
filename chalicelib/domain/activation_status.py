"""What an activation can be (its status) and what can happen to it (events): the words shared by the state
machine (domain/activation_state.py) and the refund policy (domain/refund_policy.py)."""
from __future__ import annotations

import enum


class ActivationStatus(enum.StrEnum):  # a str: a value compares and prints as its wire word
    PENDING = "PENDING"  # debited, asking partners for a number
    WAITING = "WAITING"  # number issued, no SMS yet
    RECEIVED = "RECEIVED"  # at least one SMS
    RETRY = "RETRY"  # the user asked for another SMS (free)
    FINISHED = "FINISHED"
    CANCELED = "CANCELED"
    TIMEOUT = "TIMEOUT"
    BANNED = "BANNED"  # the user reported the number as unusable
    REVOKED = "REVOKED"  # by an admin
    FAILED = "FAILED"  # no number could be had


class ActivationEvent(enum.Enum):
    NUMBER_ISSUED = "number_issued"
    PARTNER_FAILED = "partner_failed"
    SMS_ARRIVED = "sms_arrived"
    USER_CANCEL = "user_cancel"
    USER_FINISH = "user_finish"
    USER_RETRY = "user_retry"
    USER_BAN = "user_ban"
    EXPIRED = "expired"
    ADMIN_REVOKE = "admin_revoke"
