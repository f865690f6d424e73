"""The account holder's rights and tools: report/lock, consent withdrawal, agreement, API keys, webhook, activity."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus, LedgerKind
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import AccountInactive, Conflict, InvalidInput, NotFound, Unauthenticated
from chalicelib.services.accounts.activity import detail_of, list_activity, record_activity
from chalicelib.services.accounts.authn import authenticate
from chalicelib.services.accounts.sessions import MAX_API_KEYS
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account, Credential
from chalicelib.store.ledger import Claim
from chalicelib.store.money import DynamoMoneyStore
from tests.unit.accounts_support import IP, PASSWORD

NEW_PASSWORD = "a brand new passphrase"


def _kinds(account_id: str) -> list[str]:
    return [e.kind for e in list_activity(account_id, clock=SystemClock()).entries]


def test_report_unauthorized__locks_at_once_revokes_everything_and_mails_a_way_back(h):
    # Given Ann with a session and an API key
    account = h.verified()
    session = h.session()
    key = h.api_keys.create(account.account_id, "bot", IP).api_key
    # When she reports unauthorized access
    h.rights.report_unauthorized(authenticate(session, h.clock).account, IP)
    # Then the account is locked, neither credential works, and nobody can sign in
    assert Account.get(account.account_id).status == AccountStatus.LOCKED.value
    for secret in (session, key):
        with pytest.raises((Unauthenticated, AccountInactive)):
            authenticate(secret, h.clock)
    with pytest.raises(AccountInactive):
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert "unauthorized_access_reported" in _kinds(account.account_id)
    # And the email's reset link unlocks the account with a new password, while the old key stays dead
    mail = h.mailer.last_to("ann@example.com")
    assert "locked" in mail.subject and "/#/reset-password?token=" in mail.body
    h.recovery.reset_password(mail.token, NEW_PASSWORD, IP, revoke_api_keys=True)
    h.clock.advance(1)
    assert h.signin.login("ann@example.com", NEW_PASSWORD, IP).token
    with pytest.raises(Unauthenticated):
        authenticate(key, h.clock)


def test_withdraw_consent__deactivates_minimises_data_and_frees_the_email(h):
    # Given Ann with a session, a key and a webhook, and nothing left on her balance
    account = h.verified()
    session = h.session()
    key = h.api_keys.create(account.account_id, None, IP).api_key
    h.webhooks.set(account, "https://bot.example.com/hook", rotate_secret=False, ip=IP)
    # When she withdraws her consent
    h.rights.withdraw_consent(authenticate(session, h.clock).account, IP)
    # Then the account is deactivated and keeps no email, password, webhook, or where she signed in from
    stored = Account.get(account.account_id)
    assert stored.status == AccountStatus.DEACTIVATED.value
    assert "ann@example.com" not in stored.email
    assert (stored.password_hash, stored.webhook_url, stored.webhook_secret, stored.created_ip) == (None,) * 4
    assert (stored.sign_in_ips, stored.sign_in_devices, stored.trusted_devices) == (None,) * 3
    # And she cannot sign in or use her credentials, and was told by email
    with pytest.raises(Unauthenticated):
        h.signin.login("ann@example.com", PASSWORD, IP)
    for secret in (session, key):
        with pytest.raises((Unauthenticated, AccountInactive)):
            authenticate(secret, h.clock)
    assert h.mailer.last_to("ann@example.com").subject == "Your SMS Rooms account is closed"
    # And the address may register again as a new account
    assert h.registered("ann@example.com").account_id != account.account_id


def test_withdraw_consent__refused_while_spendable_money_remains(h):
    # Given Ann with 500 cents on her balance
    account = h.verified()
    Wallet(h.clock, DynamoMoneyStore()).post(account.account_id, 500, LedgerKind.TOP_UP, "pi_1")
    # When she withdraws consent
    with pytest.raises(Conflict) as refused:
        h.rights.withdraw_consent(h.accounts.get(account.account_id), IP)
    # Then she is told to request a refund first, and nothing changed
    assert refused.value.code == "BALANCE_REMAINING" and "refund" in refused.value.message
    assert Account.get(account.account_id).status == AccountStatus.ACTIVE.value
    assert Claim.get("email#ann@example.com").value == account.account_id


def test_withdraw_consent__allowed_when_the_balance_is_held_for_a_refund_request(h):
    # Given Ann's whole balance is held by a pending refund request
    account = h.verified()
    Wallet(h.clock, DynamoMoneyStore()).post(account.account_id, 500, LedgerKind.TOP_UP, "pi_1")
    Wallet(h.clock, DynamoMoneyStore()).change_hold(account.account_id, 500)
    # When she withdraws consent
    h.rights.withdraw_consent(h.accounts.get(account.account_id), IP)
    # Then she leaves and the held money stays on the account for the refund process
    stored = Account.get(account.account_id)
    assert (stored.status, stored.balance_cents, stored.held_cents) == (AccountStatus.DEACTIVATED.value, 500, 500)


def test_accept_agreement__records_version_time_and_ip_and_clears_the_flag(h):
    # Given an admin-made account that never accepted the agreement
    account = h.accounts.create_verified_account("bob@example.com")
    assert account.agreement_version is None
    # When Bob accepts the current version
    h.clock.advance(10)
    h.rights.accept_agreement(account, h.settings.agreement_version, "198.51.100.9")
    # Then the acceptance is on record
    stored = Account.get(account.account_id)
    assert (stored.agreement_version, stored.agreement_accepted_at, stored.agreement_accepted_ip) == (
        h.settings.agreement_version, h.clock.t, "198.51.100.9")
    assert "agreement_accepted" in _kinds(account.account_id)


def test_accept_agreement__a_version_that_is_not_current_is_refused(h):
    # Given an account
    account = h.verified()
    # When an old or unknown version is accepted
    with pytest.raises(InvalidInput) as refused:
        h.rights.accept_agreement(account, "0", IP)
    # Then it is refused and the record is unchanged
    assert refused.value.code == "AGREEMENT_VERSION_NOT_CURRENT"
    assert Account.get(account.account_id).agreement_version == h.settings.agreement_version


def test_api_keys__create_list_use_revoke(h):
    # Given Ann
    account = h.verified()
    # When she creates a key
    issued = h.api_keys.create(account.account_id, "my bot", IP)
    # Then it is long, random, stored only as a hash, listed without the secret, and authenticates
    assert issued.api_key.startswith("smsr_") and len(issued.api_key) >= 40
    assert all(issued.api_key not in (c.token_hash, c.key_id) for c in Credential.scan())
    assert [(c.key_id, c.label) for c in h.api_keys.list(account.account_id)] == [(issued.key_id, "my bot")]
    assert authenticate(issued.api_key, h.clock).credential_kind == "api_key"
    assert h.api_keys.list(account.account_id)[0].last_used_at == h.clock.t
    # When she revokes it, it stops working and is gone from the list
    h.api_keys.revoke(account.account_id, issued.key_id, IP)
    with pytest.raises(Unauthenticated):
        authenticate(issued.api_key, h.clock)
    assert h.api_keys.list(account.account_id) == []
    assert {"api_key_created", "api_key_revoked"} <= set(_kinds(account.account_id))


def test_api_keys__someone_elses_key_cannot_be_revoked(h):
    # Given Ann's key and Bob
    ann, bob = h.verified("ann@example.com"), h.verified("bob@example.com")
    issued = h.api_keys.create(ann.account_id, None, IP)
    # When Bob tries to revoke Ann's key by its id
    with pytest.raises(NotFound):
        h.api_keys.revoke(bob.account_id, issued.key_id, IP)
    # Then it still works
    assert authenticate(issued.api_key, h.clock).account.account_id == ann.account_id


def test_api_keys__at_most_the_limit(h):
    # Given an account with the maximum number of keys
    account = h.verified()
    for _ in range(MAX_API_KEYS):
        h.api_keys.create(account.account_id, None, IP)
    # When one more is asked for
    with pytest.raises(Conflict) as refused:
        h.api_keys.create(account.account_id, None, IP)
    # Then it is refused
    assert refused.value.code == "TOO_MANY_API_KEYS"


def test_revoke_all_credentials__ends_sessions_and_keys(h):
    # Given a session and a key
    account = h.verified()
    secrets = [h.session(), h.api_keys.create(account.account_id, None, IP).api_key]
    # When an admin revokes everything
    h.accounts.revoke_all_credentials(account.account_id)
    # Then neither works
    for secret in secrets:
        with pytest.raises(Unauthenticated):
            authenticate(secret, h.clock)


def test_webhook__stores_the_url_and_keeps_the_secret_unless_rotated(h):
    # Given Ann
    account = h.verified()
    # When she sets a URL, changes it, then rotates the secret
    first = h.webhooks.set(account, "https://bot.example.com/sms", rotate_secret=False, ip=IP)
    second = h.webhooks.set(account, "https://hooks.example.net:9000/hook", rotate_secret=False, ip=IP)
    third = h.webhooks.set(account, "https://hooks.example.net:9000/hook", rotate_secret=True, ip=IP)
    # Then the URL is stored, the secret survives a URL change and changes on rotation
    assert first.secret and first.secret.startswith("whsec_")
    assert second.secret == first.secret and third.secret != first.secret
    stored = Account.get(account.account_id)
    assert (stored.webhook_url, stored.webhook_secret) == ("https://hooks.example.net:9000/hook", third.secret)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/hook", "https://", "https://user:pw@example.com/",
                                 "https://example.com/a b", "https://example.com:99999/",
                                 "https://x.com/" + "a" * 2100])
def test_webhook__invalid_url_is_refused_and_nothing_stored(h, url):
    # Given Ann
    account = h.verified()
    # When she sets an invalid URL
    with pytest.raises(InvalidInput) as refused:
        h.webhooks.set(account, url, rotate_secret=False, ip=IP)
    # Then it is refused and nothing was stored
    assert refused.value.code == "INVALID_URL"
    assert Account.get(account.account_id).webhook_url is None


def test_activity__newest_first_in_pages_and_expired_entries_hidden(h):
    # Given three entries a second apart, the first already past a 1-day retention
    record_activity("acc_x", "topup", IP, {"amount_cents": 500}, clock=h.clock, retention_days=1)
    h.clock.advance(86400)
    record_activity("acc_x", "order", IP, None, clock=h.clock, retention_days=180)
    h.clock.advance(1)
    record_activity("acc_x", "sign_in", "198.51.100.1", None, clock=h.clock, retention_days=180)
    # When the log is read in pages of one
    first = list_activity("acc_x", limit=1, clock=h.clock)
    second = list_activity("acc_x", limit=1, before=first.next_before, clock=h.clock)
    everything = list_activity("acc_x", clock=h.clock)
    # Then newest comes first, pages continue, and the expired entry is hidden
    assert [e.kind for e in first.entries] == ["sign_in"] and first.entries[0].ip == "198.51.100.1"
    assert [e.kind for e in second.entries] == ["order"]
    assert [e.kind for e in everything.entries] == ["sign_in", "order"]
    assert detail_of(everything.entries[1]) == {}


def test_activity__a_forged_cursor_is_refused(h):
    # Given an account with activity
    record_activity("acc_x", "sign_in", IP, None, clock=h.clock, retention_days=180)
    # When a cursor that we never gave out is sent, then it is refused as bad input
    with pytest.raises(InvalidInput) as refused:
        list_activity("acc_x", before="'; drop table", clock=SystemClock())
    assert refused.value.details == {"field": "before"}
