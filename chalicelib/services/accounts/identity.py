"""Email addresses as account identities: normalised (case, spaces) and checked before anything is stored."""
from __future__ import annotations

import re

from chalicelib.domain.errors import InvalidInput

MAX_EMAIL_LENGTH = 254
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# A pragmatic address check: a local part without spaces, quotes or brackets, and a dotted DNS domain.
_EMAIL = re.compile(rf"^[a-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(?:\.{_LABEL})+$")


def normalise_email(raw: str) -> str:
    """The stored form of an address (trimmed, lower case); raises InvalidInput (INVALID_EMAIL) if malformed."""
    email = raw.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.match(email) or ".." in email:
        raise InvalidInput("That is not a valid email address.", code="INVALID_EMAIL", details={"field": "email"})
    return email


def email_claim_key(normalised_email: str) -> str:
    """The claim that makes an address belong to one account at most."""
    return f"email#{normalised_email}"
