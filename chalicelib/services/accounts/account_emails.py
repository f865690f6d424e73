"""The plain-text emails of the account area: verification, password reset, lock after a report, farewell."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib.observability import logger
from chalicelib.providers.mailer import Mailer

# Every line stays within 78 ASCII characters, so the message goes out as plain 7-bit text: links are
# readable (and clickable) in the raw .eml files of the local outbox, not quoted-printable.
SIGNATURE = "\n-- \nSMS Rooms\nYou get this email because of an SMS Rooms account. Not you? Ignore it.\n"


@dataclass(frozen=True)
class Email:
    subject: str
    body: str


def _hours(seconds: int) -> str:
    return f"{seconds // 3600} hours" if seconds >= 7200 else f"{max(1, seconds // 60)} minutes"


def verification(base_url: str, token: str, ttl_seconds: int) -> Email:
    return Email("Confirm your email for SMS Rooms", f"""Welcome to SMS Rooms.

Confirm your email address to top up and order numbers:

{base_url}/#/verify?token={token}

The link works once and expires in {_hours(ttl_seconds)}. From a terminal:

curl -X POST {base_url}/v1/auth/verify \\
  -H 'Content-Type: application/json' \\
  -d '{{"token": "{token}"}}'
{SIGNATURE}""")


def password_reset(base_url: str, token: str, ttl_seconds: int) -> Email:
    return Email("Reset your SMS Rooms password", f"""Someone (we hope you) asked to reset your SMS Rooms password.

Choose a new password here:

{base_url}/#/reset-password?token={token}

The link works once and expires in {_hours(ttl_seconds)}.
If you did not ask, ignore this email: your password stays as it is.
{SIGNATURE}""")


def account_locked(base_url: str, token: str, ttl_seconds: int) -> Email:
    return Email("Your SMS Rooms account is locked", f"""You reported that someone else may have used your
account, so we locked it: every session and API key was revoked and nobody
can sign in.

To regain access, choose a new password here:

{base_url}/#/reset-password?token={token}

The link works once and expires in {_hours(ttl_seconds)}; for a new one, use
"Forgot password" on the sign-in page. Setting a new password unlocks the
account; then create new API keys for your bots. Your balance and history
are untouched.
{SIGNATURE}""")


def consent_withdrawn() -> Email:
    return Email("Your SMS Rooms account is closed", f"""You withdrew your consent to the user agreement, so your
SMS Rooms account is deactivated: you can no longer sign in, and every
session and API key was revoked. We removed your personal data except what
the agreement (11.1) and the law require us to keep (payment history and
activity logs, which expire on schedule).

A refund request you made before leaving is still processed.
You are welcome to register again with this email address at any time.
{SIGNATURE}""")


def deliver(mailer: Mailer, to: str, email: Email) -> bool:
    """Send after the state change committed; a mail outage is logged, not turned into a failed request,
    because every email here can be asked for again (resend, forgot password)."""
    try:
        mailer.send(to, email.subject, email.body)
        return True
    except Exception:
        logger.exception("account email not sent", extra={"subject": email.subject})
        return False
