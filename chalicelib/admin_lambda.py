"""The admin Lambda (never a public route): `{"command", "args", "actor"}` in, the command's JSON result out.

A failure is `{"error": {"code", "message"}}` (the CLI prints it and exits 1); nothing else ever has a
top-level "error" key. `bin/admin` calls `handle` in-process locally and through lambda.invoke when
deployed, so both paths run exactly this code.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib import wiring
from chalicelib.api.admin import COMMANDS, Args
from chalicelib.api.errors import error_body
from chalicelib.domain.errors import DomainError, InvalidInput
from chalicelib.observability import logger
from chalicelib.services.admin.service import AdminService


def handle(event: Any, service: AdminService | None = None) -> dict[str, Any]:
    """Run one admin command; domain errors and bad events become the error shape, never an exception."""
    try:
        command, args, actor = _parse(event)
        logger.info("admin command", extra={"command": command, "actor": actor})
        result = command(service or wiring.admin_service(), args, actor)
        return _plain(result)
    except DomainError as error:
        return error_body(error.code, error.message, error.details)
    except Exception as error:  # the operator needs to see it; the Lambda must still answer
        logger.exception("admin command failed")
        return error_body("INTERNAL_ERROR", f"{type(error).__name__}: {error}")


def _parse(event: Any) -> tuple[Callable[[AdminService, Args, str], Any], Args, str]:
    if not isinstance(event, dict):
        raise InvalidInput("The event must be a JSON object with 'command', 'args' and 'actor'.")
    name, args, actor = event.get("command"), event.get("args") or {}, event.get("actor")
    if not isinstance(actor, str) or not actor.strip():
        raise InvalidInput("'actor' (who runs the command) is required: every action is audited.")
    if not isinstance(args, dict):
        raise InvalidInput("'args' must be a JSON object.")
    command = COMMANDS.get(name) if isinstance(name, str) else None
    if command is None:
        raise InvalidInput(f"Unknown command {name!r}; known: {', '.join(sorted(COMMANDS))}.",
                           code="UNKNOWN_COMMAND")
    return command, Args(args), actor.strip()


def _plain(result: Any) -> dict[str, Any]:
    """The result as plain JSON types (Decimals and the like as strings), always an object."""
    plain = json.loads(json.dumps(result, default=str))
    return plain if isinstance(plain, dict) else {"result": plain}
