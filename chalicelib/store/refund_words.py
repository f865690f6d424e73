"""The reasons users wrote on their refund requests (store/payments.py `RefundRequest`), as consent withdrawal (12.3)
reads and removes them; the money context owns everything else about those requests."""
from __future__ import annotations

from collections.abc import Collection

from chalicelib.store.payments import RefundRequest


def first_in(account_id: str, statuses: Collection[str]) -> str | None:
    """The id of one of the account's refund requests in `statuses`, or None."""
    return next((r.request_id for r in RefundRequest.by_account.query(account_id) if r.status in statuses), None)


def overwrite_reasons(account_id: str, text: str) -> None:
    """Every reason of the account's requests replaced by `text` (one write per request not already so)."""
    for request in RefundRequest.by_account.query(account_id):
        if request.reason != text:
            request.update(actions=[RefundRequest.reason.set(text)])
