"""make smoke's steps, run against the local stack (real HTTP, DynamoDB Local, the partner simulator).

The admin Lambda is reached in-process through the same handler a deployed invoke runs; the rest is HTTP.
"""
from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.admin_lambda import handle
from chalicelib.domain.activation_state import ActivationStatus
from chalicelib.store.accounts import Account
from chalicelib.store.activations import Activation
from infra.aws import Stop
from infra.smoke import Smoke
from tests.support import priced_settings

pytestmark = pytest.mark.integration


class AdminLambda:
    """lambda.invoke of the admin function, answered by its handler over the stack's tables."""

    def __init__(self, settings: Any) -> None:
        self.service = wiring.build_admin_service(settings, wiring.clock(), wiring.mailer(), wiring.partners(),
                                                  wiring.stripe_gateway())
        self.invoked: list[str] = []

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:
        event = json.loads(Payload)
        self.invoked.append(event["command"])
        return {"StatusCode": 200, "Payload": io.BytesIO(json.dumps(handle(event, self.service)).encode())}


def test_smoke__passes_on_a_working_stage_and_leaves_nothing_spendable(stack, capsys):
    # Given a running stage whose catalog has the partner's prices
    admin = AdminLambda(priced_settings(stack))
    smoke = Smoke(admin, "sms-rooms-local-admin", stack.app_url + "/")
    # When make smoke runs its steps
    smoke.run()
    # Then every step passed, the order went through the partner, and the clean-up left the account blocked at zero
    steps = [line.removeprefix("smoke: ").removesuffix(": ok") for line in capsys.readouterr().out.splitlines()]
    assert steps[:4] == ["health", "catalog", "create an account (admin Lambda)", "sign in"]
    assert re.fullmatch(r"order \w+ in country \d+ through the partner", steps[4])
    assert steps[5:] == ["read the activation", "clean up"]
    account = Account.get(Activation.get(smoke.activation_id).account_id, consistent_read=True)
    assert (account.status, int(account.balance_cents), int(account.held_cents)) == ("blocked", 0, 0)
    assert Activation.get(smoke.activation_id).status == ActivationStatus.REVOKED.value
    assert admin.invoked[0] == "create-account" and admin.invoked[-1] == "block"


def test_smoke__names_the_step_that_failed():
    # Given a stage that does not answer
    smoke = Smoke(AdminLambda.__new__(AdminLambda), "sms-rooms-x-admin", "http://127.0.0.1:9/api/")
    # When make smoke runs / Then it stops at the first step, naming it, and creates nothing to clean up
    with pytest.raises(Stop, match=r"^FAILED at step 'health': GET /health: "):
        smoke.run()
    assert not smoke.account_created
