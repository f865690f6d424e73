"""Shared fixtures: moto tables for unit tests; one local stack (DynamoDB Local, Stripe, simulator, app) a session."""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "SmsRoomsTest")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")

from chalicelib import config
from chalicelib.config import Settings, settings_from_env
from chalicelib.services.platform import runtime_settings
from chalicelib.store.base import bind_models, create_tables
from infra.local.stack import Ports, Stack


@pytest.fixture(scope="session", autouse=True)
def _settings_of_the_test_process() -> Iterator[None]:
    """In-process tests read the local stage's settings, as the test process started: Chalice's test Client lays
    the `dev` stage's variables over os.environ during each request, and the first request would otherwise decide."""
    previous = config.use_settings_source(config.SettingsSource(os.environ))
    yield
    config.use_settings_source(previous)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for in-process tests: moto-backed tables, outbox in a temp folder."""
    return replace(settings_from_env({"STAGE": "local"}), dynamodb_endpoint=None, table_prefix="unit-",
                   mail_outbox_dir=str(tmp_path / "outbox"))


@pytest.fixture(scope="module")
def _moto() -> Iterator[Any]:
    """One moto a test module: starting moto and building clients is the slow part, not the tables."""
    from moto import mock_aws

    with mock_aws() as mock:
        yield mock


@pytest.fixture
def moto_tables(settings: Settings, _moto: Any) -> Iterator[Settings]:
    """Every table created empty in moto (no network); yields the settings the models are bound to."""
    _moto.reset()
    bind_models(settings)
    create_tables(wait=False)
    runtime_settings.clear_cache()
    yield settings
    runtime_settings.clear_cache()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The whole local stack on free ports, in-memory DynamoDB, started once for the session."""
    data_dir = Path(tempfile.mkdtemp(prefix="smsrooms-test-"))
    # Every test client is 127.0.0.1: the per-IP sign-in budget is the session's, not one user's, so it is wider.
    # One app worker: tests that switch a runtime setting (maintenance) and count on the rate limit expect one
    # container's caches and counts; several workers are several containers (make run and make bench use them).
    extra = {"CANCEL_GRACE_SECONDS": "2", "STATUS_REFRESH_MIN_SECONDS": "1", "PENDING_RESOLVE_AFTER_SECONDS": "15",
             "LOGIN_IP_FREE_FAILURES": "500", "APP_WORKERS": "1", "WEBHOOK_ALLOW_LOOPBACK": "true",
             "SUPPORT_CONTACT_PER_IP_PER_HOUR": "100",
             # Tests cancel many numbers before their SMS: the stack's one partner must not stop being offered.
             "ROUTING_RATE_FLOOR": "0"}
    s = Stack(ports=Ports.free(), data_dir=data_dir, in_memory=True, extra_env=extra)
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def stack_settings(stack: Stack) -> Iterator[Settings]:
    """Bind this test process's models to the stack's DynamoDB Local (to inspect or arrange state)."""
    settings = settings_from_env(stack.env())
    bind_models(settings)
    runtime_settings.clear_cache()
    yield settings
    runtime_settings.clear_cache()
