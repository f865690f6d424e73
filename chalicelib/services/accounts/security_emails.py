"""The emails that tell an owner about their account's security: new sign-ins, new keys, a changed webhook,
a changed password, and the answers to a registration or reset that must not say whether an account exists."""
from __future__ import annotations

from chalicelib.domain.accounts import Account
from chalicelib.domain.clock import Clock, iso
from chalicelib.providers.mailer import Mailer
from chalicelib.services.accounts.account_emails import SIGNATURE, Email, deliver


def _not_you(base_url: str) -> str:
    return f"""If this was not you, lock the account now: sign in and use "Someone else
used my account" on the Account page, or choose a new password here:

{base_url}/#/forgot"""


def new_sign_in(base_url: str, at: float, ip: str, device: str) -> Email:
    return Email("New sign-in to your SMS Rooms account", f"""Your SMS Rooms account was signed in to from a new
place or device.

When:   {iso(at)}
IP:     {ip}
Device: {device[:70] or "unknown"}

If it was you, there is nothing to do.
{_not_you(base_url)}
{SIGNATURE}""")


def api_key_created(base_url: str, at: float, ip: str, label: str | None) -> Email:
    return Email("A new API key was created on SMS Rooms", f"""A new API key was created on your SMS Rooms account.

When:  {iso(at)}
IP:    {ip}
Name:  {(label or "unnamed")[:70]}

An API key can order numbers and read their codes. If you did not create it,
revoke it on the API keys page, and:
{_not_you(base_url)}
{SIGNATURE}""")


def webhook_changed(base_url: str, at: float, ip: str, url: str | None) -> Email:
    where = f"SMS now go to:\n{url}" if url else "SMS are no longer pushed anywhere."
    return Email("Your SMS Rooms webhook changed", f"""The SMS webhook of your SMS Rooms account changed.

When:  {iso(at)}
IP:    {ip}

{where}

The webhook receives every code your numbers get.
{_not_you(base_url)}
{SIGNATURE}""")


def password_changed(base_url: str, at: float, ip: str, keys_revoked: bool) -> Email:
    keys = ("Every API key was revoked too: create new ones for your bots."
            if keys_revoked else "Your API keys still work.")
    return Email("Your SMS Rooms password was changed", f"""The password of your SMS Rooms account was changed.

When:  {iso(at)}
IP:    {ip}

Every other session was signed out. {keys}
{_not_you(base_url)}
{SIGNATURE}""")


def registration_attempt(base_url: str) -> Email:
    return Email("Someone tried to register with your email", f"""Someone tried to create an SMS Rooms account with
this email address, which already has one.

If it was you, sign in:

{base_url}/#/login

or, if you forgot your password, choose a new one:

{base_url}/#/forgot

If it was not you, ignore this email: nothing changed on your account.
{SIGNATURE}""")


def reset_without_account(base_url: str) -> Email:
    return Email("Reset your SMS Rooms password", f"""Someone (we hope you) asked to reset the SMS Rooms password
of this email address, but no account uses it.

If you have an account, you may have registered with another address.
To create one with this address:

{base_url}/#/register

If you did not ask, ignore this email.
{SIGNATURE}""")


def reset_refused_blocked(base_url: str) -> Email:
    return Email("Reset your SMS Rooms password", f"""Someone (we hope you) asked to reset the SMS Rooms password
of this email address. The account is blocked, so a new password would not
open it. If you think the block is a mistake, write to support:

{base_url}/#/support
{SIGNATURE}""")


class SecurityNotices:
    """Tells an owner, after the change committed, that a key was created or the webhook changed."""

    def __init__(self, mailer: Mailer, base_url: str, clock: Clock) -> None:
        self.mailer = mailer
        self.base_url = base_url
        self.clock = clock

    def api_key_created(self, account: Account, label: str | None, ip: str) -> None:
        deliver(self.mailer, account.email, api_key_created(self.base_url, self.clock.now(), ip, label))

    def webhook_changed(self, account: Account, url: str | None, ip: str) -> None:
        deliver(self.mailer, account.email, webhook_changed(self.base_url, self.clock.now(), ip, url))
