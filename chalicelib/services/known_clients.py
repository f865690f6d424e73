"""Where an account signs in from (its recent IPs and devices): what makes a sign-in 'new' and worth an email."""
from __future__ import annotations

import unicodedata

from chalicelib.store.accounts import Account

REMEMBERED = 20  # of each, newest first
MAX_DEVICE_LENGTH = 200


def device_of(user_agent: str | None) -> str:
    """The device as we store and show it: the client's User-Agent, printable and bounded ("" when none)."""
    text = "".join(c for c in (user_agent or "") if unicodedata.category(c)[0] not in "CZ" or c == " ")
    return text.strip()[:MAX_DEVICE_LENGTH]


def known_at(account: Account | None, ip: str) -> bool:
    """Whether the account's owner has signed in from this IP before."""
    return account is not None and ip in (account.sign_in_ips or [])


def remember(account: Account, ip: str, device: str) -> bool:
    """Record a successful sign-in's IP and device; True when either is new to an account that had signed in
    before (its very first sign-in, right after registering, is not news to its owner)."""
    ips, devices = list(account.sign_in_ips or []), list(account.sign_in_devices or [])
    new = bool(ips) and (ip not in ips or device not in devices)
    fresh_ips, fresh_devices = _newest_first(ips, ip), _newest_first(devices, device)
    if (fresh_ips, fresh_devices) != (ips, devices):
        account.update(actions=[Account.sign_in_ips.set(fresh_ips), Account.sign_in_devices.set(fresh_devices)])
    return new


def _newest_first(seen: list[str], latest: str) -> list[str]:
    return [latest, *(s for s in seen if s != latest)][:REMEMBERED]
