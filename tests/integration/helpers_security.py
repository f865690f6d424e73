"""Helpers for the contract, fuzz and security suites: members who signed up over HTTP, money, the error envelope."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import requests

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.ids import new_id
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.money import DynamoMoneyStore

PASSWORD = "violet-harbour-lantern-42"
_TOKEN_IN_LINK = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")
_ERROR_CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
# What a leak looks like in a reply: a Python traceback, a source path, a stack-internal name or a secret.
LEAK_MARKERS = ("Traceback", 'File "', ".py", "/work/", "site-packages", "chalicelib", "botocore", "pynamodb",
                "whsec_local", "sk_test_local", "sim-push-secret", "argon2")


@dataclass(frozen=True)
class Member:
    """Someone who registered, confirmed their email and signed in, all through REST v1."""

    account_id: str
    email: str
    password: str
    session: str

    @property
    def auth(self) -> dict[str, str]:
        return bearer(self.session)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def unique_email(prefix: str = "member") -> str:
    return f"{new_id(prefix)}@example.com"


def current_agreement_version(app_url: str) -> str:
    return str(requests.get(f"{app_url}/v1/agreement", timeout=10).json()["version"])


def emails_to(outbox: Path, address: str) -> list[EmailMessage]:
    """Every message the outbox holds for `address`, oldest first."""
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if str(message["To"]).lower() == address.lower():
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def link_token(outbox: Path, address: str, subject: str = "", timeout_seconds: float = 10) -> str:
    """The token of the newest emailed link sent to `address` whose subject contains `subject`."""
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        for message in reversed(emails_to(outbox, address)):
            match = _TOKEN_IN_LINK.search(str(message.get_content())) if subject in str(message["Subject"]) else None
            if match:
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no email with a link reached {address} within {timeout_seconds} s")


def sign_up(app_url: str, outbox: Path, email: str | None = None) -> Member:
    """Register, confirm the emailed link and sign in, through REST v1 only."""
    email = email or unique_email()
    registered = requests.post(f"{app_url}/v1/auth/register", timeout=10, json={
        "email": email, "password": PASSWORD, "agreement_version": current_agreement_version(app_url)})
    assert registered.status_code == 201, registered.text
    verified = requests.post(f"{app_url}/v1/auth/verify", json={"token": link_token(outbox, email)}, timeout=10)
    assert verified.status_code == 200, verified.text
    return Member(account_id=registered.json()["account_id"], email=email, password=PASSWORD,
                  session=sign_in(app_url, email, PASSWORD))


def sign_in(app_url: str, email: str, password: str) -> str:
    reply = requests.post(f"{app_url}/v1/auth/login", json={"email": email, "password": password}, timeout=10)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["token"])


def fund(account_id: str, amount_cents: int) -> None:
    """Credit the account as an admin adjustment would (the test process must be bound to the stack's tables)."""
    Wallet(SystemClock(), DynamoMoneyStore()).post(account_id, amount_cents, LedgerKind.ADJUSTMENT, new_id("test"),
                                                   memo="test funds")


def error_envelope_problems(reply: requests.Response) -> list[str]:
    """What is wrong with a 4xx/5xx reply as an error envelope `{"error": {"code", "message", "details"?}}`."""
    try:
        body: Any = reply.json()
    except ValueError:
        return [f"body is not JSON: {reply.text[:200]!r}"]
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(error, dict):
        return [f"body is not an error envelope: {reply.text[:200]!r}"]
    problems = []
    if not isinstance(error.get("code"), str) or not _ERROR_CODE.match(error["code"]):
        problems.append(f"error.code is not UPPER_SNAKE: {error.get('code')!r}")
    if not isinstance(error.get("message"), str) or not error["message"]:
        problems.append(f"error.message is missing: {error.get('message')!r}")
    if "details" in error and not isinstance(error["details"], dict):
        problems.append(f"error.details is not an object: {error['details']!r}")
    if set(error) - {"code", "message", "details"}:
        problems.append(f"error has unknown keys: {sorted(set(error) - {'code', 'message', 'details'})}")
    return problems


def leaks(text: str) -> list[str]:
    """The leak markers (traceback, paths, secrets) found in a reply body."""
    return [marker for marker in LEAK_MARKERS if marker in text]
