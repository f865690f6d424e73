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
from chalicelib.store import account_repo, activity_repo, credential_repo, refund_words, support_repo

REMOVED = "[removed: its author withdrew consent (12.3)]"
_OPEN_REFUNDS = ("pending", "approving")  # services.refunds.RefundStatus values still being decided
_SYSTEM_SUBJECTS = ("refund_request",)  # ticket kinds whose subject we wrote, not the user


def legal_hold(account_id: str) -> str | None:
    """Why the user's words must stay for now, or None."""
    request_id = refund_words.first_in(account_id, _OPEN_REFUNDS)
    return None if request_id is None else f"refund request {request_id} is still being decided"


class FreeText:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def minimise(self, account_id: str) -> bool:
        """Remove the deactivated account's own words unless a legal hold applies (then it is marked to wait);
        True when done."""
        account = account_repo.read(account_id)
        if account is None or account.status != AccountStatus.DEACTIVATED:
            return False
        if legal_hold(account_id) is not None:
            account_repo.change(account_id, {"free_text_due": True})
            return False
        self._tickets(account_id)
        refund_words.overwrite_reasons(account_id, REMOVED)
        activity_repo.rewrite_details(account_id, _without_url)
        # key labels: revoking deleted them; the index may lag behind
        credential_repo.delete_all(c.token_hash for c in credential_repo.of_account(account_id))
        account_repo.change(account_id, {"free_text_due": None, "free_text_removed_at": self.clock.now()})
        return True

    def minimise_if_waiting(self, account_id: str) -> bool:
        """Finish what a legal hold postponed (called when a refund request is decided)."""
        account = account_repo.read(account_id)
        return account is not None and bool(account.free_text_due) and self.minimise(account_id)

    def _tickets(self, account_id: str) -> None:
        for ticket in support_repo.tickets_of(account_id):
            for message in support_repo.messages(ticket.ticket_id):
                if message.author == "user" and message.body != REMOVED:
                    support_repo.overwrite_message(ticket.ticket_id, message.seq, REMOVED)
            if ticket.kind not in _SYSTEM_SUBJECTS and ticket.subject != REMOVED:
                support_repo.overwrite_subject(ticket.ticket_id, REMOVED)


def _without_url(detail: str) -> str | None:
    """An activity entry's detail with the webhook address it names removed; None when it names none."""
    parsed = json.loads(detail)
    return json.dumps({**parsed, "url": REMOVED}, sort_keys=True) if parsed.get("url") else None
