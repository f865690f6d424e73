"""Partners pushing SMS to us (the fastest of the three paths): signature checked on the raw body, then recorded.

The body is the one our simulator and SMS-Activate-style partners send:
`{"activationId", "phone", "text", "code", "receivedAt"}`, signed by the partner named in the URL with its own
secret over a timestamp and the body (domain/push_signature.py); any refusal answers one 401 alike.
A rented number's SMS comes as SMS-Activate's rent webhook body, `{"rentId", "sms": {"phoneFrom", "text", "date"}}`,
signed the same way (we give the partner this URL at getRentNumber only when it has a push secret).
An activation or rental we cannot find answers 404, so the partner retries: a partner may push before our write of
the number it just issued is visible (SMS within milliseconds, an index that is eventually consistent).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.api.fields import checked_text, json_object
from chalicelib.api.kit import RestRoutes
from chalicelib.api.lazy import lazy_module
from chalicelib.config import get_settings
from chalicelib.domain.errors import InvalidInput, NotFound, Unauthenticated
from chalicelib.domain.ids import is_identifier
from chalicelib.observability import logger

if TYPE_CHECKING:  # loads with the first push, not with the app (api/lazy.py)
    from chalicelib.domain import push_signature
else:
    push_signature = lazy_module("chalicelib.domain.push_signature")

_MAX_TEXT = 2000

bp = Blueprint(__name__)
v1 = RestRoutes(bp)


@v1.route("/v1/partners/{name}/push", methods=["POST"])
def partner_push(name: str) -> dict[str, Any]:
    raw = v1.raw_bytes()
    _check_signature(name, raw)
    body = json_object(raw, "push body")
    if "rentId" in body:
        _record_rental_sms(name, body)
        return {"status": "SUCCESS"}
    activation_id, text, code = _push(body)
    if not wiring.activations().record_push(name, activation_id, text, code):
        raise NotFound(f"No activation {activation_id} of partner {name} (yet).")
    return {"status": "SUCCESS"}


def _check_signature(name: str, raw: bytes) -> None:
    settings = get_settings()
    headers: Any = v1.request.headers or {}
    partner = next((p for p in settings.partners if p.name == name), None)
    try:
        push_signature.check_push(partner.push_secrets if partner else (),
                                  str(headers.get(push_signature.TIMESTAMP_HEADER.lower()) or ""),
                                  str(headers.get(push_signature.SIGNATURE_HEADER.lower()) or ""), raw,
                                  now=wiring.clock().now(), tolerance_seconds=settings.partner_push_tolerance_seconds)
    except push_signature.PushRefused as refused:
        logger.warning("partner push refused", extra={"partner": ascii(name)[:64], "reason": str(refused)})
        raise Unauthenticated("The push signature does not match.", code="BAD_SIGNATURE") from None


def _record_rental_sms(partner: str, body: dict[str, Any]) -> None:
    rent_id, sms = body.get("rentId"), body.get("sms")
    if isinstance(rent_id, bool) or not isinstance(rent_id, int | str) or not is_identifier(str(rent_id), 64):
        raise InvalidInput("'rentId' is not a rental id.", details={"field": "rentId"})
    if not isinstance(sms, dict) or not isinstance(sms.get("text"), str) or not sms["text"]:
        raise InvalidInput("'sms.text' must be a string of 1 to 2000 characters.", details={"field": "sms.text"})
    sender, date = sms.get("phoneFrom"), sms.get("date")
    if not isinstance(sender, str | None) or not isinstance(date, str | None):
        raise InvalidInput("'sms.phoneFrom' and 'sms.date' must be strings.", details={"field": "sms"})
    wiring.rentals().record_push(partner, str(rent_id), checked_text(sms["text"], "sms.text", max_length=_MAX_TEXT),
                          checked_text(sender, "sms.phoneFrom", max_length=64) if sender else None,
                          checked_text(date, "sms.date", max_length=64) if date else None)


def _push(body: dict[str, Any]) -> tuple[str, str, str | None]:
    activation_id, text, code = body.get("activationId"), body.get("text"), body.get("code")
    if isinstance(activation_id, bool) or not isinstance(activation_id, int | str) or not str(activation_id):
        raise InvalidInput("'activationId' is required.", details={"field": "activationId"})
    if not is_identifier(str(activation_id), max_length=64):
        raise InvalidInput("'activationId' is not an activation id.", details={"field": "activationId"})
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"'text' must be a string of 1 to {_MAX_TEXT} characters.", details={"field": "text"})
    if code is not None and not isinstance(code, str):
        raise InvalidInput("'code' must be a string.", details={"field": "code"})
    return str(activation_id), checked_text(text, "text", max_length=_MAX_TEXT), (
        checked_text(code, "code", max_length=64) if code else None)
