"""SIM-bank agents pushing SMS to us, their hub (the SMSHub agent protocol's PUSH_SMS, protocols.md §3).

`POST /v1/partners/{name}/smshub` takes `{"action":"PUSH_SMS", "key", "smsId", "phone", "phoneFrom", "text"}`
(gzip-compressed too: the protocol asks agents to compress) from partner `name`, whose protocol must be
`smshub_agent`, authenticated by that partner's configured key. An agent repeats a push every 10 s until the
answer is `{"status":"SUCCESS"}`, so the answer decides whether it keeps trying:

- SUCCESS: the SMS is on its activation; or it was already (a repeat of an smsId we took: our SUCCESS got
  lost); or no activation can ever take it (below). The agent marks it delivered and stops.
- HTTP 200 `{"status":"ERROR"}`: no open activation of this agent has the phone yet. An agent may push the
  moment after GET_NUMBER, before our record of the number is visible, so it should try again, and does for
  a minute from its first try (services/activations/agent_sms.py). Past that, the SMS is for a number that ended (an SMS
  late after a cancel or a timeout) or that we never rented: SUCCESS, dropped and logged, or the agent would
  retry forever.
- 4xx `{"status":"ERROR"}`: the request is wrong (401 bad key, 404 no such agent, 422 a body outside the
  protocol). The agent keeps retrying, which is right: once its operator fixes the key or the URL, the SMS
  still arrives. Bad input never gets a 5xx; a 5xx is our storage failing, and a retry is the cure.

Delivery is `SmsIntake.record_sms`, as for the other push path. Each smsId taken is claimed for a day: a repeated
push is a no-op, and a late repeat cannot land on a newer activation that got the same number (agents sell a
number again once its activation ends). The activation is found through the sparse `active` index (hash: the
partner) filtered on the phone: one query whose cost follows the agent's open activations, with no new index.
One number may be open for several services at once (its SIM receives for all); the hub owns the SMS filter,
so the SMS goes to the activation whose service it names, and to none when it names no single one of them.
"""
from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api.errors import status_for
from chalicelib.api.fields import MAX_BODY_BYTES, checked_text, digits, json_object
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.config import PartnerSettings, get_settings
from chalicelib.domain.errors import DomainError, InvalidInput, NotFound, Unauthenticated
from chalicelib.domain.ids import same

if TYPE_CHECKING:  # the service is imported on the first push: other routes' cold starts do not load it
    from chalicelib.services.activations.agent_sms import AgentSms
    from chalicelib.services.platform import rate_limit
else:
    rate_limit = lazy_module("chalicelib.services.platform.rate_limit")

PROTOCOL = "smshub_agent"
_MAX_TEXT = 2000
_GZIP_MAGIC = b"\x1f\x8b"

bp = Blueprint(__name__)
_http = RestRoutes(bp)  # for the request; replies and errors are the protocol's `{"status": …}` below


@bp.route("/v1/partners/{name}/smshub", methods=["POST"])
def smshub_push(name: str) -> Response:
    from chalicelib.services.activations.agent_sms import Outcome

    try:
        partner = _agent(name)
        body = _body()
        if not partner.api_key or not same(str(body.get("key") or ""), partner.api_key):
            # Counted against the caller's IP like any unknown credential: guessing meets 429, not a free loop.
            rate_limit.admit_failed_credential(wiring.failed_credentials_limiter(), _http.client_ip())
            raise Unauthenticated("The key is not this agent's.", code="BAD_KEY")
        sms = _sms(body)
        outcome = wiring.agent_sms_desk().receive(partner.name, sms)
    except DomainError as error:
        return _reply(status_for(error), {"status": "ERROR", "error": f"{error.code}: {error.message}"})
    if outcome is Outcome.NOT_YET:
        return _reply(200, {"status": "ERROR", "error": f"NO_ACTIVATION: no open activation has {sms.phone} yet; "
                                                        "push again"})
    return _reply(200, {"status": "SUCCESS"})


def _agent(name: str) -> PartnerSettings:
    for partner in get_settings().partners:
        if partner.name == name and partner.protocol == PROTOCOL:
            return partner
    raise NotFound(f"No SMSHub agent partner named {name!r}.")


def _body() -> dict[str, Any]:
    raw = _http.raw_bytes()
    headers: Any = _http.request.headers or {}
    # API Gateway inflates a gzip body itself and may pass the header on; the local server passes the bytes.
    if str(headers.get("content-encoding") or "").lower() == "gzip" and raw[:2] == _GZIP_MAGIC:
        raw = _gunzip(raw)
    return json_object(raw, "push body")


def _gunzip(raw: bytes) -> bytes:
    try:
        # Never more than the size limit plus one byte: a small bomb cannot fill the memory.
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, MAX_BODY_BYTES + 1)
    except zlib.error:
        raise InvalidInput("The push body is not valid gzip.", code="MALFORMED_JSON") from None


def _sms(body: dict[str, Any]) -> AgentSms:
    from chalicelib.services.activations.agent_sms import AgentSms

    if body.get("action") != "PUSH_SMS":
        raise InvalidInput("'action' must be PUSH_SMS.", code="BAD_ACTION", details={"field": "action"})
    text, sender = body.get("text"), body.get("phoneFrom", "")
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"'text' must be a string of 1 to {_MAX_TEXT} characters.", details={"field": "text"})
    if not isinstance(sender, str):
        raise InvalidInput("'phoneFrom' must be a string.", details={"field": "phoneFrom"})
    return AgentSms(sms_id=_whole(body, "smsId"), phone=str(_whole(body, "phone")),
                    sender=checked_text(sender, "phoneFrom", max_length=64),
                    text=checked_text(text, "text", max_length=_MAX_TEXT))


def _whole(body: dict[str, Any], field: str) -> int:
    """A protocol Ulong: a JSON number (a string of ASCII digits is tolerated)."""
    value = body.get(field)
    if isinstance(value, str):
        value = digits(value.removeprefix("+"), max_digits=20)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**64:
        return value
    raise InvalidInput(f"'{field}' must be a whole number.", details={"field": field})


def _reply(status: int, body: dict[str, str]) -> Response:
    return Response(body=body, status_code=status, headers={"Content-Type": "application/json"})
