"""Password hashing and policy, and the account emails as they land in the outbox."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.domain.errors import InvalidInput
from chalicelib.providers.mailer import OutboxMailer
from chalicelib.services.accounts import account_emails
from chalicelib.services.accounts.passwords import Passwords
from tests.unit.accounts_support import CHEAP


def test_hash__production_parameters_are_owasp_argon2id():
    # Given the hasher the app uses
    passwords = Passwords()
    # When a password is hashed
    hashed = passwords.hash("correct horse battery")
    # Then it is argon2id with m = 19 MiB, t = 2, p = 1, and verifies
    assert hashed.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert passwords.verify(hashed, "correct horse battery")
    assert not passwords.verify(hashed, "correct horse battery!")


@pytest.mark.parametrize("stored", [None, "", "not-a-hash", "$argon2id$v=19$m=64,t=1,p=1$broken"])
def test_verify__missing_or_garbage_hash_never_matches(stored):
    # Then no stored value other than a real hash of the password lets anyone in
    assert Passwords(CHEAP).verify(stored, "correct horse battery") is False


def test_check_policy__counts_characters_and_allows_any_unicode():
    # Given an 8-character passphrase in Cyrillic (16 bytes in UTF-8) and a 7-character one
    passwords = Passwords(CHEAP)
    # Then the first is allowed and the second is too short
    passwords.check_policy("пароль№1", "ann@example.com")
    with pytest.raises(InvalidInput):
        passwords.check_policy("парол№1", "ann@example.com")


def test_check_policy__common_passwords_in_any_case_are_refused():
    # Then well-known passwords are refused however they are capitalised
    for common in ("Password1", "QWERTYUIOP", "iloveyou1"):
        with pytest.raises(InvalidInput):
            Passwords(CHEAP).check_policy(common, "ann@example.com")


@pytest.mark.parametrize("email", [
    account_emails.verification("http://127.0.0.1:65535", "T" * 32, 86400),
    account_emails.password_reset("http://127.0.0.1:65535", "T" * 32, 3600),
    account_emails.account_locked("http://127.0.0.1:65535", "T" * 32, 3600),
])
def test_account_emails__outbox_file_is_plain_text_with_a_clickable_link(tmp_path: Path, email):
    # When an account email is written to the local outbox
    OutboxMailer(str(tmp_path), "SMS Rooms <no-reply@sms-rooms.local>").send("ann@example.com", email.subject,
                                                                               email.body)
    raw = next(tmp_path.glob("*.eml")).read_text()
    # Then it is 7-bit text whose link can be copied straight from the file (as `make run` prints it)
    assert "Content-Transfer-Encoding: 7bit" in raw
    assert re.search(r"http://127\.0\.0\.1:65535/#/[a-z-]+\?token=T{32}\n", raw)
