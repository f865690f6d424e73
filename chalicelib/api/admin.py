"""The admin protocol's one table: each command name → its typed arguments → one AdminService call."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.api import fields
from chalicelib.domain.errors import InvalidInput
from chalicelib.domain.support import TicketStatus
from chalicelib.services.admin.service import AdminService

_REASON_MAX = 1000


class Args:
    """A command's `args` object read with the REST field validators: a wrong field is INVALID_INPUT naming it."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def text(self, name: str, max_length: int = _REASON_MAX) -> str:
        return fields.text(self.raw, name, max_length=max_length).strip()

    def optional_text(self, name: str, max_length: int = _REASON_MAX) -> str | None:
        value = fields.optional_text(self.raw, name, max_length=max_length)
        return value.strip() if value and value.strip() else None

    def integer(self, name: str, *, minimum: int | None = None, maximum: int = fields.MAX_INTEGER) -> int:
        return fields.required_integer(self.raw, name, minimum=minimum, maximum=maximum)

    def optional_integer(self, name: str, *, minimum: int | None = None, default: int | None = None) -> int | None:
        value = fields.integer(self.raw, name, minimum=minimum, required=False)
        return default if value is None else value

    def flag(self, name: str) -> bool:
        value = self.raw.get(name, False)
        if not isinstance(value, bool):
            raise InvalidInput(f"'{name}' must be true or false.", details={"field": name})
        return value

    def choice(self, name: str, options: tuple[str, ...], default: str | None = None) -> str:
        value = self.raw.get(name, default)
        if value not in options:
            raise InvalidInput(f"'{name}' must be one of: {', '.join(options)}.", details={"field": name})
        return str(value)

    def text_list(self, name: str) -> list[str]:
        value = self.raw.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"'{name}' must be a list of strings.", details={"field": name})
        return value


Command = Callable[[AdminService, Args, str], Any]


def _create_account(s: AdminService, a: Args, actor: str) -> Any:
    return s.accounts.create_account(a.text("email"), verified=a.flag("verified"), actor=actor,
                                     balance_cents=a.optional_integer("balance_cents", minimum=0, default=0) or 0,
                                     password=a.optional_text("password"))


def _maintenance(s: AdminService, a: Args, actor: str) -> Any:
    return s.set_maintenance(a.choice("state", ("on", "off")) == "on", a.optional_text("message"), actor)


def _decide_refund(s: AdminService, a: Args, actor: str) -> Any:
    decision = a.choice("decision", ("approve", "decline"))
    return s.decide_refund(a.text("request_id"), decision == "approve", a.optional_text("note"), actor)


def _tickets(s: AdminService, a: Args, actor: str) -> Any:
    status = a.choice("status", ("open", "answered", "all"), default="open")
    return s.tickets(None if status == "all" else TicketStatus(status))


def _reconcile(s: AdminService, a: Args, actor: str) -> Any:
    emails, full = a.text_list("emails"), a.flag("full")
    if emails and full:
        raise InvalidInput("Give either 'full' or 'emails', not both.", details={"field": "full"})
    return s.reconcile(emails) if emails or full else s.reconcile_changes()


def _agreement(s: AdminService) -> Any:
    from chalicelib.services.admin.agreement import agreement_admin  # on first use: few admin runs publish

    return agreement_admin(s.clock, s.audit_log)


def _agreement_publish(s: AdminService, a: Args, actor: str) -> Any:
    from chalicelib.domain.agreement_text import MAX_TEXT_BYTES

    return _agreement(s).publish(fields.text(a.raw, "text", max_length=MAX_TEXT_BYTES), a.text("effective", 20), actor)


COMMANDS: dict[str, Command] = {
    "create-account": _create_account,
    "show": lambda s, a, actor: s.accounts.show(a.text("email")),
    "block": lambda s, a, actor: s.accounts.block(a.text("email"), a.text("reason"), actor),
    "unblock": lambda s, a, actor: s.accounts.unblock(a.text("email"), a.optional_text("reason"), actor),
    "sign-out": lambda s, a, actor: s.accounts.sign_out(a.text("email"), a.text("reason"), actor,
                                                        api_keys_too=a.flag("keys")),
    "adjust": lambda s, a, actor: s.accounts.adjust(a.text("email"), a.integer("amount_cents"), a.text("reason"),
                                                     actor),
    "revoke": lambda s, a, actor: s.revoke(a.text("activation_id"), a.optional_text("reason"), actor),
    "maintenance": _maintenance,
    "set-markup": lambda s, a, actor: s.set_markup(a.text("percent", max_length=20), actor),
    "set-price": lambda s, a, actor: s.set_price(a.text("service", 20), a.integer("country", minimum=0),
                                                 a.integer("price_cents", minimum=1), actor),
    "clear-price": lambda s, a, actor: s.clear_price(a.text("service", 20), a.integer("country", minimum=0), actor),
    "refresh-prices": lambda s, a, actor: s.refresh_prices(actor),
    "partners": lambda s, a, actor: s.partners(),
    "refund-requests": lambda s, a, actor: s.refund_requests(),
    "decide-refund": _decide_refund,
    "audit": lambda s, a, actor: s.audit(a.text("email")),
    "reconcile": _reconcile,
    "stats": lambda s, a, actor: s.stats(a.optional_integer("days", minimum=1, default=30) or 30),
    "tickets": _tickets,
    "ticket": lambda s, a, actor: s.ticket(a.text("ticket_id")),
    "reply": lambda s, a, actor: s.reply(a.text("ticket_id"), a.text("message", 5000), actor),
    "resend-reply": lambda s, a, actor: s.resend_reply_emails(a.text("ticket_id"), actor),
    "agreement-publish": _agreement_publish,
    "agreement-status": lambda s, a, actor: _agreement(s).status(),
}
