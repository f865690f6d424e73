"""The agreement's lifecycle over HTTP on the local stack: `bin/admin agreement publish`, the notice and email, every
version with its changes, and continued use as acceptance naming the request that showed it (13.1–13.3); and what
a user wrote, gone after they withdraw consent (12.3)."""
from __future__ import annotations

from pathlib import Path

import pytest
import requests

from chalicelib.store.accounts import Credential
from chalicelib.store.support import Ticket, TicketMessage
from tests.agreement_support import V2, admin_agreement, published, utc_day
from tests.browser.helpers import api, verified_user
from tests.integration.helpers_security import emails_to
from tests.support import eventually

pytestmark = pytest.mark.integration


def test_agreement_publish__users_are_told_once_and_using_the_service_accepts_it(stack):
    # Given a signed-in user with an API key, who accepted version 1
    outbox = Path(stack.env()["MAIL_OUTBOX_DIR"])
    user = verified_user(stack.app_url, outbox, "agree")
    key = api(stack.app_url, "POST", "/v1/api-keys", user.token, json={"label": "bot"}).json()["api_key"]
    # When an operator publishes version 2 taking effect today
    with published(stack, V2, utc_day(0)) as version:
        # Then the user's account shows it at once, in force
        # (within the app's settings cache of a few seconds)
        pending = eventually(lambda: api(stack.app_url, "GET", "/v1/me", user.token).json()["agreement_pending"],
                             lambda found: found is not None, seconds=10)
        assert (version["version"], pending["version"], pending["in_force"]) == ("2", "2", True)
        # And every version is served with its changes, and the emailed address leads to it
        page = requests.get(f"{stack.app_url}/v1/agreement/2", timeout=10).json()
        assert page["previous_version"] == "1" and page["sha256"] == version["sha256"]
        assert any(c["op"] == "added" and c.get("text", "").startswith("13.4.") for c in page["changes"])
        link = requests.get(f"{stack.app_url}/agreement/2", timeout=10, allow_redirects=False)
        assert (link.status_code, link.headers["Location"]) == (302, "../#/agreement/2")
        # And the notice job emails the user once, with the version's address
        notices = eventually(lambda: [m for m in emails_to(outbox, user.email) if "agreement" in str(m["Subject"])],
                             lambda found: len(found) >= 1, seconds=60)
        assert len(notices) == 1
        assert f"{stack.app_url}/agreement/2" in notices[0].get_content()
        # And the user's bot using its key is the acceptance, recorded with that request's id
        used = api(stack.app_url, "GET", "/v1/me", key)
        me = api(stack.app_url, "GET", "/v1/me", user.token).json()
        assert (me["agreement_version"], me["agreement_pending"]) == ("2", None)
        assert me["agreement_accepted_by_request"] == used.headers["X-Request-Id"]


@pytest.mark.parametrize(("content", "effective", "says"), [
    (b"6.3. Fees \xed\xa0\x80 apply.", utc_day(1), "not UTF-8"),  # a surrogate encoded in the file: not UTF-8
    (b"x" * (128 * 1024 + 1), utc_day(1), "longer than"),
    ("6.3. Fees \u202eylppa apply.".encode(), utc_day(1), "U+202E"),
    (V2.encode(), utc_day(-1), "in the past"),
    (V2.encode(), "2026-\u0661\u0662-01", "YYYY-MM-DD"),
])
def test_agreement_publish__a_bad_file_or_day_is_refused_with_a_clear_error(stack, tmp_path, content, effective,
                                                                           says):
    # Given a file an operator should not publish
    path = tmp_path / "agreement.txt"
    path.write_bytes(content)
    # When they run the publish command
    ran = admin_agreement(stack, "publish", "--file", str(path), "--effective", effective)
    # Then it fails saying why, and the app still serves version 1 alone
    assert ran.code == 1 and says in ran.err
    assert requests.get(f"{stack.app_url}/v1/agreement", timeout=10).json()["versions"] == ["1"]


def test_withdraw_consent__what_the_user_wrote_is_removed_over_http(stack, stack_settings):
    # Given a user who wrote to support and labelled an API key
    user = verified_user(stack.app_url, stack.outbox, "words")
    secret = "call me on +7 900 123-45-67"
    api(stack.app_url, "POST", "/v1/support/tickets", user.token,
        json={"subject": f"About {secret}", "message": secret}).raise_for_status()
    api(stack.app_url, "POST", "/v1/api-keys", user.token, json={"label": f"laptop {secret}"}).raise_for_status()
    account_id = api(stack.app_url, "GET", "/v1/me", user.token).json()["account_id"]
    # When they withdraw consent on the dashboard's route
    left = api(stack.app_url, "POST", "/v1/account/withdraw-consent", user.token, json={"refund_remaining": True})
    # Then the account is closed and none of their words is stored any more (12.3)
    assert (left.status_code, left.json()["refund_request_id"]) == (200, None)
    stored = [t.subject for t in Ticket.by_account.query(account_id)]
    stored += [m.body for t in Ticket.by_account.query(account_id) for m in TicketMessage.query(t.ticket_id)]
    stored += [str(c.label) for c in Credential.by_account.query(account_id)]
    assert stored and all(secret not in text for text in stored)
