"""Support for everyone (agreement 4.2): someone signed out (locked out, blocked, never registered) writes to support.

The message waits until its sender opens the link we email to the address they gave, so nobody can open
tickets (or make us email) in someone else's name; unconfirmed messages expire. The form answers the same
whether or not the address has an account, and is rate limited per IP and per address.
"""
from __future__ import annotations

from chalicelib.domain.clock import Clock
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_secret, sha256_hex
from chalicelib.providers.mailer import Mailer
from chalicelib.services.accounts.identity import email_claim_key, normalise_email
from chalicelib.services.accounts.one_time_tokens import MAX_TOKEN_LENGTH
from chalicelib.services.platform.rate_limit import Limit, RateLimiter
from chalicelib.services.support.tickets import SupportDesk, TicketView, check_subject_and_message
from chalicelib.store import claims, support_repo
from chalicelib.store.support_repo import ContactRequest

CONTACT_TTL_SECONDS = 24 * 3600
HOUR = 3600
PER_EMAIL = Limit(requests=3, window_seconds=HOUR)
SIGNATURE = "\n-- \nSMS Rooms support\nYou get this email because someone wrote to us with this address.\n"


def _link_invalid() -> InvalidInput:
    return InvalidInput("This link is not valid, was already used or has expired. Write to us again.",
                        code="TOKEN_INVALID", details={"field": "token"})


class SupportContact:
    def __init__(self, desk: SupportDesk, mailer: Mailer, public_base_url: str, clock: Clock, *,
                 per_ip: RateLimiter, per_email: RateLimiter) -> None:
        self.desk = desk
        self.mailer = mailer
        self.public_base_url = public_base_url.rstrip("/")
        self.clock = clock
        self.per_ip = per_ip
        self.per_email = per_email

    def write(self, email: str, subject: str, message: str, ip: str) -> None:
        """Keep the message and email its sender a confirmation link; nothing is kept for bad input or past a limit."""
        address = normalise_email(email)
        subject, message = check_subject_and_message(subject, message)
        self.per_ip.admit(f"contact-ip:{ip}")
        self.per_email.admit(f"contact-email:{sha256_hex(address)[:32]}")
        now = self.clock.now()
        token = new_secret(24)
        support_repo.save_contact(ContactRequest(sha256_hex(token), email=address, subject=subject, body=message,
                                                 ip=ip, created_at=now, expires_at=now + CONTACT_TTL_SECONDS))
        self.mailer.send(address, "Confirm your message to SMS Rooms support",
                         _confirmation(self.public_base_url, token))

    def confirm(self, token: str) -> TicketView:
        """Open the ticket of a confirmed message (on the sender's account when the address has one)."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise _link_invalid()
        request = support_repo.contact(sha256_hex(token))
        if request is None or request.expires_at <= self.clock.now():
            raise _link_invalid()
        ticket = self.desk.open_contact_ticket(f"tkt_c{request.token_hash[:24]}", _account_of(request.email),
                                               request.email, request.subject, request.body)
        support_repo.delete_contact(request.token_hash)
        return ticket


def _confirmation(base_url: str, token: str) -> str:
    """Nothing the writer typed is repeated here: the address is not confirmed yet, and our email must not carry
    a stranger's text (a link, a lure) to whoever owns it."""
    return f"""Someone (we hope you) wrote to SMS Rooms support with this email address.

To send the message, confirm that this address is yours:

{base_url}/#/contact/confirm?token={token}

The link works once and expires in 24 hours. If you did not write to us,
ignore this email: nothing is sent without it.
{SIGNATURE}"""


def _account_of(email: str) -> str:
    """The account owning the address, or a stable stand-in so one person's contact tickets stay together."""
    return claims.value_of(email_claim_key(email)) or f"contact_{sha256_hex(email)[:24]}"
