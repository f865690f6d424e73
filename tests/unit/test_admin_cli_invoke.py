"""bin/admin on a deployed stage: one invocation of the admin Lambda, waited for as long as a Lambda may run."""
from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

ADMIN = Path(__file__).resolve().parents[2] / "bin" / "admin"


def _cli() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("admin_cli", str(ADMIN))
    spec = importlib.util.spec_from_loader("admin_cli", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class RecordingLambda:
    def __init__(self) -> None:
        self.invoked: list[dict[str, Any]] = []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invoked.append(kwargs)
        return {"Payload": io.BytesIO(json.dumps({"clean": True}).encode())}


def test_invoke_deployed__waits_up_to_lambdas_longest_run_and_never_invokes_twice(monkeypatch):
    # Given the AWS client bin/admin would build for a deployed stage
    built: list[Any] = []
    fake = RecordingLambda()

    def client(service: str, config: Any = None, **_: Any) -> RecordingLambda:
        built.append((service, config))
        return fake

    monkeypatch.setattr(boto3, "client", client)
    # When a command is sent to the dev stage
    answer = _cli()._invoke_deployed("dev", {"command": "reconcile", "args": {"full": True}, "actor": "ops"})
    # Then the admin Lambda is invoked once, with a wait longer than any Lambda runs and no retry on a timeout
    (service, config), = built
    assert (service, answer, len(fake.invoked)) == ("lambda", {"clean": True}, 1)
    assert fake.invoked[0]["FunctionName"] == "sms-rooms-dev-admin"
    assert config.read_timeout >= 900 and config.retries == {"total_max_attempts": 1}
