"""Admin actions on accounts: create with an opening balance, adjust, block (7.3, 10.1–10.3), unblock; each audited."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.domain.errors import Conflict, InsufficientBalance, InvalidInput, NotFound, Unauthenticated
from chalicelib.services.authn import authenticate
from chalicelib.services.sessions import Credentials
from chalicelib.store.activations import Activation
from chalicelib.store.ledger import LedgerEntry
from chalicelib.store.runtime import AuditEntry
from tests.unit.admin_harness import ACTOR, AdminHarness, MotoWorld, fresh_tables, moto_world
from tests.unit.stripe_fake import FakeGateway


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[MotoWorld]:
    yield from moto_world(tmp_path_factory.mktemp("outbox"))


@pytest.fixture
def h(world) -> AdminHarness:
    return AdminHarness(fresh_tables(world))


def _ledger(account_id: str) -> list[tuple[str, int]]:
    return [(e.kind, int(e.amount_cents)) for e in LedgerEntry.query(account_id)]


def test_create_account__opening_balance_is_one_audited_adjustment(h):
    # When an operator creates a verified account with 2500 cents
    shown = h.admin.accounts.create_account("Bob@Example.com", verified=True, actor=ACTOR, balance_cents=2500)
    # Then it is active, holds the money as one ledger adjustment, and the audit names the operator
    assert (shown["status"], shown["balance_cents"], shown["email"]) == ("active", 2500, "bob@example.com")
    assert _ledger(shown["account_id"]) == [("adjustment", 2500)]
    actions = [(e.action, e.actor) for e in AuditEntry.query(shown["account_id"])]
    assert actions == [("create-account", ACTOR), ("adjust", ACTOR)]


def test_create_account__without_verified_is_refused(h):
    # When the operator forgets --verified
    with pytest.raises(InvalidInput):
        h.admin.accounts.create_account("bob@example.com", verified=False, actor=ACTOR)
    # Then no account exists
    assert h.admin.accounts.accounts.find_by_email("bob@example.com") is None


def test_adjust__credit_and_debit_move_balance_with_reason_in_audit(h):
    # Given an account with 1000 cents
    account = h.account(balance_cents=1000)
    # When the operator takes 300 back and then gives 50
    h.admin.accounts.adjust(account.email, -300, "duplicate credit", ACTOR)
    result = h.admin.accounts.adjust(account.email, 50, "goodwill", ACTOR)
    # Then the balance and ledger agree, and each adjustment is audited with its reason and before/after
    assert result["balance_cents"] == 750
    assert _ledger(account.account_id)[-2:] == [("adjustment", -300), ("adjustment", 50)]
    audit = h.admin.audit(account.email)["admin_actions"]
    assert (audit[0]["reason"], audit[0]["before"]["balance_cents"], audit[0]["after"]["balance_cents"]) == \
        ("goodwill", 700, 750)


def test_adjust__below_zero_is_refused_and_writes_nothing(h):
    # Given 100 cents
    account = h.account(balance_cents=100)
    audit_before = len(list(AuditEntry.query(account.account_id)))
    # When the operator takes 101
    with pytest.raises(InsufficientBalance):
        h.admin.accounts.adjust(account.email, -101, "typo", ACTOR)
    # Then neither the balance, the ledger nor the audit changed
    assert h.fresh(account).balance_cents == 100
    assert len(_ledger(account.account_id)) == 1
    assert len(list(AuditEntry.query(account.account_id))) == audit_before


def test_adjust__unknown_email_is_not_found(h):
    with pytest.raises(NotFound):
        h.admin.accounts.adjust("nobody@example.com", 10, "x", ACTOR)


def test_block__forfeits_balance_once_revokes_credentials_refunds_activation_and_mails_reason(h):
    # Given an account with 1000 cents, a session and a waiting number bought for 130 cents
    account = h.account(balance_cents=1000)
    session = Credentials(h.clock, h.settings.session_ttl_seconds).issue_session(account.account_id)
    bought = h.order(account)
    assert h.fresh(account).balance_cents == 1000 - bought.price_cents
    # When the operator blocks it
    result = h.admin.accounts.block(account.email, "fraud", ACTOR)
    # Then the number is revoked and refunded, the whole 1000 cents are forfeited by one entry, and it is blocked
    assert Activation.get(bought.activation_id).status == ActivationStatus.REVOKED.value
    assert h.partner.canceled == [bought.partner_activation_id]
    assert result["forfeited_cents"] == 1000
    assert [k for k, _ in _ledger(account.account_id)].count("forfeiture") == 1
    blocked = h.fresh(account)
    assert (blocked.status, blocked.balance_cents, blocked.status_reason) == ("blocked", 0, "fraud")
    # And the session no longer works, and the user was told why
    with pytest.raises(Unauthenticated):
        authenticate(session.token, h.clock)
    assert "fraud" in h.mailer.last_to(account.email).body


def test_block__second_block_is_refused_and_writes_nothing(h):
    # Given a blocked account
    account = h.account(balance_cents=500)
    h.admin.accounts.block(account.email, "fraud", ACTOR)
    ledger, audit, mails = len(_ledger(account.account_id)), len(list(AuditEntry.query(account.account_id))), \
        len(h.mailer.sent)
    # When it is blocked again
    with pytest.raises(Conflict) as refused:
        h.admin.accounts.block(account.email, "again", ACTOR)
    # Then the refusal says so and nothing was written or sent
    assert refused.value.code == "ALREADY_BLOCKED"
    assert (len(_ledger(account.account_id)), len(list(AuditEntry.query(account.account_id))), len(h.mailer.sent)) \
        == (ledger, audit, mails)
    assert h.fresh(account).status_reason == "fraud"


def test_block__money_that_arrives_after_a_block_is_forfeited_by_blocking_again(h):
    # Given a card payment made just before the account was blocked, credited by Stripe's event after it
    gateway = FakeGateway()
    account = h.account()
    intent_id = h.charge_card(gateway, account, 700)
    h.admin.accounts.block(account.email, "fraud", ACTOR)
    h.credit(gateway, intent_id)
    mails = len(h.mailer.sent)
    # When the operator blocks it again
    result = h.admin.accounts.block(account.email, "fraud", ACTOR)
    # Then the late 700 cents are forfeited too, without a second email
    assert result["forfeited_cents"] == 700
    assert h.fresh(account).balance_cents == 0
    assert len(h.mailer.sent) == mails


def test_unblock__reactivates_without_giving_money_back(h):
    # Given an account blocked with its 500 cents forfeited
    account = h.account(balance_cents=500)
    h.admin.accounts.block(account.email, "mistake", ACTOR)
    # When it is unblocked
    shown = h.admin.accounts.unblock(account.email, "appeal accepted", ACTOR)
    # Then it is active again with a zero balance (an adjustment is a separate, explicit act)
    assert (shown["status"], shown["balance_cents"], shown["status_reason"]) == ("active", 0, None)
    assert h.fresh(account).status == AccountStatus.ACTIVE.value


def test_unblock__an_account_that_is_not_blocked_is_refused(h):
    account = h.account()
    with pytest.raises(Conflict):
        h.admin.accounts.unblock(account.email, None, ACTOR)
