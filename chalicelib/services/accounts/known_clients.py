"""Where an account signs in from (its recent IPs and devices): what makes a sign-in 'new' and worth an email,
and the device tokens that let a browser which signed in before skip the throttle strangers at its IP fill."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from chalicelib.domain.accounts import Account
from chalicelib.domain.ids import new_secret, sha256_hex
from chalicelib.store import account_repo

REMEMBERED = 20  # of each, newest first
MAX_DEVICE_LENGTH = 200
MAX_DEVICE_TOKEN_LENGTH = 100


@dataclass(frozen=True)
class Remembered:
    new_place: bool  # a new IP or device for an account that had signed in before
    device_token: str  # the browser's token from now on (the one it sent, or a new one)


def device_of(user_agent: str | None) -> str:
    """The device as we store and show it: the client's User-Agent, printable and bounded ("" when none)."""
    text = "".join(c for c in (user_agent or "") if unicodedata.category(c)[0] not in "CZ" or c == " ")
    return text.strip()[:MAX_DEVICE_LENGTH]


def known_at(account: Account | None, ip: str) -> bool:
    """Whether the account's owner has signed in from this IP before."""
    return account is not None and ip in (account.sign_in_ips or [])


def trusted_device(account: Account | None, device_token: str | None) -> str | None:
    """The hash of `device_token` when this account gave it to a browser at an earlier sign-in, else None."""
    if account is None or not device_token or len(device_token) > MAX_DEVICE_TOKEN_LENGTH:
        return None
    digest = sha256_hex(device_token)
    return digest if digest in (account.trusted_devices or []) else None


def remember(account: Account, ip: str, device: str, device_token: str | None) -> Remembered:
    """Record a successful sign-in's IP, device and device token (a new token when it sent none we gave out).
    `new_place` is False for the account's very first sign-in, right after registering: no news to its owner."""
    ips, devices, tokens = (list(account.sign_in_ips or []), list(account.sign_in_devices or []),
                            list(account.trusted_devices or []))
    new_place = bool(ips) and (ip not in ips or device not in devices)
    token = device_token if device_token and trusted_device(account, device_token) else new_secret(24)
    fresh = (_newest_first(ips, ip), _newest_first(devices, device), _newest_first(tokens, sha256_hex(token)))
    if fresh != (ips, devices, tokens):
        account_repo.change(account.account_id, {"sign_in_ips": tuple(fresh[0]), "sign_in_devices": tuple(fresh[1]),
                                                 "trusted_devices": tuple(fresh[2])})
    return Remembered(new_place=new_place, device_token=token)


def _newest_first(seen: list[str], latest: str) -> list[str]:
    return [latest, *(s for s in seen if s != latest)][:REMEMBERED]
