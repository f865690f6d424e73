"""Consent withdrawal (12.3) removes what the user wrote in their own words, unless a written refund request (6.3)
still being decided holds it; the decision then removes it."""
from __future__ import annotations

import json

from chalicelib.domain.accounts import LedgerKind
from chalicelib.services.accounts.free_text import REMOVED
from chalicelib.services.money.refund_requests import RefundDecision, RefundRequests
from chalicelib.services.money.wallet import Wallet
from chalicelib.services.support.tickets import SupportDesk
from chalicelib.store.accounts import Account, Credential
from chalicelib.store.money import DynamoMoneyStore
from chalicelib.store.payments import RefundRequest
from chalicelib.store.runtime import ActivityEntry
from chalicelib.store.support import Ticket, TicketMessage
from tests.unit.accounts_support import IP, Harness
from tests.unit.stripe_fake import FakeGateway, no_card_fees

SECRET_WORDS = "my other number is +7 900 123-45-67"


def _words_of(account_id: str) -> list[str]:
    """Every piece of the account's own text still stored: its ticket subjects and messages, refund reasons,
    webhook addresses in the activity log, key labels."""
    words = []
    for ticket in Ticket.by_account.query(account_id):
        if ticket.kind != "refund_request":  # a refund ticket's subject is ours ("Refund request of 5.00")
            words.append(ticket.subject)
        words += [m.body for m in TicketMessage.query(ticket.ticket_id) if m.author == "user"]
    words += [r.reason for r in RefundRequest.by_account.query(account_id)]
    words += [str(json.loads(e.detail).get("url")) for e in ActivityEntry.query(account_id) if e.detail
              and "url" in json.loads(e.detail)]
    words += [str(c.label) for c in Credential.by_account.query(account_id) if c.label]
    return [w for w in words if w != REMOVED]


def _desk(h: Harness) -> SupportDesk:
    return SupportDesk(h.mailer, "https://rooms.example", h.clock)


def test_withdraw_consent__removes_what_the_user_wrote_and_keeps_supports_answers(h):
    # Given a user who wrote to support (and was answered), set a webhook and labelled an API key
    user = h.verified()
    desk = _desk(h)
    ticket = desk.open_ticket(user.account_id, f"Call me: {SECRET_WORDS}", SECRET_WORDS)
    desk.reply(ticket.ticket_id, "We will not call; answered here.", "ops")
    h.webhooks.set(h.accounts.get(user.account_id), "https://hooks.example/ann-private-path", rotate_secret=False,
                   ip=IP)
    h.api_keys.create(user.account_id, "Ann's laptop at home", IP)
    assert len(_words_of(user.account_id)) >= 4
    # When the user withdraws consent with nothing left on the balance
    h.rights.withdraw_consent(h.accounts.get(user.account_id), IP)
    # Then none of their own words is stored any more, support's answer stays, and the time is recorded
    assert _words_of(user.account_id) == []
    answers = [m.body for m in TicketMessage.query(ticket.ticket_id) if m.author == "support"]
    assert answers == ["We will not call; answered here."]
    stored = Account.get(user.account_id)
    assert (stored.free_text_removed_at, stored.free_text_due) == (h.clock.now(), None)


def test_withdraw_consent__a_refund_request_being_decided_keeps_its_words_until_the_decision(h):
    # Given a user with 5.00 who asks for it back in writing, and then withdraws consent
    user = h.verified()
    Wallet(h.clock, DynamoMoneyStore()).post(user.account_id, 500, LedgerKind.ADJUSTMENT, f"gift-{user.account_id}")
    refunds = RefundRequests(FakeGateway(), Wallet(h.clock, DynamoMoneyStore()), fee_cents=0,
                             deposit_fees=no_card_fees())
    request = refunds.create(user.account_id, f"Closing: {SECRET_WORDS}")
    _desk(h).open_refund_ticket(user.account_id, request.request_id, 500, f"Closing: {SECRET_WORDS}")
    h.rights.withdraw_consent(h.accounts.get(user.account_id), IP)
    # Then support can still read the request while it is pending (a legal hold)
    assert f"Closing: {SECRET_WORDS}" in _words_of(user.account_id)
    assert Account.get(user.account_id).free_text_due is True
    # When support decides it
    refunds.decide(request.request_id, RefundDecision.DECLINE, "no card to pay back to", "ops")
    # Then the words go, and the request's amounts and decision stay
    assert _words_of(user.account_id) == []
    decided = RefundRequest.get(request.request_id)
    assert (decided.status, int(decided.amount_cents)) == ("declined", 500)
