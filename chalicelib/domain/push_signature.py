"""How a partner signs an SMS push to us, and how we check it: its own secret, a timestamp, a tolerance window.

The partner sends `X-SmsRooms-Timestamp: <unix seconds>` and `X-SmsRooms-Signature: <hex HMAC-SHA256>` of
`"<timestamp>.<raw body>"` under its own push secret. The secret is the partner's alone (settings refuse two
partners sharing one), so a push signed for partner A is refused on /v1/partners/B/push; the timestamp is signed,
so a captured push cannot be replayed once it is older than the window; during a rotation the previous secret
is accepted too, and once it is removed from the settings its signatures are refused.
"""
from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

TIMESTAMP_HEADER = "X-SmsRooms-Timestamp"
SIGNATURE_HEADER = "X-SmsRooms-Signature"
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")


class PushRefused(Exception):
    """Why a push is not trusted: said to the operator in the logs, never detailed to the caller."""


def push_signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def check_push(secrets: Sequence[str], timestamp: str, signature: str, body: bytes, *, now: float,
               tolerance_seconds: float) -> None:
    """Raises PushRefused unless `signature` is one of `secrets`' over this timestamp and body, within the window."""
    if not secrets:
        raise PushRefused("this partner has no push secret: its pushes are not accepted")
    if not _TIMESTAMP.match(timestamp) or not _SIGNATURE.match(signature):
        raise PushRefused("missing or malformed timestamp or signature")
    if abs(now - int(timestamp)) > tolerance_seconds:
        raise PushRefused("timestamp outside the tolerance window (a replay, or a clock off)")
    # Every secret is compared, in constant time each, so the time taken says nothing about which matched.
    matches = [hmac.compare_digest(push_signature(s, int(timestamp), body), signature) for s in secrets]
    if not any(matches):
        raise PushRefused("signature does not match")
