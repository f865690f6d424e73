"""What admins can do (agreement 5.2, 6.1, 6.3, 7.3, 10): one facade over the services, every change audited.

The admin Lambda maps commands onto these methods; the work itself stays in the owning service
(accounts, catalog, refunds, ordering, support) and this layer adds who/why and the audit entry.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.domain.accounts import LedgerKind
from chalicelib.domain.clock import Clock, iso
from chalicelib.domain.errors import NotFound
from chalicelib.domain.payments import RefundRequest, RefundStatus
from chalicelib.domain.support import EmailStatus, TicketStatus
from chalicelib.providers.base import Partner
from chalicelib.services.activations import price_settings
from chalicelib.services.activations.catalog import Catalog
from chalicelib.services.admin.account_actions import AccountAdmin, ActivationRevoker
from chalicelib.services.admin.audit import SYSTEM, AuditLog, AuditRecord
from chalicelib.services.admin.views import AdminViews
from chalicelib.services.money.reconcile import Reconciler
from chalicelib.services.money.reconcile_incremental import LOCAL_BUDGET_SECONDS, IncrementalReconciler, TimeBudget
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests
from chalicelib.services.money.wallet import cause_key
from chalicelib.services.platform import runtime_settings
from chalicelib.services.support.tickets import SupportDesk
from chalicelib.store import activation_repo
from chalicelib.store import catalog as catalog_store
from chalicelib.store.ledger import claimed


class AdminService:
    def __init__(self, *, clock: Clock, audit_log: AuditLog, accounts: AccountAdmin,
                 refunds: RefundRequests, support: SupportDesk, reconciler: Reconciler,
                 changes: IncrementalReconciler, prices: Catalog, partners: Sequence[Partner],
                 views: AdminViews, activations: ActivationRevoker) -> None:
        self.clock = clock
        self.audit_log = audit_log
        self.accounts = accounts
        self.refunds = refunds
        self.support = support
        self.reconciler = reconciler
        self.changes = changes
        self.prices = prices
        self.partner_list = list(partners)
        self.views = views
        self.activations = activations

    def set_maintenance(self, on: bool, message: str | None, actor: str) -> dict[str, Any]:
        """5.2: every public route answers 503 with the message (within the 2 s settings cache)."""
        before = runtime_settings.get_value(runtime_settings.MAINTENANCE, {"on": False, "message": ""}, fresh=True)
        after = {"on": on, "message": (message or "") if on else ""}
        runtime_settings.set_value(runtime_settings.MAINTENANCE, after, self.clock)
        self.audit_log.record(AuditRecord(SYSTEM, "maintenance", actor, reason=message, before=before, after=after))
        return {"maintenance": after}

    def revoke(self, activation_id: str, reason: str | None, actor: str) -> dict[str, Any]:
        """5.2: the activation ends REVOKED, refunded unless an SMS made the charge final; the partner cancels."""
        before = activation_repo.load(int(activation_id)) if activation_id.isdigit() else None
        if before is None:
            raise NotFound(f"There is no activation {activation_id!r}.", code="ACTIVATION_NOT_FOUND")
        after = self.activations.revoke(int(activation_id))
        refunded = claimed(cause_key(LedgerKind.ACTIVATION_REFUND, activation_id))
        record = AuditRecord(after.account_id, "revoke", actor, reason=reason,
                             before={"activation_id": int(activation_id), "status": before.status},
                             after={"activation_id": int(activation_id), "status": after.status,
                                    "refunded_cents": after.price_cents if refunded else 0})
        self.audit_log.record(record)
        return {"activation": record.after, "account_id": after.account_id}

    def set_markup(self, percent: str, actor: str) -> dict[str, Any]:
        before = str(self.prices.markup_percent())
        after = price_settings.set_markup(percent, self.clock)
        self.audit_log.record(AuditRecord(SYSTEM, "set-markup", actor, before={"markup_percent": before},
                                      after={"markup_percent": str(after)}))
        return {"markup_percent": str(after)}

    def set_price(self, service: str, country: int, price_cents: int, actor: str) -> dict[str, Any]:
        before = _override(service, country)
        price_settings.set_price(service, country, price_cents, self.clock)
        after = {"service": service, "country": country, "price_cents": price_cents}
        self.audit_log.record(AuditRecord(SYSTEM, "set-price", actor,
                                      before={**after, "price_cents": before}, after=after))
        return {"price_override": after}

    def clear_price(self, service: str, country: int, actor: str) -> dict[str, Any]:
        before = _override(service, country)
        if before is None:
            raise NotFound(f"There is no price override for {service} in country {country}.")
        price_settings.clear_price(service, country, self.clock)
        key = {"service": service, "country": country}
        self.audit_log.record(AuditRecord(SYSTEM, "clear-price", actor, before={**key, "price_cents": before},
                                      after={**key, "price_cents": None}))
        return {"price_override_cleared": key, "markup_percent": str(self.prices.markup_percent())}

    def refresh_prices(self, actor: str) -> dict[str, Any]:
        refreshed = self.prices.refresh_prices()
        self.audit_log.record(AuditRecord(SYSTEM, "refresh-prices", actor, after={"offers_by_partner": refreshed}))
        failed = [p.name for p in self.partner_list if p.name not in refreshed]
        return {"offers_by_partner": refreshed, "partners_failed": failed}

    def partners(self) -> dict[str, Any]:
        """Each partner's health, and its success rate per service, country and operator (recent, 24 h, 7 days;
        `not_offered` when routing stopped selling it there)."""
        found = self.views.partners()
        delivery = self.prices.memory.by_partner()
        for item in found["items"]:
            item["delivery"] = delivery.get(item["name"], [])
        return found

    def refund_requests(self) -> dict[str, Any]:
        pending = self.refunds.with_status(RefundStatus.PENDING)
        return {"items": [_refund_json(r) for r in pending]}

    def decide_refund(self, request_id: str, approve: bool, note: str | None, actor: str) -> dict[str, Any]:
        """6.3: approve (paid back to the cards) or decline (hold released); the user is answered on the ticket."""
        before = self.refunds.get(request_id)
        decision = RefundDecision.APPROVE if approve else RefundDecision.DECLINE
        decided = self.refunds.decide(request_id, decision, note, actor)
        self.audit_log.record(AuditRecord(decided.account_id, "decide-refund", actor, reason=note,
                                      before=_refund_json(before), after=_refund_json(decided)))
        self._answer_refund_ticket(decided, note, actor)
        return {"refund_request": _refund_json(decided)}

    def audit(self, email: str) -> dict[str, Any]:
        """The account's ledger, payments, activations and admin actions in one view."""
        return self.views.audit(self.accounts.find(email))

    def reconcile(self, emails: list[str]) -> dict[str, Any]:
        """The full checks on these accounts, or on every account and 90 days of payments when none is named."""
        account_ids = [self.accounts.find(e).account_id for e in emails]
        return self.reconciler.run(account_ids or None).to_json()

    def reconcile_changes(self) -> dict[str, Any]:
        """What the hourly job does: what changed since the last run, within the time an invocation has."""
        return self.changes.run(TimeBudget.fixed(LOCAL_BUDGET_SECONDS)).to_json()

    def stats(self, days: int) -> dict[str, Any]:
        return self.views.stats(days)

    def tickets(self, status: TicketStatus | None) -> dict[str, Any]:
        return {"items": [t.to_json() | {"account_id": t.account_id} for t in self.support.queue(status)]}

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        found = self.support.ticket(ticket_id)
        return found.to_json() | {"account_id": found.account_id}

    def reply(self, ticket_id: str, message: str, actor: str) -> dict[str, Any]:
        """The answer is stored whatever the mailer does; the result says whether the user's email went out."""
        before = self.support.ticket(ticket_id)
        answered = self.support.reply(ticket_id, message, actor)
        ticket = answered.ticket
        self.audit_log.record(AuditRecord(ticket.account_id, "reply", actor,
                                          before={"ticket_id": ticket_id, "status": before.status.value},
                                          after={"ticket_id": ticket_id, "status": ticket.status.value,
                                                 "message": message, "email": answered.email.value}))
        return ticket.to_json() | {"account_id": ticket.account_id, **_email_outcome(ticket_id, answered.email)}

    def resend_reply_emails(self, ticket_id: str, actor: str) -> dict[str, Any]:
        """Retry the emails of a ticket's answers that the mailer refused."""
        sent = self.support.resend_pending_emails(ticket_id)
        pending = self.support.pending_emails(ticket_id)
        self.audit_log.record(AuditRecord(self.support.ticket(ticket_id).account_id, "resend-reply", actor,
                                          after={"ticket_id": ticket_id, "sent": sent, "pending": pending}))
        return {"ticket_id": ticket_id, "sent": sent, "pending": pending,
                **_email_outcome(ticket_id, EmailStatus.PENDING if pending else EmailStatus.SENT)}

    def _answer_refund_ticket(self, request: RefundRequest, note: str | None, actor: str) -> None:
        verdict = {"approved": "approved", "approving": "approved", "declined": "declined"}.get(request.status)
        if verdict is None:
            return
        text = f"Your refund request was {verdict}." + (f"\n\n{note}" if note else "")
        try:
            self.support.reply(f"tkt_{request.request_id}", text, actor)
        except NotFound:
            pass  # requests made before refund tickets existed have none to answer on


def _email_outcome(ticket_id: str, email: EmailStatus) -> dict[str, Any]:
    if email is EmailStatus.SENT:
        return {"email": "sent"}
    if email is EmailStatus.QUEUED:
        return {"email": "queued", "email_note": "The answer is stored; the mail service refused the email for now, "
                                                 "and the deliver_mail job sends it again until it is taken."}
    return {"email": "not_sent",
            "email_note": "The answer is stored and the ticket answered, but the email to the user was not sent. "
                          f"Retry with: bin/admin resend-reply {ticket_id}"}


def _override(service: str, country: int) -> int | None:
    return price_settings.price_overrides(fresh=True).get(catalog_store.offer_key(service, country))


def _refund_json(r: RefundRequest) -> dict[str, Any]:
    return {"request_id": r.request_id, "account_id": r.account_id, "amount_cents": r.amount_cents,
            "status": r.status, "reason": r.reason, "created_at": iso(r.created_at), "decided_by": r.decided_by,
            "decision_note": r.decision_note, "paid_cents": r.paid_cents, "fee_cents": r.fee_cents,
            "uncovered_cents": r.uncovered_cents}

