"""REST v1 support routes: a user opens tickets, reads them and writes to support."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response

from chalicelib.api import fields
from chalicelib.api.kit import RestRoutes
from chalicelib.services.support import MESSAGE_MAX, SUBJECT_MAX, support_desk

bp = Blueprint(__name__)
v1 = RestRoutes(bp)


@v1.route("/v1/support/tickets", methods=["POST"])
def open_ticket() -> Response:
    principal = v1.principal()
    body = v1.json_body()
    subject = fields.text(body, "subject", max_length=SUBJECT_MAX)
    message = fields.text(body, "message", max_length=MESSAGE_MAX)
    ticket = support_desk().open_ticket(principal.account.account_id, subject, message)
    return Response(body=ticket.to_json(), status_code=201, headers={"Content-Type": "application/json"})


@v1.route("/v1/support/tickets", methods=["GET"])
def list_tickets() -> dict[str, Any]:
    principal = v1.principal()
    return {"items": [t.to_json() for t in support_desk().tickets_of(principal.account.account_id)]}


@v1.route("/v1/support/tickets/{ticket_id}", methods=["GET"])
def get_ticket(ticket_id: str) -> dict[str, Any]:
    principal = v1.principal()
    return support_desk().ticket_of(principal.account.account_id, ticket_id).to_json()


@v1.route("/v1/support/tickets/{ticket_id}/messages", methods=["POST"])
def add_message(ticket_id: str) -> Response:
    principal = v1.principal()
    message = fields.text(v1.json_body(), "message", max_length=MESSAGE_MAX)
    added = support_desk().add_user_message(principal.account.account_id, ticket_id, message)
    return Response(body={"ticket_id": ticket_id, **added.to_json()}, status_code=201,
                    headers={"Content-Type": "application/json"})
