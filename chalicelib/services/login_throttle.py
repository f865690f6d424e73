"""Sign-in throttling per email and per IP, stored in DynamoDB so every Lambda container sees the same counts.

Each key gets a few free failures; past them every further failure doubles a wait (1 s, 2 s, 4 s …)
during which sign-in is refused with 429 before the password is even checked. The wait is capped
(5 minutes per email, 15 per IP) and the count forgets after 15 quiet minutes, so a guesser gets
about a dozen tries an hour while the real owner is never shut out for more than a few minutes.
The email key is the hash of the address, whether or not an account has it: throttling says
nothing about which emails are registered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from pynamodb.exceptions import DoesNotExist, UpdateError

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.ids import sha256_hex
from chalicelib.store.accounts import LoginThrottle

WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class ThrottleRule:
    free_failures: int
    max_wait_seconds: int


EMAIL_RULE = ThrottleRule(free_failures=5, max_wait_seconds=5 * 60)
IP_RULE = ThrottleRule(free_failures=30, max_wait_seconds=15 * 60)


def wait_after(failures: int, rule: ThrottleRule) -> int:
    """Seconds to refuse sign-in after the n-th failure in a row."""
    over = failures - rule.free_failures
    return 0 if over <= 0 else min(rule.max_wait_seconds, 2 ** min(over - 1, 30))


class SignInThrottle:
    def __init__(self, clock: Clock, ip_free_failures: int = IP_RULE.free_failures) -> None:
        self.clock = clock
        self.ip_rule = ThrottleRule(free_failures=ip_free_failures, max_wait_seconds=IP_RULE.max_wait_seconds)

    def check(self, email: str, ip: str) -> None:
        """Raises RateLimited while the email or the IP must wait."""
        now = self.clock.now()
        for key in (_email_key(email), _ip_key(ip)):
            try:
                item = LoginThrottle.get(key, consistent_read=True)
            except DoesNotExist:
                continue
            if item.blocked_until > now:
                wait = math.ceil(item.blocked_until - now)
                raise RateLimited(f"Too many failed sign-ins. Try again in {wait} seconds, or reset your password.",
                                  retry_after_seconds=wait)

    def record_failure(self, email: str, ip: str) -> None:
        self._count(_email_key(email), EMAIL_RULE)
        self._count(_ip_key(ip), self.ip_rule)

    def forget(self, email: str) -> None:
        """A successful sign-in or password reset clears the email's count (never the IP's)."""
        LoginThrottle(_email_key(email)).delete()

    def _count(self, key: str, rule: ThrottleRule) -> None:
        now = self.clock.now()
        window_end = now + WINDOW_SECONDS
        item = LoginThrottle(key)
        try:
            item.update(actions=[LoginThrottle.failures.add(1), LoginThrottle.window_ends_at.set(window_end),
                                 LoginThrottle.expires_at.set(_ttl(window_end))],
                        condition=LoginThrottle.window_ends_at > now)
        except UpdateError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            # No live window: start one. Two racing starts may count one failure too few, which is harmless.
            item = LoginThrottle(key, failures=1, window_ends_at=window_end, blocked_until=0,
                                 expires_at=_ttl(window_end))
            item.save()
        wait = wait_after(int(item.failures), rule)
        if wait:
            blocked_until = now + wait
            item.update(actions=[LoginThrottle.blocked_until.set(blocked_until),
                                 LoginThrottle.window_ends_at.set(max(window_end, blocked_until)),
                                 LoginThrottle.expires_at.set(_ttl(max(window_end, blocked_until)))])


def _email_key(email: str) -> str:
    return f"email#{sha256_hex(email)}"


def _ip_key(ip: str) -> str:
    return f"ip#{ip[:64]}"


def _ttl(ts: float) -> datetime:
    return datetime.fromtimestamp(ts + 60, tz=UTC)
