"""make smoke: after a deploy, prove the stage serves a customer end to end, then leave nothing spendable behind.

Steps: health, catalog, an account created by the admin Lambda (with the price of one number), sign in, order
a number through the configured partner, read it back; then clean up (revoke the order, which refunds it, take
the refund back out, block the account). Each step prints its name; the first that fails stops the run with
its name and reason, and the clean-up still runs.
"""
from __future__ import annotations

import argparse
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from infra.aws import APP_NAME, Stop, require_stage, run, session, stack_outputs

ACTOR = "make smoke"
TIMEOUT_SECONDS = 30


class Smoke:
    """The steps against `base_url`, with the admin Lambda reached through `lambda_client.invoke`."""

    def __init__(self, lambda_client: Any, admin_function: str, base_url: str) -> None:
        self.lambda_ = lambda_client
        self.admin_function = admin_function
        self.base_url = base_url.rstrip("/")
        self.email = f"smoke-{int(time.time())}-{secrets.token_hex(3)}@smoke.invalid"
        self.password = secrets.token_urlsafe(18)
        self.activation_id: int | None = None
        self.account_created = False
        self.balance_cents = 0

    def step(self, name: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except Stop as failure:
            raise Stop(f"FAILED at step '{name}': {failure}") from None
        print(f"smoke: {name}: ok")
        return result

    def http(self, method: str, path: str, body: Any = None, token: str | None = None,
             expect: int = 200) -> Any:
        headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as reply:
                status, text = reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except (urllib.error.URLError, TimeoutError) as error:
            raise Stop(f"{method} {path}: {error}") from None
        if status != expect:
            raise Stop(f"{method} {path} answered {status} (expected {expect}): {text[:300]}")
        return json.loads(text) if text else None

    def admin(self, command: str, **args: Any) -> dict[str, Any]:
        payload = json.dumps({"command": command, "args": args, "actor": ACTOR}).encode()
        reply = self.lambda_.invoke(FunctionName=self.admin_function, Payload=payload)
        result = json.loads(reply["Payload"].read() or b"{}")
        if "FunctionError" in reply or "error" in result:
            raise Stop(f"admin {command}: {result.get('error') or result}")
        return dict(result)

    def run(self) -> None:
        try:
            self.step("health", lambda: self.http("GET", "/health"))
            offer = self.step("catalog", self.cheapest_offer)
            self.step("create an account (admin Lambda)", lambda: self.create_account(offer["price_cents"]))
            token = self.step("sign in", lambda: self.http("POST", "/v1/auth/login", {
                "email": self.email, "password": self.password})["token"])
            self.step(f"order {offer['service']} in country {offer['country']} through the partner",
                      lambda: self.order(token, offer))
            self.step("read the activation", lambda: self.http("GET", f"/v1/activations/{self.activation_id}",
                                                               token=token))
        finally:
            if self.account_created:
                self.step("clean up", self.clean_up)

    def cheapest_offer(self) -> dict[str, Any]:
        items = [i for i in self.http("GET", "/v1/catalog")["items"] if i.get("available")]
        if not items:
            raise Stop("no offer is available (are partners configured in PARTNERS_JSON and prices refreshed?)")
        return dict(min(items, key=lambda i: i["price_cents"]))

    def create_account(self, price_cents: int) -> None:
        self.admin("create-account", email=self.email, verified=True, password=self.password,
                   balance_cents=price_cents)
        self.account_created, self.balance_cents = True, price_cents

    def order(self, token: str, offer: dict[str, Any]) -> None:
        activation = self.http("POST", "/v1/activations", {"service": offer["service"], "country": offer["country"]},
                               token=token, expect=201)
        self.activation_id = int(activation["id"])

    def clean_up(self) -> None:
        if self.activation_id is not None:
            self.admin("revoke", activation_id=str(self.activation_id), reason="smoke test")
        balance = int(self.admin("show", email=self.email).get("balance_cents", 0))
        if balance:
            self.admin("adjust", email=self.email, amount_cents=-balance, reason="smoke test clean-up")
        self.admin("block", email=self.email, reason="smoke test account")


def main() -> None:
    parser = argparse.ArgumentParser(description="Smoke-test a deployed stage.")
    parser.add_argument("--stage", default="")
    args = parser.parse_args()

    def command() -> None:
        stage = require_stage(args.stage)
        aws, _ = session()
        outputs = stack_outputs(aws.client("cloudformation"), stage)
        Smoke(aws.client("lambda"), f"{APP_NAME}-{stage}-admin", outputs.get("DomainURL") or outputs["EndpointURL"]
              ).run()

    run("smoke", command)


if __name__ == "__main__":
    main()
