"""Sign-in throttling per (email, IP) pair and per IP, in DynamoDB so every Lambda container sees the same counts.

Nothing is counted per account alone, so a stranger cannot lock an owner out (ASVS 6.3.1 without 6.1.1's
denial of service): failures on an email from one IP make only that pair wait, and the owner signing in from
anywhere else is not slowed at all. A pair gets a few free failures, then each further one doubles a short
wait (1 s, 2 s, 4 s … capped at a minute), during which the pair is refused with 429 before the password is
checked: a guesser on one account gets about one try a minute, the owner behind the same NAT gets in after
that minute at most. An IP that fails on many emails (password spraying) waits longer (up to 15 minutes), but
only for emails not yet signed in from it: the accounts known at that IP keep signing in. A browser that
proves an earlier sign-in of the account (its device token) is counted on its own instead, so even a stranger
behind the owner's own IP, guessing without pause, cannot make the owner wait. Counts forget after 15 quiet
minutes. Keys are the hash of the address whether or not an account has it: throttling says nothing
about which emails are registered.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import RateLimited
from chalicelib.domain.ids import sha256_hex
from chalicelib.store.throttle_repo import DynamoThrottleStore, ThrottleStore

WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True)
class ThrottleRule:
    free_failures: int
    max_wait_seconds: int


PAIR_RULE = ThrottleRule(free_failures=5, max_wait_seconds=60)
IP_RULE = ThrottleRule(free_failures=30, max_wait_seconds=15 * 60)


def wait_after(failures: int, rule: ThrottleRule) -> int:
    """Seconds to refuse sign-in after the n-th failure in a row."""
    over = failures - rule.free_failures
    return 0 if over <= 0 else min(rule.max_wait_seconds, 2 ** min(over - 1, 30))


class SignInThrottle:
    def __init__(self, clock: Clock, ip_free_failures: int = IP_RULE.free_failures,
                 store: ThrottleStore | None = None) -> None:
        self.clock = clock
        self.store = store or DynamoThrottleStore()
        self.ip_rule = ThrottleRule(free_failures=ip_free_failures, max_wait_seconds=IP_RULE.max_wait_seconds)

    def check(self, email: str, ip: str, *, known_at_ip: bool, trusted_device: str | None = None) -> None:
        """Raises RateLimited while the (email, IP) pair must wait, or the IP must and the email is new there;
        for a trusted device (its token's hash), only while that device must wait."""
        keys = _keys(email, ip, trusted_device) if trusted_device or not known_at_ip else [_pair_key(email, ip)]
        now = self.clock.now()
        for key in keys:
            item = self.store.read(key)
            if item is None:
                continue
            if item.blocked_until > now:
                wait = math.ceil(item.blocked_until - now)
                raise RateLimited(f"Too many failed sign-ins. Try again in {wait} seconds, or reset your password.",
                                  retry_after_seconds=wait)

    def record_failure(self, email: str, ip: str, trusted_device: str | None = None) -> None:
        pair_or_device, *by_ip = _keys(email, ip, trusted_device)
        self._count(pair_or_device, PAIR_RULE)
        for key in by_ip:
            self._count(key, self.ip_rule)

    def forget(self, email: str, ip: str, trusted_device: str | None = None) -> None:
        """A successful sign-in or password reset clears the pair's (or device's) count, never the IP's."""
        self.store.forget(_keys(email, ip, trusted_device)[0])

    def _count(self, key: str, rule: ThrottleRule) -> None:
        now = self.clock.now()
        window_end = now + WINDOW_SECONDS
        wait = wait_after(self.store.add_failure(key, now, window_end), rule)
        if wait:
            blocked_until = now + wait
            self.store.block(key, blocked_until, max(window_end, blocked_until))


def _keys(email: str, ip: str, trusted_device: str | None) -> list[str]:
    """What a failure counts on: a trusted device alone, else the (email, IP) pair and the IP."""
    return [f"device#{trusted_device}"] if trusted_device else [_pair_key(email, ip), _ip_key(ip)]


def _pair_key(email: str, ip: str) -> str:
    return f"pair#{sha256_hex(email)}#{ip[:64]}"


def _ip_key(ip: str) -> str:
    return f"ip#{ip[:64]}"
