"""Stripe's webhook-endpoint API (`/v1/webhook_endpoints`) on localstripe, which has only `/_config/webhooks/{id}`.

Enough of Stripe's documented shape for `bin/admin stripe-webhook` to be proven locally: create (the signing
secret is returned once, `whsec_…`), list (never the secret), update `url`/`enabled_events`/`disabled`, delete.
Each endpoint is registered with localstripe's own webhook sender, so events really arrive, signed with the secret.
"""
from __future__ import annotations

import secrets
from typing import Any

_endpoints: dict[str, dict[str, Any]] = {}
_secrets: dict[str, str] = {}


def install(app: Any) -> None:
    """Add the routes to localstripe's aiohttp app (before it starts serving)."""
    app.router.add_post("/v1/webhook_endpoints", _create)
    app.router.add_get("/v1/webhook_endpoints", _list)
    app.router.add_get("/v1/webhook_endpoints/{id}", _retrieve)
    app.router.add_post("/v1/webhook_endpoints/{id}", _update)
    app.router.add_delete("/v1/webhook_endpoints/{id}", _delete)


async def _create(request: Any) -> Any:
    from localstripe.errors import UserError
    from localstripe.server import get_post_data, json_response

    data = await get_post_data(request) or {}
    url, events = data.get("url"), _events(data.get("enabled_events"))
    if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not events:
        raise UserError(400, "url and enabled_events are required")
    endpoint_id, secret = "we_" + secrets.token_hex(12), "whsec_" + secrets.token_hex(24)
    _endpoints[endpoint_id] = {"id": endpoint_id, "object": "webhook_endpoint", "url": url,
                               "enabled_events": events, "status": "enabled",
                               "description": data.get("description"), "metadata": data.get("metadata") or {}}
    _secrets[endpoint_id] = secret
    _register(endpoint_id)
    return json_response({**_endpoints[endpoint_id], "secret": secret})


async def _list(request: Any) -> Any:
    from localstripe.server import json_response

    return json_response({"object": "list", "url": "/v1/webhook_endpoints", "has_more": False,
                          "data": list(_endpoints.values())})


async def _retrieve(request: Any) -> Any:
    from localstripe.server import json_response

    return json_response(_found(request.match_info["id"]))


async def _update(request: Any) -> Any:
    from localstripe.server import get_post_data, json_response

    endpoint = _found(request.match_info["id"])
    data = await get_post_data(request) or {}
    if "url" in data:
        endpoint["url"] = str(data["url"])
    if "enabled_events" in data:
        endpoint["enabled_events"] = _events(data["enabled_events"])
    if "disabled" in data:
        endpoint["status"] = "disabled" if str(data["disabled"]).lower() == "true" else "enabled"
    _register(endpoint["id"])
    return json_response(endpoint)


async def _delete(request: Any) -> Any:
    from localstripe import webhooks
    from localstripe.server import json_response

    endpoint = _found(request.match_info["id"])
    del _endpoints[endpoint["id"]], _secrets[endpoint["id"]]
    webhooks._webhooks.pop(endpoint["id"], None)
    return json_response({"id": endpoint["id"], "object": "webhook_endpoint", "deleted": True})


def _found(endpoint_id: str) -> dict[str, Any]:
    from localstripe.errors import UserError

    if endpoint_id not in _endpoints:
        raise UserError(404, f"No such webhook endpoint: '{endpoint_id}'")
    return _endpoints[endpoint_id]


def _events(raw: Any) -> list[str]:
    return [str(e) for e in raw] if isinstance(raw, list) else [str(raw)] if raw else []


def _register(endpoint_id: str) -> None:
    from localstripe import webhooks

    endpoint = _endpoints[endpoint_id]
    if endpoint["status"] != "enabled":
        webhooks._webhooks.pop(endpoint_id, None)
        return
    events = None if endpoint["enabled_events"] == ["*"] else endpoint["enabled_events"]
    webhooks.register_webhook(endpoint_id, endpoint["url"], _secrets[endpoint_id], events)
