"""What admins read: one account's whole story (audit), the partners' health, and the business over a period."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from chalicelib.domain.accounts import Account, LedgerKind
from chalicelib.domain.activation import Activation
from chalicelib.domain.clock import Clock, iso
from chalicelib.providers.base import Partner
from chalicelib.services.admin.account_actions import summary
from chalicelib.services.admin.audit import AuditLog
from chalicelib.services.money.history import ledger_entry_json, payment_history
from chalicelib.services.support.tickets import SupportDesk
from chalicelib.store import activation_repo, reports, support_repo
from chalicelib.store.money import ledger_entries, seal_ledger

_AUDIT_LIMIT = 200
_DAY_SECONDS = 24 * 3600


class AdminViews:
    def __init__(self, audit_log: AuditLog, support: SupportDesk, partners: Sequence[Partner], clock: Clock) -> None:
        self.audit_log = audit_log
        self.support = support
        self.partners_list = list(partners)
        self.clock = clock

    def audit(self, account: Account) -> dict[str, Any]:
        """The account's ledger, payments, activations, tickets and admin actions, each newest first."""
        aid = account.account_id
        history = payment_history(aid, limit=_AUDIT_LIMIT)
        sealed = seal_ledger(aid)
        ledger = ledger_entries(aid, up_to=sealed, limit=_AUDIT_LIMIT)
        return {
            "account": summary(account),
            "ledger": [ledger_entry_json(e) for e in ledger],
            "top_ups": [{"topup_id": t.topup_id, "amount_cents": t.amount_cents, "status": t.status,
                         "payment_intent_id": t.payment_intent_id, "refunded_cents": t.refunded_cents,
                         "disputed_cents": t.disputed_cents, "created_at": iso(t.created_at)}
                        for t in history.top_ups],
            "card_movements": [{"kind": r.kind, "ref_id": r.ref_id, "amount_cents": r.amount_cents,
                                "payment_intent_id": r.payment_intent_id, "created_at": iso(r.created_at)}
                               for r in history.records],
            "refund_requests": [{"request_id": r.request_id, "amount_cents": r.amount_cents,
                                 "status": r.status, "decided_by": r.decided_by, "created_at": iso(r.created_at)}
                                for r in history.refund_requests],
            "activations": [_activation_json(a) for a in activation_repo.for_account(aid, _AUDIT_LIMIT)],
            # The ticket rows carry their message count: no query per ticket for its messages.
            "tickets": [{"ticket_id": t.ticket_id, "kind": t.kind, "subject": t.subject, "status": t.status,
                         "messages": t.message_count} for t in support_repo.tickets_of(aid, 50)],
            "admin_actions": self.audit_log.for_subject(aid, _AUDIT_LIMIT),
        }

    def partners(self) -> dict[str, Any]:
        """Each partner: reachable or not, our balance there, its circuit, how many offers are cached."""
        return {"items": [self._partner(p) for p in self.partners_list]}

    def stats(self, days: int) -> dict[str, Any]:
        """Orders, revenue, refunds, partner cost and margin of the last `days` days (full scans: admin only)."""
        now = self.clock.now()
        since = now - days * _DAY_SECONDS
        sums = reports.ledger_totals_since(since)
        orders = reports.orders_since(since)
        statuses, partner_cost = orders.by_status, orders.partner_cost_cents
        charged = -sums[LedgerKind.ACTIVATION_CHARGE.value]
        refunded = sums[LedgerKind.ACTIVATION_REFUND.value]
        revenue = charged - refunded
        return {
            "period": {"days": days, "from": iso(since), "to": iso(now)},
            "orders": {"total": sum(statuses.values()), "by_status": dict(sorted(statuses.items()))},
            "charged_cents": charged, "activation_refunds_cents": refunded, "revenue_cents": revenue,
            "partner_cost_cents": partner_cost, "margin_cents": revenue - partner_cost,
            "top_ups_cents": sums[LedgerKind.TOP_UP.value],
            "refund_payouts_cents": -sums[LedgerKind.REFUND_PAYOUT.value],
            "card_refunds_cents": -sums[LedgerKind.CARD_REFUND.value],
            "failed_card_refunds_cents": sums[LedgerKind.REFUND_REVERSAL.value],  # credited back to balances
            "disputes_net_cents": -(sums[LedgerKind.DISPUTE.value] + sums[LedgerKind.DISPUTE_REVERSAL.value]),
            "forfeited_cents": -sums[LedgerKind.FORFEITURE.value],
            "adjustments_cents": sums[LedgerKind.ADJUSTMENT.value],
        }

    def _partner(self, partner: Partner) -> dict[str, Any]:
        found: dict[str, Any] = {"name": partner.name,
                                 "circuit": _circuit_state(partner),
                                 "cached_offers": reports.cached_offers(partner.name)}
        try:
            found["balance_minor"] = partner.get_balance_minor()
            found["status"] = "up"
        except Exception as error:  # any failure is what the operator wants to read here
            found["status"] = "down"
            found["error"] = f"{type(error).__name__}: {error}"
        return found


def _circuit_state(partner: Partner) -> str | None:
    breaker = getattr(partner, "breaker", None)
    state = getattr(breaker, "state", None)
    return getattr(state, "value", None)


def _activation_json(a: Activation) -> dict[str, Any]:
    return {"id": a.activation_id, "service": a.service, "country": a.country, "status": a.status,
            "price_cents": a.price_cents, "cost_cents": a.cost_cents, "partner": a.partner, "phone": a.phone,
            "has_sms": a.has_sms, "created_at": iso(a.created_at)}
