"""REST v1 support routes: a user opens tickets, reads them and writes to support; anyone uses the contact form."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib import wiring
from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes

bp = Blueprint(__name__)
v1 = RestRoutes(bp)
_EMAIL_MAX = 320
_TOKEN_MAX = 200
_JSON: dict[str, str | list[str]] = {"Content-Type": "application/json"}
# The support services are built (and imported) on first use by chalicelib.wiring: other routes' cold starts do not
# load them.


@v1.route("/v1/support/contact", methods=["POST"])
def write_to_support() -> Response:
    """Signed out: the message is kept until its sender opens the link emailed to them (same answer for any address)."""
    from chalicelib.services.support.tickets import MESSAGE_MAX, SUBJECT_MAX

    body = v1.json_body()
    email = fields.text(body, "email", max_length=_EMAIL_MAX)
    subject = fields.text(body, "subject", max_length=SUBJECT_MAX)
    message = fields.text(body, "message", max_length=MESSAGE_MAX)
    wiring.support_contact().write(email, subject, message, v1.client_ip())
    return Response(body={"status": "confirmation_sent",
                          "message": "We emailed you a link: open it to send your message to support."},
                    status_code=202, headers=_JSON)


@v1.route("/v1/support/contact/confirm", methods=["POST"])
def confirm_contact() -> Response:
    ticket = wiring.support_contact().confirm(fields.text(v1.json_body(), "token", max_length=_TOKEN_MAX))
    return Response(body={"ticket_id": ticket.ticket_id, "status": ticket.status.value}, status_code=201,
                    headers=_JSON)


@v1.route("/v1/support/tickets", methods=["POST"])
def open_ticket() -> Response:
    from chalicelib.services.support.tickets import MESSAGE_MAX, SUBJECT_MAX

    principal = v1.principal()
    body = v1.json_body()
    subject = fields.text(body, "subject", max_length=SUBJECT_MAX)
    message = fields.text(body, "message", max_length=MESSAGE_MAX)
    ticket = wiring.support_desk().open_ticket(principal.account.account_id, subject, message)
    return Response(body=ticket.to_json(), status_code=201, headers={"Content-Type": "application/json"})


@v1.route("/v1/support/tickets", methods=["GET"])
def list_tickets() -> dict[str, Any]:
    principal = v1.principal()
    return {"items": [t.to_json() for t in wiring.support_desk().tickets_of(principal.account.account_id)]}


@v1.route("/v1/support/tickets/{ticket_id}", methods=["GET"])
def get_ticket(ticket_id: str) -> dict[str, Any]:
    principal = v1.principal()
    return wiring.support_desk().ticket_of(principal.account.account_id, ticket_id).to_json()


@v1.route("/v1/support/tickets/{ticket_id}/messages", methods=["POST"])
def add_message(ticket_id: str) -> Response:
    from chalicelib.services.support.tickets import MESSAGE_MAX

    principal = v1.principal()
    message = fields.text(v1.json_body(), "message", max_length=MESSAGE_MAX)
    added = wiring.support_desk().add_user_message(principal.account.account_id, ticket_id, message)
    return Response(body={"ticket_id": ticket_id, **added.to_json()}, status_code=201,
                    headers={"Content-Type": "application/json"})
