"""The composition root (chalicelib/wiring.py): the only place that builds services, and it builds them lazily."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.services.activations.facade import Activations
from chalicelib.services.admin.service import AdminService
from chalicelib.services.money.stripe_events import StripeEvents

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
# Below the root: none of these may ask it for anything (it would run the layers upward).
_LOWER_LAYERS = ("services", "store", "providers", "domain")


def _modules(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (PACKAGE / folder).rglob("*.py"))


def _trees(*folders: str) -> list[tuple[str, ast.Module]]:
    return [(str(p.relative_to(ROOT)), ast.parse(p.read_text(encoding="utf-8"))) for p in _modules(*folders)]


def test_import__the_root_loads_no_service_until_one_is_asked_for() -> None:
    # Given a fresh interpreter / When it imports the root
    code = "import sys, chalicelib.wiring; print([m for m in sys.modules if m.startswith('chalicelib.services.')])"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    # Then no service module came with it (a cold start pays only for what its first request builds)
    assert loaded.stdout.strip() == "[]"


def test_services__none_makes_its_own_clock_or_keeps_a_process_getter() -> None:
    # Given every module of the layers the root builds
    found = []
    for path, tree in _trees("services", "store", "providers", "api", "jobs"):
        for node in ast.walk(tree):
            # When a module builds a SystemClock, caches a builder per settings, or takes an optional clock
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SystemClock":
                found.append(f"{path}:{node.lineno} builds SystemClock()")
            if isinstance(node, ast.Name) and node.id == "rebuilt_with_settings":
                found.append(f"{path}:{node.lineno} keeps a builder per settings")
            if isinstance(node, ast.arg) and node.annotation is not None and ast.unparse(node.annotation) in (
                    "Clock | None", "Optional[Clock]"):
                found.append(f"{path}:{node.lineno} takes an optional clock")
    # Then the only ones left are the partner adapters' own circuits, which the root hands a clock anyway
    assert [f for f in found if not f.startswith(("chalicelib/providers/circuit.py", "chalicelib/providers/fivesim.py"))
            ] == []


def test_layers__nothing_below_the_root_imports_it() -> None:
    importing = [path for path, tree in _trees(*_LOWER_LAYERS) for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and (node.module == "chalicelib.wiring" or (
                     node.module == "chalicelib" and any(a.name == "wiring" for a in node.names)))]
    assert importing == []


def test_getters__build_once_per_process_and_share_the_wallet_and_partners(moto_tables: Settings) -> None:
    # Given the local settings / When the routes' getters are asked twice
    facade, events, admin = wiring.activations(), wiring.stripe_events(), wiring.admin_service()
    # Then each is built once, of its type, over the process's one clock, wallet and partner adapters
    assert (isinstance(facade, Activations), isinstance(events, StripeEvents), isinstance(admin, AdminService)) == (
        True, True, True)
    assert wiring.activations() is facade and wiring.stripe_events() is events
    assert facade.ordering.wallet is facade.lifecycle.wallet is events.wallet is wiring.wallet()
    assert facade.clock is wiring.clock() and [p.name for p in facade.partners] == [p.name for p in wiring.partners()]
