"""Publishing an agreement version on the shared test stack as an operator does (`bin/admin agreement publish`),
and taking it back afterwards, so the tests that follow see the bundled version again and no more notices."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from chalicelib.config import settings_from_env
from chalicelib.services.accounts.agreement_versions import SCHEDULE_KEY
from chalicelib.services.platform import runtime_settings
from chalicelib.store.agreements import AgreementVersion
from chalicelib.store.base import bind_models
from chalicelib.store.mail import QueuedMail
from chalicelib.store.runtime import RuntimeSetting, read_setting
from infra.local.stack import Stack
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = (ROOT / "chalicelib" / "data" / "agreement_v1.txt").read_text(encoding="utf-8")
# Version 2 as the tests publish it: 6.3 reworded, a clause added.
V2 = BUNDLED.replace("Any fees related to deposit or withdrawal are non-refundable.",
                     "The card processing fee of each refunded deposit is deducted from the refund.") + \
    "\n\n13.4. A new version is announced by email and on the dashboard before it takes effect.\n"


@dataclass(frozen=True)
class Ran:
    code: int
    out: dict[str, Any]
    err: str


def utc_day(days: int = 0) -> str:
    return (datetime.now(tz=UTC).date() + timedelta(days=days)).isoformat()


def admin_agreement(stack: Stack, *args: str) -> Ran:
    """`bin/admin agreement …` in a subprocess with the stack's environment."""
    done = subprocess.run([sys.executable, "bin/admin", "agreement", *args], cwd=ROOT, env=stack.env(),
                          capture_output=True, text=True, timeout=120)
    return Ran(done.returncode, json.loads(done.stdout) if done.stdout.strip() else {}, done.stderr)


@contextmanager
def published(stack: Stack, text: str = V2, effective: str | None = None) -> Iterator[dict[str, Any]]:
    """The text published as the next version (effective tomorrow unless said), through the CLI; afterwards the
    version, its schedule entry and its unsent notices are removed and the app serves the bundled version again."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as file:
        file.write(text)
    ran = admin_agreement(stack, "publish", "--file", file.name, "--effective", effective or utc_day(1))
    Path(file.name).unlink()
    assert ran.code == 0, ran.err
    # The app reads the schedule through a 2-second per-process cache: a page opened at once could miss the version
    served = eventually(lambda: requests.get(f"{stack.app_url}/v1/agreement", timeout=10).json(),
                        lambda body: str(ran.out["version"]) in body["versions"])
    assert str(ran.out["version"]) in served["versions"]
    try:
        yield ran.out
    finally:
        _unpublish(stack, str(ran.out["version"]))


def _unpublish(stack: Stack, version: str) -> None:
    bind_models(settings_from_env(stack.env()))
    AgreementVersion(version).delete()
    kept = [e for e in json.loads(read_setting(SCHEDULE_KEY) or "[]") if e["version"] != version]
    RuntimeSetting(SCHEDULE_KEY, value=json.dumps(kept), updated_at=datetime.now(tz=UTC).timestamp()).save()
    for mail in QueuedMail.scan(QueuedMail.mail_id.startswith(f"mail_agreement_{version}_")):
        mail.delete()
    runtime_settings.clear_cache()
    served = eventually(lambda: requests.get(f"{stack.app_url}/v1/agreement", timeout=10).json(),
                        lambda body: body["upcoming"] is None and body["version"] == "1")
    assert served["version"] == "1"


