"""Email out: SES when deployed; locally one .eml file a message in the outbox folder."""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.ids import new_id

if TYPE_CHECKING:
    from email.message import EmailMessage

_HEADER_UNSAFE = re.compile(r"[\r\n]")


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> str:
        """Send a plain-text email; returns a message id."""


def build_message(sender: str, to: str, subject: str, body: str, reply_to: str = "") -> EmailMessage:
    """A message whose headers cannot be injected into: CR/LF in a header value is refused.

    `reply_to` (the support mailbox) is where a person's answer to any of our emails goes.
    """
    for name, value in (("to", to), ("subject", subject), ("from", sender), ("reply-to", reply_to)):
        if _HEADER_UNSAFE.search(value):
            raise InvalidInput(f"Email {name} must be a single line.")
    # Input is checked for unpaired surrogates (api/fields.py); text stored before that could still hold one,
    # which no encoder takes: it becomes '?' rather than costing the user the email.
    subject, body = _encodable(subject), _encodable(body)
    from email.message import EmailMessage  # here, not at import: the API Lambda's cold start (STYLE.md)
    from email.policy import SMTP

    # Long lines stay readable (links are not split into quoted-printable) up to RFC 5322's 998 characters.
    msg = EmailMessage(policy=SMTP.clone(max_line_length=998))
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if reply_to:
        msg["Reply-To"] = reply_to
    msg.set_content(body)
    return msg


def _encodable(value: str) -> str:
    return value.encode("utf-8", "replace").decode("utf-8")


class OutboxMailer:
    """Writes each message to `<outbox>/<time>-<id>.eml` (the local stack's email)."""

    def __init__(self, outbox_dir: str, sender: str, reply_to: str = "") -> None:
        self.outbox = Path(outbox_dir)
        self.sender = sender
        self.reply_to = reply_to

    def send(self, to: str, subject: str, body: str) -> str:
        msg = build_message(self.sender, to, subject, body, self.reply_to)
        message_id = new_id("msg")
        self.outbox.mkdir(parents=True, exist_ok=True)
        path = self.outbox / f"{int(time.time() * 1000)}-{message_id}.eml"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msg.as_bytes())
        tmp.rename(path)  # readers never see half a message
        return message_id


class SesMailer:
    def __init__(self, sender: str, region: str, reply_to: str = "") -> None:
        self.sender = sender
        self.region = region
        self.reply_to = reply_to

    def send(self, to: str, subject: str, body: str) -> str:
        import boto3

        msg = build_message(self.sender, to, subject, body, self.reply_to)
        client = boto3.client("sesv2", region_name=self.region)
        reply = client.send_email(FromEmailAddress=self.sender, Destination={"ToAddresses": [to]},
                                  Content={"Raw": {"Data": msg.as_bytes()}})
        return str(reply["MessageId"])
