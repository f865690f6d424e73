"""The store boundary (docs/architecture.md): services work on plain values; only `chalicelib/store/` knows PynamoDB.

A service module may import repositories and the values they return from `chalicelib.store`, never `pynamodb`
itself and never a PynamoDB model or index class (a row passed around is a table's shape leaking into the
decisions). The contexts below have crossed the boundary; a context is added here when its last module has.
"""
from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from pynamodb.indexes import Index
from pynamodb.models import Model

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "chalicelib" / "services"

# Context folders under chalicelib/services/ whose modules use repositories only.
BEHIND_THE_BOUNDARY: tuple[str, ...] = ("accounts", "platform", "support", "activations", "rentals", "money", "admin")


def _modules() -> list[Path]:
    return sorted(p for ctx in BEHIND_THE_BOUNDARY for p in (SERVICES / ctx).rglob("*.py"))


def _row_classes_imported(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name.split(".")[0] == "pynamodb"]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] == "pynamodb":
                found.append(f"from {node.module} import …")
            elif node.module.startswith("chalicelib.store"):
                source = importlib.import_module(node.module)
                for alias in node.names:
                    value = getattr(source, alias.name, None)
                    if inspect.isclass(value) and issubclass(value, (Model, Index)):
                        found.append(f"{alias.name} (a PynamoDB class) from {node.module}")
    return found


@pytest.mark.parametrize("context", BEHIND_THE_BOUNDARY)
def test_boundary__context_folder_exists(context: str) -> None:
    assert (SERVICES / context).is_dir(), f"services/{context} is listed behind the boundary but does not exist"


def test_boundary__services_behind_it_import_no_pynamodb_and_no_row_class() -> None:
    leaks = {str(p.relative_to(ROOT)): found for p in _modules() if (found := _row_classes_imported(p))}
    assert leaks == {}
