"""The admin Lambda: commands in, JSON out, refusals as the error shape; maintenance, prices, revoke, refunds, audit."""
from __future__ import annotations

from typing import cast

from chalice.test import Client

from app import app
from chalicelib.admin_lambda import handle
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.services.accounts.sessions import Credentials
from chalicelib.services.activations import price_settings
from chalicelib.services.activations.facade import Activations
from chalicelib.services.platform import runtime_settings
from chalicelib.store.activations import Activation
from chalicelib.store.runtime import AuditEntry
from tests.unit.admin_harness import ACTOR, AdminHarness


def run(office: AdminHarness, command: str, **args: object) -> dict:
    return handle({"command": command, "args": args, "actor": ACTOR}, service=office.admin)


def test_handle__unknown_command_is_an_error_naming_the_known_ones(office):
    # When an unknown command arrives
    reply = run(office, "delete-everything")
    # Then the reply is the error shape, with a message an operator can act on
    assert reply["error"]["code"] == "UNKNOWN_COMMAND"
    assert "block" in reply["error"]["message"]


def test_admin_function__is_registered_in_the_app_as_the_admin_lambda(office):
    # When the app's Lambda named "admin" is invoked as lambda.invoke would
    with Client(app) as client:
        reply = client.lambda_.invoke("admin", {"command": "nope", "args": {}, "actor": ACTOR})
    # Then the admin handler answered
    assert reply.payload["error"]["code"] == "UNKNOWN_COMMAND"


def test_handle__missing_actor_is_refused_before_anything_runs(office):
    # When an event has no actor
    reply = handle({"command": "maintenance", "args": {"state": "on"}}, service=office.admin)
    # Then it is refused and maintenance stayed off
    assert reply["error"]["code"] == "INVALID_INPUT"
    assert runtime_settings.maintenance().on is False


def test_handle__wrongly_typed_argument_names_the_field(office):
    reply = run(office, "adjust", email="ann@example.com", amount_cents="ten", reason="x")
    assert reply["error"]["code"] == "INVALID_INPUT"
    assert "amount_cents" in reply["error"]["message"]


def test_handle__unknown_email_is_an_error(office):
    reply = run(office, "block", email="nobody@example.com", reason="fraud")
    assert reply["error"]["code"] == "ACCOUNT_NOT_FOUND"


def test_maintenance__on_then_off_switches_the_setting_and_audits_both(office):
    # When maintenance is switched on with a message, then off
    on = run(office, "maintenance", state="on", message="Back at 14:00 UTC")
    runtime_settings.clear_cache()
    during = runtime_settings.maintenance()
    off = run(office, "maintenance", state="off")
    runtime_settings.clear_cache()
    # Then the switch followed, and the audit shows who did each with before/after
    assert (on["maintenance"], during.on, during.message) == ({"on": True, "message": "Back at 14:00 UTC"}, True,
                                                             "Back at 14:00 UTC")
    assert off["maintenance"]["on"] is False and runtime_settings.maintenance().on is False
    entries = list(AuditEntry.query("system"))
    assert [(e.action, e.actor) for e in entries] == [("maintenance", ACTOR), ("maintenance", ACTOR)]
    assert '"on": true' in (entries[1].before or "")


def test_set_price__then_clear_price_changes_the_override_and_audits(office):
    # When the operator fixes tg in Russia at 250 cents, then clears it
    run(office, "set-price", service="tg", country=0, price_cents=250)
    fixed = price_settings.price_overrides(fresh=True).get("tg#0")
    cleared = run(office, "clear-price", service="tg", country=0)
    # Then the override existed and is gone; both actions are audited
    assert fixed == 250
    assert "tg#0" not in price_settings.price_overrides(fresh=True) and "error" not in cleared
    assert [e.action for e in AuditEntry.query("system")] == ["set-price", "clear-price"]


def test_set_markup__out_of_range_is_refused(office):
    reply = run(office, "set-markup", percent="-5")
    assert reply["error"]["code"] == "INVALID_INPUT"


def test_revoke__waiting_activation_is_revoked_refunded_and_partner_told(office):
    # Given a waiting number bought for its price
    account = office.account(balance_cents=1000)
    bought = office.order(account)
    # When the operator revokes it
    reply = run(office, "revoke", activation_id=str(bought.activation_id), reason="abuse report")
    # Then it is REVOKED, the price is back on the balance, and the partner cancelled the number
    assert reply["activation"]["status"] == ActivationStatus.REVOKED.value
    assert reply["activation"]["refunded_cents"] == bought.price_cents
    assert Activation.get(bought.activation_id).status == ActivationStatus.REVOKED.value
    assert office.fresh(account).balance_cents == 1000
    assert office.partner.canceled == [bought.partner_activation_id]


def test_revoke__unknown_activation_is_an_error(office):
    reply = run(office, "revoke", activation_id="999999")
    assert reply["error"]["code"] == "ACTIVATION_NOT_FOUND"


def test_decide_refund__decline_releases_the_hold_and_answers_the_refund_ticket(office):
    # Given a pending refund request with its ticket
    account = office.account(balance_cents=800)
    request = office.admin.refunds.create(account.account_id, "leaving")
    office.admin.support.open_refund_ticket(account.account_id, request.request_id, 800, "leaving")
    listed = run(office, "refund-requests")["items"]
    # When the operator declines it with a note
    reply = run(office, "decide-refund", request_id=request.request_id, decision="decline", note="used for fraud")
    # Then the money is spendable again, and the user got the decision on the ticket and by email
    assert [r["request_id"] for r in listed] == [request.request_id]
    assert reply["refund_request"]["status"] == "declined"
    assert office.fresh(account).held_cents == 0
    ticket = office.admin.support.ticket(f"tkt_{request.request_id}")
    assert "declined" in ticket.messages[-1].body and "used for fraud" in ticket.messages[-1].body
    assert "used for fraud" in office.mailer.last_to(account.email).body


def test_audit__shows_ledger_activations_and_admin_actions_of_the_account(office):
    # Given an account with an opening balance, a bought number and an adjustment
    account = office.account(balance_cents=1000)
    bought = office.order(account)
    run(office, "adjust", email=account.email, amount_cents=-100, reason="correction")
    # When the operator audits it
    view = run(office, "audit", email=account.email)
    # Then one view has the money, the number and who did what
    assert [e["kind"] for e in view["ledger"]] == ["adjustment", "activation_charge", "adjustment"]
    assert [a["id"] for a in view["activations"]] == [bought.activation_id]
    assert [a["action"] for a in view["admin_actions"]] == ["adjust", "adjust", "create-account"]
    assert view["account"]["balance_cents"] == 900 - bought.price_cents


def test_partners__reports_balance_and_circuit_of_each_partner(office):
    reply = run(office, "partners")
    assert reply["items"] == [{"name": "sim", "circuit": None, "cached_offers": 0, "balance_minor": 5000,
                               "status": "up", "delivery": []}]


def test_partners__shows_each_partners_success_rate_per_service_and_country(office):
    # Given two Telegram numbers in Russia from the partner: one received its code, one was canceled without
    account = office.account(balance_cents=1000)
    received, canceled = office.order(account), office.order(account)
    facade = cast(Activations, office.admin.activations)
    facade.record_push(office.partner.name, str(received.partner_activation_id), "Your Telegram code is 12345", None)
    office.clock.advance(office.settings.cancel_grace_seconds)
    facade.cancel(account.account_id, int(canceled.activation_id))
    # When the operator lists the partners
    item = next(i for i in run(office, "partners")["items"] if i["name"] == office.partner.name)
    # Then its row for Telegram in Russia shows 1 of 2 in every window, still offered
    half = {"outcomes": 2, "received": 1, "percent": 50.0}
    assert item["delivery"] == [{"service": "tg", "country": 0, "operator": "any", "recent": half,
                                 "last_24h": half, "last_7d": half, "not_offered": False}]


def test_stats__counts_orders_revenue_and_margin_of_the_period(office):
    # Given one number bought and one revoked (refunded)
    account = office.account(balance_cents=1000)
    kept = office.order(account)
    revoked = office.order(account)
    run(office, "revoke", activation_id=str(revoked.activation_id))
    # When the operator asks for the stats
    stats = run(office, "stats", days=7)
    # Then orders count both, revenue only the kept one, and nothing was paid to a partner without an SMS
    assert stats["orders"] == {"total": 2, "by_status": {"REVOKED": 1, "WAITING": 1}}
    assert stats["revenue_cents"] == kept.price_cents
    assert stats["activation_refunds_cents"] == revoked.price_cents
    assert stats["partner_cost_cents"] == 0 and stats["margin_cents"] == kept.price_cents


def test_sign_out__through_the_lambda_revokes_keys_only_with_the_flag(office):
    # Given a user with an API key
    account = office.account("ann@example.com")
    Credentials(office.clock, office.settings.session_ttl_seconds).create_api_key(account.account_id, "bot")
    # When the operator runs sign-out without --keys, then with it
    kept = run(office, "sign-out", email="ann@example.com", reason="stolen session")
    revoked = run(office, "sign-out", email="ann@example.com", reason="stolen key", keys=True)
    # Then each answer says what was revoked
    assert (kept["api_keys_revoked"], revoked["api_keys_revoked"]) == (False, True)
    assert run(office, "sign-out", email="ann@example.com", reason="x", keys="yes")["error"]["code"] == \
        "INVALID_INPUT"
