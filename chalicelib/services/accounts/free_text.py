"""After consent withdrawal (12.3), what the user wrote in their own words goes like the rest of their personal data:
ticket subjects and messages, refund request reasons, the webhook address in the activity log, API key labels.

Unless a legal hold applies: a refund request still being decided is a written request (6.3) that support must read,
so the text stays until the decision, which then minimises it (services/refunds.py). Each step is an idempotent
overwrite, so a run that stops half-way is finished by the next one.
"""
from __future__ import annotations

import json

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.clock import Clock
from chalicelib.store.accounts import Account, Credential
from chalicelib.store.payments import RefundRequest
from chalicelib.store.runtime import ActivityEntry
from chalicelib.store.support import Ticket, TicketMessage

REMOVED = "[removed: its author withdrew consent (12.3)]"
_OPEN_REFUNDS = ("pending", "approving")  # services.refunds.RefundStatus values still being decided
_SYSTEM_SUBJECTS = ("refund_request",)  # ticket kinds whose subject we wrote, not the user


def legal_hold(account_id: str) -> str | None:
    """Why the user's words must stay for now, or None."""
    for request in RefundRequest.by_account.query(account_id):
        if request.status in _OPEN_REFUNDS:
            return f"refund request {request.request_id} is still being decided"
    return None


class FreeText:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def minimise(self, account_id: str) -> bool:
        """Remove the deactivated account's own words unless a legal hold applies (then it is marked to wait);
        True when done."""
        account = Account.get(account_id, consistent_read=True)
        if account.status != AccountStatus.DEACTIVATED.value:
            return False
        if legal_hold(account_id) is not None:
            account.update(actions=[Account.free_text_due.set(True)])
            return False
        self._tickets(account_id)
        for request in RefundRequest.by_account.query(account_id):
            if request.reason != REMOVED:
                request.update(actions=[RefundRequest.reason.set(REMOVED)])
        self._activity(account_id)
        with Credential.batch_write() as batch:  # key labels: revoking deleted them; the index may lag behind
            for credential in Credential.by_account.query(account_id):
                batch.delete(credential)
        account.update(actions=[Account.free_text_due.remove(), Account.free_text_removed_at.set(self.clock.now())])
        return True

    def minimise_if_waiting(self, account_id: str) -> bool:
        """Finish what a legal hold postponed (called when a refund request is decided)."""
        try:
            waiting = bool(Account.get(account_id, consistent_read=True).free_text_due)
        except Account.DoesNotExist:
            return False
        return waiting and self.minimise(account_id)

    def _tickets(self, account_id: str) -> None:
        for ticket in Ticket.by_account.query(account_id):
            for message in TicketMessage.query(ticket.ticket_id):
                if message.author == "user" and message.body != REMOVED:
                    message.update(actions=[TicketMessage.body.set(REMOVED)])
            if ticket.kind not in _SYSTEM_SUBJECTS and ticket.subject != REMOVED:
                ticket.update(actions=[Ticket.subject.set(REMOVED), Ticket.contact_email.remove()])

    def _activity(self, account_id: str) -> None:
        for entry in ActivityEntry.query(account_id):
            detail = json.loads(entry.detail) if entry.detail else {}
            if detail.get("url"):
                entry.update(actions=[ActivityEntry.detail.set(json.dumps({**detail, "url": REMOVED}, sort_keys=True))])
