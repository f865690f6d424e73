"""Admin actions on accounts: create with an opening balance, adjust, block (7.3, 10.1–10.3), unblock; each audited."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound, Unauthenticated
from chalicelib.services.accounts.authn import authenticate
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.runtime import AuditEntry
from tests.unit.admin_harness import ACTOR, AdminHarness
from tests.unit.stripe_fake import FakeGateway


def _ledger(account_id: str) -> list[tuple[str, int]]:
    return [(e.kind, int(e.amount_cents)) for e in LedgerEntry.query(account_id)]


def _traces(office: AdminHarness, account_id: str) -> tuple[int, int, int]:
    """How many ledger entries and audit entries the account has, and how many mails went out."""
    return len(_ledger(account_id)), len(list(AuditEntry.query(account_id))), len(office.mailer.sent)


def test_create_account__opening_balance_is_one_audited_adjustment(office):
    # When an operator creates a verified account with 2500 cents
    shown = office.admin.accounts.create_account("Bob@Example.com", verified=True, actor=ACTOR, balance_cents=2500)
    # Then it is active, holds the money as one ledger adjustment, and the audit names the operator
    assert (shown["status"], shown["balance_cents"], shown["email"]) == ("active", 2500, "bob@example.com")
    assert _ledger(shown["account_id"]) == [("adjustment", 2500)]
    actions = [(e.action, e.actor) for e in AuditEntry.query(shown["account_id"])]
    assert actions == [("create-account", ACTOR), ("adjust", ACTOR)]


def test_create_account__without_verified_is_refused(office):
    # When the operator forgets --verified
    with pytest.raises(InvalidInput):
        office.admin.accounts.create_account("bob@example.com", verified=False, actor=ACTOR)
    # Then no account exists
    assert office.admin.accounts.accounts.find_by_email("bob@example.com") is None


def test_adjust__credit_and_debit_move_balance_with_reason_in_audit(office):
    # Given an account with 1000 cents
    account = office.account(balance_cents=1000)
    # When the operator takes 300 back and then gives 50
    office.admin.accounts.adjust(account.email, -300, "duplicate credit", ACTOR)
    result = office.admin.accounts.adjust(account.email, 50, "goodwill", ACTOR)
    # Then the balance and ledger agree, and each adjustment is audited with its reason and before/after
    assert result["balance_cents"] == 750
    assert _ledger(account.account_id)[-2:] == [("adjustment", -300), ("adjustment", 50)]
    audit = office.admin.audit(account.email)["admin_actions"]
    assert (audit[0]["reason"], audit[0]["before"]["balance_cents"], audit[0]["after"]["balance_cents"]) == \
        ("goodwill", 700, 750)


def test_adjust__below_zero_is_refused_and_writes_nothing(office):
    # Given 100 cents
    account = office.account(balance_cents=100)
    audit_before = len(list(AuditEntry.query(account.account_id)))
    # When the operator takes 101
    with pytest.raises(InsufficientBalance):
        office.admin.accounts.adjust(account.email, -101, "typo", ACTOR)
    # Then neither the balance, the ledger nor the audit changed
    assert office.fresh(account).balance_cents == 100
    assert len(_ledger(account.account_id)) == 1
    assert len(list(AuditEntry.query(account.account_id))) == audit_before


def test_adjust__unknown_email_is_not_found(office):
    with pytest.raises(NotFound):
        office.admin.accounts.adjust("nobody@example.com", 10, "x", ACTOR)


def test_block__forfeits_balance_once_revokes_credentials_refunds_activation_and_mails_reason(office):
    # Given an account with 1000 cents, a session and a waiting number bought for 130 cents
    account = office.account(balance_cents=1000)
    session = Credentials(office.clock, office.settings.session_ttl_seconds).issue_session(account.account_id)
    bought = office.order(account)
    assert office.fresh(account).balance_cents == 1000 - bought.price_cents
    # When the operator blocks it
    result = office.admin.accounts.block(account.email, "fraud", ACTOR)
    # Then the number is revoked and refunded, the whole 1000 cents are forfeited by one entry, and it is blocked
    assert Activation.get(bought.activation_id).status == ActivationStatus.REVOKED.value
    assert office.partner.canceled == [bought.partner_activation_id]
    assert result["forfeited_cents"] == 1000
    assert [k for k, _ in _ledger(account.account_id)].count("forfeiture") == 1
    blocked = office.fresh(account)
    assert (blocked.status, blocked.balance_cents, blocked.status_reason) == ("blocked", 0, "fraud")
    # And the session no longer works, and the user was told why
    with pytest.raises(Unauthenticated):
        authenticate(session.token, office.clock)
    assert "fraud" in office.mailer.last_to(account.email).body


def test_block__second_block_is_refused_and_writes_nothing(office):
    # Given a blocked account
    account = office.account(balance_cents=500)
    office.admin.accounts.block(account.email, "fraud", ACTOR)
    before = _traces(office, account.account_id)
    # When it is blocked again
    with pytest.raises(Conflict) as refused:
        office.admin.accounts.block(account.email, "again", ACTOR)
    # Then the refusal says so and nothing was written or sent
    assert refused.value.code == "ALREADY_BLOCKED"
    assert _traces(office, account.account_id) == before
    assert office.fresh(account).status_reason == "fraud"


def test_block__money_that_arrives_after_a_block_is_forfeited_by_blocking_again(office):
    # Given a card payment made just before the account was blocked, credited by Stripe's event after it
    gateway = FakeGateway()
    account = office.account()
    intent_id = office.charge_card(gateway, account, 700)
    office.admin.accounts.block(account.email, "fraud", ACTOR)
    office.credit(gateway, intent_id)
    mails = len(office.mailer.sent)
    # When the operator blocks it again
    result = office.admin.accounts.block(account.email, "fraud", ACTOR)
    # Then the late 700 cents are forfeited too, without a second email
    assert result["forfeited_cents"] == 700
    assert office.fresh(account).balance_cents == 0
    assert len(office.mailer.sent) == mails


def test_unblock__reactivates_without_giving_money_back(office):
    # Given an account blocked with its 500 cents forfeited
    account = office.account(balance_cents=500)
    office.admin.accounts.block(account.email, "mistake", ACTOR)
    # When it is unblocked
    shown = office.admin.accounts.unblock(account.email, "appeal accepted", ACTOR)
    # Then it is active again with a zero balance (an adjustment is a separate, explicit act)
    assert (shown["status"], shown["balance_cents"], shown["status_reason"]) == ("active", 0, None)
    assert office.fresh(account).status == AccountStatus.ACTIVE.value


def test_unblock__an_account_that_is_not_blocked_is_refused(office):
    account = office.account()
    with pytest.raises(Conflict):
        office.admin.accounts.unblock(account.email, None, ACTOR)


@pytest.mark.parametrize("keys", [False, True])
def test_sign_out__ends_every_session_and_keys_only_when_asked(office, keys):
    # Given a user with money, a session and an API key (someone stole the session)
    account = office.account("ann@example.com", balance_cents=700)
    credentials = Credentials(office.clock, office.settings.session_ttl_seconds)
    session = credentials.issue_session(account.account_id).token
    key = credentials.create_api_key(account.account_id, "bot").api_key
    office.clock.advance(1)
    # When an operator signs the account out (with --keys or without)
    office.admin.accounts.sign_out("ann@example.com", "stolen session reported by phone", ACTOR, api_keys_too=keys)
    # Then the session no longer works, the key only if it was kept, and nothing else changed (audited)
    with pytest.raises(Unauthenticated):
        authenticate(session, office.clock)
    if keys:
        with pytest.raises(Unauthenticated):
            authenticate(key, office.clock)
    else:
        assert authenticate(key, office.clock).account.account_id == account.account_id
    after = office.fresh(account)
    assert (after.status, int(after.balance_cents)) == (AccountStatus.ACTIVE.value, 700)
    assert [e.action for e in AuditEntry.query(account.account_id)][-1] == "sign-out"
