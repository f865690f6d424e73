"""What ships in the Lambda zip (app.py and chalicelib/) imports only the standard library and runtime dependencies.

The import names are read from every module's syntax tree, so an import inside a function (the lazy kind a cold
start would not notice) counts as much as one at the top. Runtime dependencies are the distributions
`requirements.txt` names, boto3/botocore (the Lambda runtime provides them) and `chalice`, whose `chalice.app`
`chalice package` vendors into the zip itself. Test and local-stack tooling lives in `infra/local/` and `tests/`.
"""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from infra.package import bundled_pins, locked, runtime_pins

ROOT = Path(__file__).resolve().parents[2]
PACKAGED = ("app.py", "chalicelib")
FIRST_PARTY = frozenset({"chalicelib"})
# Not pip-installed into the zip, yet importable in the Lambda: the runtime's SDK and Chalice's own vendored module.
PROVIDED_AT_RUN_TIME = frozenset({"boto3", "botocore", "chalice"})


def _normalise(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def runtime_distributions(requirements: Path = ROOT / "requirements.txt") -> frozenset[str]:
    names = set(PROVIDED_AT_RUN_TIME)
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\s\[<>=!~;]", line, maxsplit=1)[0])
    return frozenset(_normalise(n) for n in names)


def allowed_imports(distributions: frozenset[str]) -> frozenset[str]:
    """Top-level import names the runtime distributions provide, plus the standard library and our own package."""
    provided = {name for name, dists in importlib.metadata.packages_distributions().items()
                if any(_normalise(d) in distributions for d in dists)}
    return frozenset(provided | set(sys.stdlib_module_names) | FIRST_PARTY)


def imported_names(source: str) -> Iterator[str]:
    """Top-level module names a module imports: import statements, and importlib.import_module("x") / __import__."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]
        elif isinstance(node, ast.Call) and _is_dynamic_import(node.func) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield first.value.split(".")[0]


def _is_dynamic_import(func: ast.expr) -> bool:
    return (isinstance(func, ast.Name) and func.id in {"__import__", "import_module"}) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module")


def packaged_modules(root: Path) -> Iterable[Path]:
    for entry in PACKAGED:
        path = root / entry
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def forbidden_imports(root: Path, allowed: frozenset[str]) -> list[str]:
    """`path: name` for every import a packaged module makes of something the Lambda will not have."""
    found = []
    for module in packaged_modules(root):
        for name in sorted(set(imported_names(module.read_text())) - allowed):
            found.append(f"{module.relative_to(root)}: {name}")
    return found


def test_packaged_code__imports_only_runtime_dependencies() -> None:
    found = forbidden_imports(ROOT, allowed_imports(runtime_distributions()))
    assert not found, ("packaged code imports what the Lambda does not have (move the module to infra/local/ or "
                       "tests/, or add the dependency to requirements.txt):\n" + "\n".join(found))


def test_packaged_code__the_check_catches_development_dependencies(tmp_path: Path) -> None:
    (tmp_path / "chalicelib" / "providers").mkdir(parents=True)
    (tmp_path / "app.py").write_text("import pytest\n")
    (tmp_path / "chalicelib" / "providers" / "glue.py").write_text(
        "from chalicelib.domain import money\n"
        "def start():\n"
        "    import localstripe.server\n"
        "    from infra.local.simulator import server\n"
        "    import importlib\n"
        "    return importlib.import_module('moto.server')\n")
    found = forbidden_imports(tmp_path, allowed_imports(runtime_distributions()))
    assert found == ["app.py: pytest", "chalicelib/providers/glue.py: infra",
                     "chalicelib/providers/glue.py: localstripe", "chalicelib/providers/glue.py: moto"]


def test_runtime_distributions__dev_tools_are_not_runtime() -> None:
    runtime = allowed_imports(runtime_distributions())
    for tool in ("localstripe", "aiohttp", "moto", "pytest", "playwright", "hypothesis", "infra", "tests", "bench"):
        assert tool not in runtime


def test_requirements_lock__pins_each_runtime_requirement_at_the_version_requirements_txt_names() -> None:
    pins = locked()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if requirement:
            name, _, version = requirement.partition("==")
            assert pins.get(_normalise(name)) == version, f"{name}: requirements.txt and requirements.lock differ " \
                                                          "(run `make lock`)"


def test_requirements_lock__bundles_no_tooling_and_leaves_the_sdk_to_the_runtime() -> None:
    bundled = {pin.partition("==")[0] for pin in bundled_pins()}
    assert not bundled & {"chalice", "pip", "setuptools", "wheel", "click", "moto", "pytest", "localstripe"}
    assert not bundled & {"boto3", "botocore", "s3transfer"}
    assert {pin.partition("==")[0] for pin in runtime_pins()} == {"boto3", "botocore", "s3transfer"}
