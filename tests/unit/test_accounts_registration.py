"""Registration, email verification and the spending gate, over moto."""
from __future__ import annotations

import pytest

from chalicelib.domain.accounts import AccountStatus, LedgerKind, require_can_spend
from chalicelib.domain.clock import SystemClock
from chalicelib.domain.errors import AccountRestricted, AccountUnverified, InvalidInput
from chalicelib.services.accounts.activity import list_activity
from chalicelib.services.money.wallet import Wallet
from chalicelib.store.accounts import Account, OneTimeToken
from chalicelib.store.ledger import Claim
from chalicelib.store.money import DynamoMoneyStore
from tests.unit.accounts_support import IP, PASSWORD, CountingPasswords, Harness


def _row_counts() -> tuple[int, int, int]:
    return Account.count(), Claim.count(), OneTimeToken.count()


def test_register__creates_an_unverified_account_and_mails_a_single_use_link(h):
    # When Ann registers
    account = h.accounts.register("  Ann@Example.COM ", PASSWORD, "1", IP)
    # Then the account is unverified, keyed by the normalised email, with the agreement acceptance recorded
    stored = Account.get(account.account_id)
    assert (stored.status, stored.email) == (AccountStatus.UNVERIFIED.value, "ann@example.com")
    assert (stored.agreement_version, stored.agreement_accepted_at) == ("1", h.clock.t)
    assert stored.agreement_accepted_ip == IP
    # And the password is stored as an argon2id hash only
    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash
    # And an email with a verify link arrived
    mail = h.mailer.last_to("ann@example.com")
    assert f"{h.settings.public_base_url}/#/verify?token={mail.token}" in mail.body
    assert [e.kind for e in list_activity(account.account_id, clock=SystemClock()).entries] == ["registered"]


def test_register__taken_email_answers_like_a_new_one_and_tells_the_owner_instead(h):
    # Given Ann's account
    ann = h.registered("ann@example.com")
    before = (Account.count(), OneTimeToken.count())
    # When someone registers ANN@example.com
    decoy = h.accounts.register("ANN@example.com", "another good passphrase", "1", IP)
    # Then they get an unverified account like anyone, whose id is fresh and belongs to nothing stored
    assert decoy.status == AccountStatus.UNVERIFIED.value
    assert decoy.account_id.startswith("acc_") and decoy.account_id != ann.account_id
    assert Account.count(decoy.account_id) == 0 and (Account.count(), OneTimeToken.count()) == before
    # And Ann, not the caller, gets an email telling her, and her activity shows the attempt with its IP
    mail = h.mailer.last_to("ann@example.com")
    assert mail.subject == "Someone tried to register with your email"
    assert "/#/forgot" in mail.body and "token=" not in mail.body
    logged = list_activity(ann.account_id, clock=SystemClock()).entries
    assert ("registration_attempted", IP) in [(e.kind, e.ip) for e in logged]


def test_register__taken_email_hashes_the_password_like_a_new_one(h):
    # Given a hasher that counts its hashes, and Ann's account
    passwords = CountingPasswords()
    counted = Harness(h.settings, passwords)
    counted.registered("ann@example.com")
    # When a new address and then the taken one register
    counted.accounts.register("new@example.com", "another good passphrase", "1", IP)
    after_new = passwords.hashed
    counted.accounts.register("ann@example.com", "another good passphrase", "1", IP)
    # Then the taken one made its argon2id hash just as the new one did
    assert (after_new, passwords.hashed) == (2, 3)


def test_register__repeated_attempts_on_a_taken_email_mail_its_owner_once_a_minute(h):
    # Given Ann's account
    h.registered("ann@example.com")
    # When her address is registered three times in a minute, then once more after it
    for _ in range(3):
        h.accounts.register("ann@example.com", "another good passphrase", "1", IP)
    h.clock.advance(60)
    h.accounts.register("ann@example.com", "another good passphrase", "1", IP)
    # Then she got her verification email and two notes, not four
    assert [m.subject for m in h.mailer.sent].count("Someone tried to register with your email") == 2


@pytest.mark.parametrize(("password", "why"), [
    ("short1!", "at least 8"),
    ("x" * 129, "at most 128"),
    ("password1", "too common"),
    ("ann@example.com", "too common"),
])
def test_register__weak_password_is_refused_and_writes_nothing(h, password, why):
    # When Ann registers with a weak password
    with pytest.raises(InvalidInput) as refused:
        h.accounts.register("ann@example.com", password, "1", IP)
    # Then she is told why and nothing was written or sent
    assert refused.value.code == "WEAK_PASSWORD" and why in refused.value.message
    assert _row_counts() == (0, 0, 0) and h.mailer.sent == []


@pytest.mark.parametrize(("email", "version", "code"), [
    ("not-an-email", "1", "INVALID_EMAIL"),
    ("ann@example", "1", "INVALID_EMAIL"),
    ("ann@example.com", "0", "AGREEMENT_VERSION_NOT_CURRENT"),
])
def test_register__bad_email_or_stale_agreement_is_refused_and_writes_nothing(h, email, version, code):
    # When the input is wrong
    with pytest.raises(InvalidInput) as refused:
        h.accounts.register(email, PASSWORD, version, IP)
    # Then the code says why and nothing was written
    assert refused.value.code == code
    assert _row_counts() == (0, 0, 0)


def test_register__mail_outage_still_creates_the_account(h):
    # Given a mailer that fails
    def broken(to: str, subject: str, body: str) -> str:
        raise OSError("SES is down")
    h.mailer.send = broken  # type: ignore[method-assign]
    # When Ann registers
    account = h.registered()
    # Then the account exists and she can ask for the email again later
    assert Account.get(account.account_id).status == AccountStatus.UNVERIFIED.value


def test_verify_email__activates_the_account_and_the_token_works_once(h):
    # Given a registration email
    account = h.registered()
    token = h.mailer.last_to("ann@example.com").token
    # When the token is used
    verified = h.accounts.verify_email(token, IP)
    # Then the account is active
    assert verified.status == AccountStatus.ACTIVE.value
    # And the same token cannot be used again
    with pytest.raises(InvalidInput) as reused:
        h.accounts.verify_email(token, IP)
    assert reused.value.code == "TOKEN_INVALID"
    assert Account.get(account.account_id).status == AccountStatus.ACTIVE.value


def test_verify_email__expired_token_is_refused_and_the_account_stays_unverified(h):
    # Given a link older than its 24 hours
    account = h.registered()
    token = h.mailer.last_to("ann@example.com").token
    h.clock.advance(h.settings.verify_token_ttl_seconds + 1)
    # When it is used
    with pytest.raises(InvalidInput) as refused:
        h.accounts.verify_email(token, IP)
    # Then it is expired and nothing changed
    assert refused.value.code == "TOKEN_EXPIRED"
    assert Account.get(account.account_id).status == AccountStatus.UNVERIFIED.value


@pytest.mark.parametrize("token", ["", "made-up-token", "x" * 500])
def test_verify_email__unknown_token_is_refused(h, token):
    # Given an unverified account
    h.registered()
    # When a token that was never issued is sent
    with pytest.raises(InvalidInput) as refused:
        h.accounts.verify_email(token, IP)
    # Then it is refused
    assert refused.value.code == "TOKEN_INVALID"


def test_verify_email__a_reset_token_cannot_verify(h):
    # Given an unverified account that asked for a password reset
    account = h.registered()
    h.recovery.forgot_password("ann@example.com")
    reset_token = h.mailer.last_to("ann@example.com").token
    # When the reset token is used to verify
    with pytest.raises(InvalidInput):
        h.accounts.verify_email(reset_token, IP)
    # Then the account is still unverified
    assert Account.get(account.account_id).status == AccountStatus.UNVERIFIED.value


def test_resend_verification__mails_a_new_working_link_at_most_once_a_minute(h):
    # Given an unverified account with its first email
    account = h.registered()
    # When a new email is asked for twice in the same minute, then once more a minute later
    h.accounts.resend_verification("ANN@example.com")
    h.accounts.resend_verification("ann@example.com")
    h.clock.advance(60)
    h.accounts.resend_verification("ann@example.com")
    # Then two more emails went out and the newest link verifies
    assert len(h.mailer.sent) == 3
    h.accounts.verify_email(h.mailer.sent[-1].token, IP)
    assert Account.get(account.account_id).status == AccountStatus.ACTIVE.value


def test_resend_verification__unknown_or_verified_email_mails_nothing(h):
    # Given a verified account
    h.verified()
    sent = len(h.mailer.sent)
    # When new verification emails are asked for it and for an unknown address
    h.accounts.resend_verification("ann@example.com")
    h.accounts.resend_verification("nobody@example.com")
    # Then nothing was sent (and the caller cannot tell the difference)
    assert len(h.mailer.sent) == sent


def test_create_verified_account__is_active_and_its_owner_sets_a_password_by_reset(h):
    # Given an admin-made account without a password
    account = h.accounts.create_verified_account("Bob@Example.com")
    assert account.status == AccountStatus.ACTIVE.value and account.is_admin_created
    # When Bob asks for a reset and sets a password
    h.recovery.forgot_password("bob@example.com")
    h.recovery.reset_password(h.mailer.last_to("bob@example.com").token, PASSWORD, IP, revoke_api_keys=True)
    h.clock.advance(1)
    # Then he can sign in, and registering the address again makes no account (Bob is told instead)
    assert h.signin.login("bob@example.com", PASSWORD, IP).token
    decoy = h.accounts.register("bob@example.com", PASSWORD, "1", IP)
    assert Account.count(decoy.account_id) == 0
    assert h.mailer.last_to("bob@example.com").subject == "Someone tried to register with your email"


def test_find_by_email__ignores_case_and_knows_no_strangers(h):
    # Given Ann's account
    account = h.registered()
    # Then she is found by any case of her address, and others are not found
    assert h.accounts.find_by_email("ANN@EXAMPLE.COM").account_id == account.account_id
    assert h.accounts.find_by_email("nobody@example.com") is None
    assert h.accounts.find_by_email("not an email") is None


def test_require_can_spend__refuses_unverified_then_allows_once_verified(h):
    # Given an unverified account
    account = h.registered()
    # Then it may not spend, with EMAIL_NOT_VERIFIED
    with pytest.raises(AccountUnverified) as refused:
        require_can_spend(account)
    assert refused.value.code == "EMAIL_NOT_VERIFIED"
    # When verified, it may
    h.accounts.verify_email(h.mailer.last_to("ann@example.com").token, IP)
    require_can_spend(h.accounts.get(account.account_id))


def test_require_can_spend__refuses_a_balance_below_zero(h):
    # Given a verified account that lost a dispute and went negative
    account = h.verified()
    Wallet(h.clock, DynamoMoneyStore()).post(account.account_id, -500, LedgerKind.DISPUTE, "dp_1", allow_negative=True)
    # Then it may not spend until topped up
    with pytest.raises(AccountRestricted):
        require_can_spend(h.accounts.get(account.account_id))
