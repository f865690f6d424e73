"""Regaining and changing a password (reset links, what each revokes), sessions, and new-sign-in emails, over moto."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from chalicelib.domain.accounts import AccountStatus
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import Forbidden, InvalidInput, NotFound, RateLimited, Unauthenticated
from chalicelib.services.accounts.activity import list_activity
from chalicelib.services.accounts.authn import authenticate
from chalicelib.services.accounts.login_throttle import PAIR_RULE
from chalicelib.services.accounts.signin import REAUTHENTICATED_WITHIN_SECONDS
from chalicelib.store.accounts import Account
from chalicelib.store.base import connection
from tests.unit.accounts_support import IP, PASSWORD, Harness

NEW_PASSWORD = "a brand new passphrase"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
NEW_SIGN_IN = "New sign-in to your SMS Rooms account"


def _reset_link(h: Harness, email: str = "ann@example.com") -> str:
    h.recovery.forgot_password(email)
    token = h.mailer.last_to(email).token
    h.clock.advance(60)  # the next reset email of this address may go out
    return token


def _hash(h: Harness, token: str) -> str:
    return authenticate(token, h.clock).token_hash


def _works(h: Harness, secret: str) -> bool:
    try:
        authenticate(secret, h.clock)
    except Unauthenticated:
        return False
    return True


def test_forgot_password__reset_link_sets_a_new_password_and_ends_sessions(h):
    # Given Ann signed in somewhere
    account = h.verified()
    old_session = h.session()
    # When she asks for a reset and uses the link
    h.recovery.forgot_password("Ann@example.com")
    mail = h.mailer.last_to("ann@example.com")
    assert f"/#/reset-password?token={mail.token}" in mail.body
    h.recovery.reset_password(mail.token, NEW_PASSWORD, IP, revoke_api_keys=True)
    h.clock.advance(1)
    # Then the old password fails, the new one works, the old session ended, and she was told by email
    with pytest.raises(Unauthenticated):
        h.signin.login("ann@example.com", PASSWORD, IP)
    assert h.signin.login("ann@example.com", NEW_PASSWORD, IP).token
    assert not _works(h, old_session)
    assert "password_reset" in [e.kind for e in list_activity(account.account_id, clock=SystemClock()).entries]
    assert "Your SMS Rooms password was changed" in [m.subject for m in h.mailer.sent]


def test_forgot_password__known_and_unknown_emails_answer_alike_and_each_get_one_email(h):
    # Given Ann's account
    h.verified()
    sent = len(h.mailer.sent)
    # When a reset is asked for her address and for one without an account
    answers = [h.recovery.forgot_password("ann@example.com"), h.recovery.forgot_password("nobody@example.com")]
    # Then both calls answer the same, and each address got exactly one email: a link for Ann, a note for the other
    assert answers == [None, None]
    assert len(h.mailer.sent) == sent + 2
    assert "token=" in h.mailer.last_to("ann@example.com").body
    note = h.mailer.last_to("nobody@example.com")
    assert "no account uses it" in note.body and "token=" not in note.body


@contextmanager
def _dynamodb_calls() -> Iterator[Counter[str]]:
    """The DynamoDB operations made within the block, by name."""
    calls: Counter[str] = Counter()
    events = connection().client.meta.events
    events.register("after-call.dynamodb", lambda model, **_: calls.update([model.name]), unique_id="count-calls")
    try:
        yield calls
    finally:
        events.unregister("after-call.dynamodb", unique_id="count-calls")


def test_forgot_password__an_unknown_address_costs_the_same_dynamodb_work_as_a_known_one(h):
    # Given Ann's account
    h.verified()
    # When a reset is asked for her address and for one without an account
    with _dynamodb_calls() as known:
        h.recovery.forgot_password("ann@example.com")
    with _dynamodb_calls() as unknown:
        h.recovery.forgot_password("nobody@example.com")
    # Then both made the same reads and writes (the unknown one on an id nobody has), so timing tells nothing
    assert known == unknown and known["UpdateItem"] == 1


def test_forgot_password__at_most_one_email_a_minute_an_address(h):
    # When resets are asked for an unknown address three times in a minute
    for _ in range(3):
        h.recovery.forgot_password("nobody@example.com")
    # Then one email went out
    assert len(h.mailer.sent) == 1


def test_reset_password__a_newer_link_kills_every_earlier_one(h):
    # Given two reset links asked a minute apart
    h.verified()
    first, second = _reset_link(h), _reset_link(h)
    # When the older one is used
    with pytest.raises(InvalidInput) as stale:
        h.recovery.reset_password(first, NEW_PASSWORD, IP, revoke_api_keys=True)
    # Then it is refused, and the newer one works
    assert stale.value.code == "TOKEN_INVALID"
    assert h.recovery.reset_password(second, NEW_PASSWORD, IP, revoke_api_keys=True).account.status == "active"


def test_reset_password__using_a_link_kills_every_other_one(h):
    # Given a link, a newer one used, and a link issued with the lock after a report
    h.verified()
    older, newer = _reset_link(h), _reset_link(h)
    h.recovery.reset_password(newer, NEW_PASSWORD, IP, revoke_api_keys=True)
    # When the older link or the used one is tried afterwards
    for token in (older, newer):
        with pytest.raises(InvalidInput) as refused:
            h.recovery.reset_password(token, "yet another passphrase", IP, revoke_api_keys=True)
        # Then each is refused and the password stays the one chosen
        assert refused.value.code == "TOKEN_INVALID"
    assert h.signin.login("ann@example.com", NEW_PASSWORD, IP).token


def test_reset_password__link_expires(h):
    # Given a reset link
    h.verified()
    token = _reset_link(h)
    # When its hour is over
    h.clock.advance(h.settings.reset_token_ttl_seconds)
    # Then it is refused as expired
    with pytest.raises(InvalidInput) as expired:
        h.recovery.reset_password(token, NEW_PASSWORD, IP, revoke_api_keys=True)
    assert expired.value.code == "TOKEN_EXPIRED"


def test_reset_password__weak_password_is_refused_and_the_link_still_works(h):
    # Given a reset link
    h.verified()
    token = _reset_link(h)
    # When a common password is chosen
    with pytest.raises(InvalidInput) as refused:
        h.recovery.reset_password(token, "password123", IP, revoke_api_keys=True)
    # Then it is refused and the same link accepts a good one
    assert refused.value.code == "WEAK_PASSWORD"
    reset = h.recovery.reset_password(token, NEW_PASSWORD, IP, revoke_api_keys=True)
    assert reset.account.status == AccountStatus.ACTIVE.value


def test_reset_password__also_confirms_an_unverified_email(h):
    # Given an unverified account
    account = h.registered()
    # When its owner resets the password through the emailed link
    h.recovery.reset_password(_reset_link(h), NEW_PASSWORD, IP, revoke_api_keys=True)
    # Then the account is active: the link proved the address
    assert Account.get(account.account_id).status == AccountStatus.ACTIVE.value


def test_reset_password__revokes_api_keys_unless_the_owner_keeps_them(h):
    # Given Ann with a session and two API keys
    account = h.verified()
    session = h.session()
    key = h.api_keys.create(account.account_id, "bot", IP).api_key
    # When she resets her password choosing to keep her keys
    kept = h.recovery.reset_password(_reset_link(h), NEW_PASSWORD, IP, revoke_api_keys=False)
    h.clock.advance(1)
    # Then the session ended and the key still works
    assert not kept.api_keys_revoked and not _works(h, session) and _works(h, key)
    # When she resets again with the default choice
    revoked = h.recovery.reset_password(_reset_link(h), "yet another passphrase", IP, revoke_api_keys=True)
    # Then the key is dead too
    assert revoked.api_keys_revoked and not _works(h, key)


def test_reset_password__after_a_report_of_unauthorized_access_always_revokes_api_keys(h):
    # Given Ann, who reported unauthorized access while a bot held a key
    account = h.verified()
    key = h.api_keys.create(account.account_id, "bot", IP).api_key
    h.rights.report_unauthorized(h.accounts.get(account.account_id), IP)
    # When she unlocks with the emailed link, asking to keep her keys
    reset = h.recovery.reset_password(h.mailer.last_to("ann@example.com").token, NEW_PASSWORD, IP,
                                      revoke_api_keys=False)
    # Then the account is active again but the keys were revoked anyway
    assert reset.account.status == AccountStatus.ACTIVE.value and reset.api_keys_revoked
    assert not _works(h, key)


def test_report_unauthorized__kills_reset_links_asked_before_it(h):
    # Given a reset link Ann asked for (or someone in her mailbox did)
    account = h.verified()
    earlier = _reset_link(h)
    # When she reports unauthorized access
    h.rights.report_unauthorized(h.accounts.get(account.account_id), IP)
    # Then only the link of the lock email works
    with pytest.raises(InvalidInput):
        h.recovery.reset_password(earlier, NEW_PASSWORD, IP, revoke_api_keys=True)
    assert h.recovery.reset_password(h.mailer.last_to("ann@example.com").token, NEW_PASSWORD, IP,
                                     revoke_api_keys=True).account.status == AccountStatus.ACTIVE.value


def test_change_password__needs_the_current_password_and_changes_nothing_without_it(h):
    # Given Ann signed in
    account = h.verified()
    session = h.session()
    # When she tries to change her password with a wrong current one
    with pytest.raises(InvalidInput) as refused:
        h.recovery.change_password(h.accounts.get(account.account_id), "not my password", NEW_PASSWORD, IP, None,
                                   revoke_api_keys=True)
    # Then she is told which field is wrong, the old password still works and so does her session
    assert (refused.value.code, refused.value.details) == ("WRONG_PASSWORD", {"field": "current_password"})
    assert h.signin.login("ann@example.com", PASSWORD, IP).token and _works(h, session)


def test_change_password__signs_out_everywhere_revokes_keys_and_gives_this_client_a_new_session(h):
    # Given Ann signed in twice, with an API key and an unused reset link
    account = h.verified()
    sessions = [h.session(), h.session()]
    key = h.api_keys.create(account.account_id, "bot", IP).api_key
    link = _reset_link(h)
    # When she changes her password with the default choice
    change = h.recovery.change_password(h.accounts.get(account.account_id), PASSWORD, NEW_PASSWORD, IP, FIREFOX,
                                        revoke_api_keys=True)
    # Then every earlier session and the key are dead, the new session works, and so does only the new password
    assert change.api_keys_revoked and not any(_works(h, s) for s in [*sessions, key])
    assert _works(h, change.session.token)
    with pytest.raises(Unauthenticated):
        h.signin.login("ann@example.com", PASSWORD, IP)
    # And the reset link asked before the change is dead
    with pytest.raises(InvalidInput):
        h.recovery.reset_password(link, "yet another passphrase", IP, revoke_api_keys=True)
    assert h.mailer.last_to("ann@example.com").subject == "Your SMS Rooms password was changed"


def test_change_password__may_keep_the_api_keys(h):
    # Given Ann signed in with an API key
    account = h.verified()
    key = h.api_keys.create(account.account_id, "bot", IP).api_key
    # When she changes her password keeping her keys
    change = h.recovery.change_password(h.accounts.get(account.account_id), PASSWORD, NEW_PASSWORD, IP, None,
                                        revoke_api_keys=False)
    # Then the key still works
    assert not change.api_keys_revoked and _works(h, key)


def test_change_password__guessing_the_current_password_meets_the_throttle(h):
    # Given someone holding Ann's session who guesses her password
    account = h.accounts.get(h.verified().account_id)
    for _ in range(PAIR_RULE.free_failures + 1):
        with pytest.raises(InvalidInput):
            h.recovery.change_password(account, "guess", NEW_PASSWORD, IP, None, revoke_api_keys=True)
    # Then even the right one must wait
    with pytest.raises(RateLimited):
        h.recovery.change_password(account, PASSWORD, NEW_PASSWORD, IP, None, revoke_api_keys=True)


def test_sessions__list_shows_where_each_signed_in_newest_first(h):
    # Given Ann signed in from two places
    account = h.verified()
    h.signin.login("ann@example.com", PASSWORD, IP, FIREFOX)
    h.clock.advance(1)
    h.signin.login("ann@example.com", PASSWORD, "198.51.100.9", "curl/8.5.0")
    # When her sessions are listed
    listed = h.credentials.list_sessions(h.accounts.get(account.account_id))
    # Then both show, newest first, with IP and device
    assert [(c.ip, c.device) for c in listed] == [("198.51.100.9", "curl/8.5.0"), (IP, FIREFOX)]


def _session_id(h: Harness, account: Account, token: str) -> str:
    token_hash = authenticate(token, h.clock).token_hash
    return next(c.key_id for c in h.credentials.list_sessions(h.accounts.get(account.account_id))
                if c.token_hash == token_hash)


def test_revoke_session__ends_only_that_one_and_only_on_its_own_account(h):
    # Given Ann with two sessions, and Bob signed in
    ann = h.verified()
    keep, end = h.session(), h.session()
    bob = h.verified("bob@example.com")
    bob_token = h.session("bob@example.com")
    session_id = _session_id(h, ann, end)
    # When Bob tries to end Ann's session, then Ann ends it from her other one
    with pytest.raises(NotFound) as refused:
        h.signin.revoke_session(h.accounts.get(bob.account_id), session_id, _hash(h, bob_token), IP)
    assert refused.value.code == "SESSION_NOT_FOUND" and _works(h, end)
    h.signin.revoke_session(h.accounts.get(ann.account_id), session_id, _hash(h, keep), IP)
    # Then that session is dead, the other works, and it no longer lists
    assert not _works(h, end) and _works(h, keep)
    assert session_id not in [c.key_id for c in h.credentials.list_sessions(h.accounts.get(ann.account_id))]


def test_revoke_session__another_needs_a_recent_sign_in_but_signing_itself_out_does_not(h):
    # Given Ann's old session (a token someone may have stolen) and a newer one
    ann = h.verified()
    old = h.session()
    h.clock.advance(REAUTHENTICATED_WITHIN_SECONDS + 1)
    newer = h.session()
    # When the old session tries to sign the newer one out
    with pytest.raises(Forbidden) as refused:
        h.signin.revoke_session(ann, _session_id(h, ann, newer), _hash(h, old), IP)
    # Then it must sign in again first; and a session however old may always sign itself out
    assert refused.value.code == "REAUTHENTICATION_REQUIRED" and _works(h, newer)
    h.clock.advance(REAUTHENTICATED_WITHIN_SECONDS + 1)
    stale_self = h.session()
    h.clock.advance(REAUTHENTICATED_WITHIN_SECONDS + 1)
    h.signin.revoke_session(ann, _session_id(h, ann, stale_self), _hash(h, stale_self), IP)
    assert not _works(h, stale_self)


def test_login__from_a_new_ip_or_device_emails_the_owner(h):
    # Given Ann, who signed in once from home with Firefox (her first sign-in is not news)
    h.verified()
    h.signin.login("ann@example.com", PASSWORD, IP, FIREFOX)
    assert NEW_SIGN_IN not in [m.subject for m in h.mailer.sent]
    # When she signs in again the same way, then from another IP, then with another device
    h.signin.login("ann@example.com", PASSWORD, IP, FIREFOX)
    h.signin.login("ann@example.com", PASSWORD, "198.51.100.9", FIREFOX)
    h.signin.login("ann@example.com", PASSWORD, IP, "curl/8.5.0")
    # Then the two new ones were emailed, with the IP and device
    mails = [m for m in h.mailer.sent if m.subject == NEW_SIGN_IN]
    assert len(mails) == 2
    assert "198.51.100.9" in mails[0].body and "curl/8.5.0" in mails[1].body
