"""The agreement's lifecycle (13.1–13.3): publish a version, tell every user once, serve every version with its
changes, and count continued use after the effective day as acceptance, without a DynamoDB call of its own."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.admin_lambda import handle
from chalicelib.domain.errors import Conflict, InvalidInput
from chalicelib.services.accounts import agreement_notices
from chalicelib.services.accounts.activity import list_activity
from chalicelib.services.accounts.agreement_notices import AgreementNotices
from chalicelib.services.accounts.agreement_versions import AgreementVersions
from chalicelib.services.accounts.authn import authenticate
from chalicelib.services.accounts.rights import AccountRights
from chalicelib.services.admin.agreement import AgreementAdmin
from chalicelib.services.admin.audit import AuditLog
from chalicelib.services.platform.mail_outbox import DurableMailer
from chalicelib.store.accounts import Account
from chalicelib.store.agreements import AgreementVersion
from chalicelib.store.mail import QueuedMail
from tests.unit.accounts_support import IP, PASSWORD, Harness, RecordingMailer
from tests.unit.dynamo_calls import count_dynamodb_calls

V2 = """SMS Rooms — Virtual Numbers for SMS Verification

User Agreement

General Provisions

1.1. The Service provides Users with access to temporary virtual phone numbers.

Pricing, Payment, and Refunds

6.3. Card processing fees of a refunded deposit are deducted from the refund.
"""


def _day(h: Harness, days: int = 0) -> str:
    return (datetime.fromtimestamp(h.clock.now(), tz=UTC).date() + timedelta(days=days)).isoformat()


@pytest.fixture
def office(h: Harness, monkeypatch: pytest.MonkeyPatch) -> Iterator[AgreementAdmin]:
    """The operator's agreement commands over the harness's tables and clock, with no version published yet."""
    for model in (AgreementVersion, QueuedMail):
        with model.batch_write() as batch:
            for item in model.scan():
                batch.delete(item)
    monkeypatch.setattr(wiring, "clock", lambda: h.clock)
    yield AgreementAdmin(AgreementVersions(h.settings.agreement_version, h.clock), AuditLog(h.clock))


def test_publish__stores_text_hash_and_dates_and_every_user_sees_the_notice(h, office, api):
    # Given a signed-in user who accepted version 1
    token = api.session()
    # When an admin publishes version 2, taking effect in 30 days
    published = office.publish(V2, _day(h, 30), "ops@example.com")
    # Then it is stored with its hash, publication time and effective day
    stored = AgreementVersion.get("2")
    assert (published["version"], stored.text, stored.effective_on) == ("2", V2.rstrip(), _day(h, 30))
    assert stored.sha256 == published["sha256"] and len(stored.sha256) == 64
    assert stored.published_at == h.clock.now() and stored.published_by == "ops@example.com"
    # And from now on the user's account says a new version waits, while version 1 stays in force
    me = api.call("GET", "/v1/me", token=token).json_body
    assert me["agreement_pending"]["version"] == "2" and me["agreement_pending"]["effective_on"] == _day(h, 30)
    assert (me["current_agreement_version"], me["agreement_update_required"]) == ("1", False)


@pytest.mark.parametrize(("text", "effective_days", "field"), [
    ("6.3. Fees\ud800 apply.", 1, "text"),  # a lone surrogate
    ("6.3. Fees \u202eylppa apply.", 1, "text"),  # a right-to-left override hiding what the clause says
    ("6.3. Fees\x00apply.", 1, "text"),
    (" \n\t\n", 1, "text"),
    ("x" * (128 * 1024 + 1), 1, "text"),
    (V2, -1, "effective"),  # yesterday
    (V2, 400, "effective"),  # a typo'd year
])
def test_publish__bad_text_or_day_is_refused_and_stores_nothing(h, office, text, effective_days, field):
    # When an admin publishes a hostile or broken text, or a day in the past or years away
    with pytest.raises(InvalidInput) as refused:
        office.publish(text, _day(h, effective_days), "ops@example.com")
    # Then it is refused naming the field, and nothing is stored
    assert refused.value.details["field"] == field
    assert list(AgreementVersion.scan()) == []


@pytest.mark.parametrize("raw", ["2027-02-30", "٢٠٢٧-٠١-٢٠", "2027-1-20", "20270120", "2027-01-20T00:00"])
def test_publish__a_day_not_written_yyyy_mm_dd_is_refused(h, office, raw):
    with pytest.raises(InvalidInput):
        office.publish(V2, raw, "ops@example.com")
    assert list(AgreementVersion.scan()) == []


def test_publish__again_with_the_same_text_and_day_answers_the_same_version(h, office):
    # Given version 2 published
    first = office.publish(V2, _day(h, 10), "ops@example.com")
    # When the command runs again (a retried CLI call), and then with the same text for another day
    again = office.publish(V2, _day(h, 10), "ops@example.com")
    # Then the repeat answers version 2 without a new version, and another day for the same text is a conflict
    assert (again["version"], again["published"], first["published"]) == ("2", False, True)
    with pytest.raises(Conflict):
        office.publish(V2, _day(h, 11), "ops@example.com")
    assert [v.version for v in AgreementVersion.scan()] == ["2"]


def test_publish__through_the_admin_lambda_and_a_version_cannot_take_effect_before_the_previous(h, office):
    # Given version 2 taking effect in 20 days, published through the admin Lambda's command
    reply = handle({"command": "agreement-publish", "actor": "ops", "args": {"text": V2, "effective": _day(h, 20)}})
    assert reply["version"] == "2"
    # When version 3 is published to take effect before it
    refused = handle({"command": "agreement-publish", "actor": "ops",
                      "args": {"text": V2 + "\n7.1. More.", "effective": _day(h, 5)}})
    # Then it is refused with a clear error, and the status command lists both versions and the one in force
    assert refused["error"]["code"] == "INVALID_INPUT" and "before" in refused["error"]["message"]
    status = handle({"command": "agreement-status", "actor": "ops", "args": {}})
    assert (status["in_force"], status["newest"], [v["version"] for v in status["versions"]]) == ("1", "2", ["1", "2"])


def test_notices__one_email_per_user_even_when_the_job_runs_twice_or_stops_half_way(h, office, monkeypatch):
    # Given four users, one of whom withdrew consent, read two a page
    users = [h.verified(f"u{n}@example.com") for n in range(4)]
    h.rights.withdraw_consent(users[3], IP)
    monkeypatch.setattr(agreement_notices, "PAGE", 2)
    office.publish(V2, _day(h, 30), "ops@example.com")
    notices = AgreementNotices(h.clock, "https://rooms.example")
    # When a run queues its page but dies before it records its place, and then runs continue (two at times)
    monkeypatch.setattr(AgreementNotices, "_advance", lambda *_: (_ for _ in ()).throw(TimeoutError()))
    with pytest.raises(TimeoutError):
        notices.run()
    monkeypatch.undo()
    monkeypatch.setattr(agreement_notices, "PAGE", 2)
    for _ in range(4):
        notices.run()
        notices.run()
    sender = RecordingMailer()
    mailer = DurableMailer(sender, h.clock)
    mailer.deliver_due()
    mailer.deliver_due()
    # Then each user with an address got exactly one email about version 2, with its link; nobody else did
    got = sorted(m.to for m in sender.sent)
    assert got == ["u0@example.com", "u1@example.com", "u2@example.com"]
    assert all("https://rooms.example/agreement/2" in m.body and _day(h, 30) in m.subject for m in sender.sent)
    assert AgreementVersion.get("2").notice_done_at is not None


def test_agreement_page__every_version_with_what_changed_since_the_one_before(h, office, api):
    # Given versions 2 and 3 published after the bundled version 1
    office.publish(V2, _day(h, 1), "ops")
    office.publish(V2.replace("are deducted", "are kept"), _day(h, 2), "ops")
    # When anyone reads each version
    pages = {v: api.call("GET", f"/v1/agreement/{v}").json_body for v in ("1", "2", "3")}
    # Then each has its text as headings and paragraphs, and its changes from the version before
    assert pages["1"]["previous_version"] is None and pages["1"]["changes"] == []
    assert {"kind": "heading", "text": "General Provisions"} in pages["1"]["blocks"]
    assert "HomeUser Agreement" not in pages["1"]["text"]
    assert pages["3"]["previous_version"] == "2"
    assert [(c["op"], c["text"]) for c in pages["3"]["changes"]] == [
        ("removed", "6.3. Card processing fees of a refunded deposit are deducted from the refund."),
        ("added", "6.3. Card processing fees of a refunded deposit are kept from the refund.")]
    assert pages["3"]["changes"][0]["under"] == "Pricing, Payment, and Refunds"
    assert any(c["op"] == "removed" and c.get("text", "").startswith("13.3.") for c in pages["2"]["changes"])
    # And the address emails give leads to the dashboard's page of that version, below the page's own path
    link = api.client.http.get("/agreement/3")
    assert (link.status_code, link.headers["Location"]) == (302, "../#/agreement/3")
    assert api.call("GET", "/v1/agreement/4").status_code == 404
    for hostile in ("%D9%A3", "3%0D%0ALocation:%20https://evil.example", "x" * 300):
        reply = api.client.http.get(f"/agreement/{hostile}")
        assert reply.headers.get("Location") in ("../#/agreement", None) and reply.status_code in (302, 403, 404)


def test_continued_use__after_the_effective_day_is_acceptance_recorded_with_time_and_request(h, office):
    # Given a user who accepted version 1, and version 2 published to take effect tomorrow
    user = h.verified()
    key = h.api_keys.create(user.account_id, "bot", IP).api_key
    office.publish(V2, _day(h, 1), "ops")
    # When the user's bot keeps using the service today, and again after the day came
    authenticate(key, h.clock, ip=IP, request_id="req-today")
    assert Account.get(user.account_id).agreement_version == "1"
    h.clock.advance(86400 + 61)
    authenticate(key, h.clock, ip="198.51.100.4", request_id="req-after")
    # Then the account accepted version 2 at that time, from that request
    stored = Account.get(user.account_id)
    assert (stored.agreement_version, stored.agreement_accepted_at) == ("2", h.clock.now())
    assert (stored.agreement_accepted_request, stored.agreement_accepted_ip) == ("req-after", "198.51.100.4")
    accepted = [e for e in list_activity(user.account_id, clock=h.clock).entries if e.kind == "agreement_accepted"]
    assert '"request_id": "req-after"' in (accepted[0].detail or "")


def test_continued_use__acceptance_costs_no_dynamodb_call_of_its_own(h, office):
    # Given two users' keys last used a minute ago, version 2 in force for one (it accepted version 1 only)
    due, done = h.verified("due@example.com"), h.verified("done@example.com")
    office.publish(V2, _day(h), "ops")
    h.rights.accept_agreement(done, "2", IP)
    keys = [h.api_keys.create(a.account_id, "bot", IP).api_key for a in (due, done)]
    for key in keys:
        authenticate(key, h.clock)
    h.clock.advance(61)
    # When each key is used again
    counts = []
    for key in keys:
        with count_dynamodb_calls() as calls:
            authenticate(key, h.clock, request_id="r")
        counts.append(len(calls))
    # Then recording the acceptance took no more calls than the plain last-use write
    assert counts[0] == counts[1]
    assert Account.get(due.account_id).agreement_version == "2"


def test_register_and_accept__the_version_in_force_or_the_published_newer_one(h, office):
    # Given version 2 published, not yet in force
    office.publish(V2, _day(h, 3), "ops")
    # When one person registers accepting version 2 and an older account accepts it in words
    new = h.accounts.register("new@example.com", PASSWORD, "2", IP)
    old = h.verified("old@example.com")
    AccountRights(h.accounts).accept_agreement(old, "2", IP)
    # Then both hold version 2; version 0 was never one to accept
    assert Account.get(new.account_id).agreement_version == Account.get(old.account_id).agreement_version == "2"
    with pytest.raises(InvalidInput):
        h.accounts.register("other@example.com", PASSWORD, "0", IP)
