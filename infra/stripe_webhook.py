"""`bin/admin stripe-webhook --stage S [--url URL]`: register the stage's Stripe webhook, keep its secret in SSM.

The endpoint is `<the stage's public URL>/v1/webhooks/stripe` (the custom domain's, else the execute-api one, from
the stack's outputs), enabled for exactly the events the code handles (`STRIPE_EVENT_HANDLERS`, the webhook's
dispatch table). Stripe shows an endpoint's signing secret only when it creates it, so the command stores it at
once as the SecureString `<SECRETS_PARAMETER_PREFIX>STRIPE_WEBHOOK_SECRET`; the functions pick it up within
SECRETS_TTL_SECONDS, without a deploy.

Run again, it updates the endpoint (events, enabled) instead of adding one. When the endpoint exists but its
secret is not in SSM (lost, or never stored), it makes a new endpoint, stores the new secret, then deletes the old
one: Stripe never shows a secret twice. Endpoints with the same URL beyond the first are deleted (each would
deliver every event again). It runs with the operator's credentials, not the admin Lambda's: no function may
write a secret. The Stripe secret key is read from the same SSM path.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.config import setting_problem
from chalicelib.services.money.stripe_events import STRIPE_EVENT_HANDLERS
from infra.aws import Stop

WEBHOOK_PATH = "/v1/webhooks/stripe"
SECRET_SETTING = "STRIPE_WEBHOOK_SECRET"  # noqa: S105  (the setting's name, not a secret)


@dataclass(frozen=True)
class Registration:
    endpoint_id: str
    url: str
    events: list[str]
    action: str  # created | updated | recreated
    secret_parameter: str
    deleted: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"endpoint_id": self.endpoint_id, "url": self.url, "events": self.events, "action": self.action,
                "secret_parameter": self.secret_parameter, "deleted_endpoints": self.deleted}


def handled_events() -> list[str]:
    return sorted(STRIPE_EVENT_HANDLERS)


def webhook_url(base_url: str) -> str:
    """The endpoint under a public base URL (`https://<id>.execute-api.<region>.amazonaws.com/api/` or a domain)."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise Stop(f"the webhook URL must be an https URL (Stripe calls it from the internet), not {base_url!r}")
    return base_url.rstrip("/").removesuffix(WEBHOOK_PATH) + WEBHOOK_PATH


def register(stripe: Any, ssm: Any, prefix: str, url: str, stage: str) -> Registration:
    """Create or update the stage's endpoint for `url` and store its signing secret under `prefix`."""
    parameter = prefix + SECRET_SETTING
    events = handled_events()
    same_url = [e for e in stripe.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter()
                if e.url == url]
    if same_url and _secret_stored(ssm, parameter):
        keep, extra = same_url[0], same_url[1:]
        stripe.v1.webhook_endpoints.update(keep.id, params={"enabled_events": events, "disabled": False})
        endpoint_id, action = keep.id, "updated"
    else:
        created = stripe.v1.webhook_endpoints.create(params={
            "url": url, "enabled_events": events, "description": f"SMS Rooms {stage}",
            "metadata": {"sms_rooms_stage": stage}})
        # Stored before anything is deleted: there is always one endpoint whose secret the functions hold.
        ssm.put_parameter(Name=parameter, Value=created.secret, Type="SecureString", Overwrite=True,
                          Description=f"Stripe signing secret of {created.id} (bin/admin stripe-webhook)")
        endpoint_id, action, extra = created.id, "recreated" if same_url else "created", same_url
    for endpoint in extra:
        stripe.v1.webhook_endpoints.delete(endpoint.id)
    return Registration(endpoint_id, url, events, action, parameter, [e.id for e in extra])


def _secret_stored(ssm: Any, parameter: str) -> bool:
    try:
        value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return False
    return setting_problem(SECRET_SETTING, value.strip()) is None


def stripe_client(secret_key: str, api_base: str | None = None) -> Any:
    import stripe

    return stripe.StripeClient(secret_key, base_addresses={"api": api_base} if api_base else None)


def run_for_stage(stage: str, url: str | None) -> dict[str, Any]:
    """What the CLI runs: the stage's prefix and URL, the Stripe key from SSM, then `register`."""
    from infra.aws import require_stage, session, stack_outputs
    from infra.template import stage_environment

    require_stage(stage)
    prefix = stage_environment(stage)["SECRETS_PARAMETER_PREFIX"]
    aws, _ = session()
    ssm = aws.client("ssm")
    if url is None:
        outputs = stack_outputs(aws.client("cloudformation"), stage)
        url = outputs.get("DomainURL") or outputs["EndpointURL"]
    try:
        key = ssm.get_parameter(Name=prefix + "STRIPE_SECRET_KEY", WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        raise Stop(f"{prefix}STRIPE_SECRET_KEY is not in SSM: put the stage's Stripe secret key first "
                      "(infra/README.md, Stripe webhook)") from None
    problem = setting_problem("STRIPE_SECRET_KEY", key.strip())
    if problem:
        raise Stop(f"{prefix}{problem}")
    return register(stripe_client(key.strip()), ssm, prefix, webhook_url(url), stage).to_json()
