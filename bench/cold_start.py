"""Cold start: the API Lambda module's import time against a bare Chalice + boto3 app, in fresh interpreters."""
from __future__ import annotations

import compileall
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.registry import benchmark
from bench.report import Table
from bench.stats import median, ms, ratio
from infra.template import ROOT, stage_environment

RUNS = 9
TOP_IMPORTS = 6

# CPU time of the importing process (user + system), not wall time: on a shared machine the wall time of one import
# swings with the other processes (medians moved ±0.4× between runs), its CPU time by a few per cent.
_TIMER = ("import sys, time; t = time.process_time(); import {module}{then}; e = time.process_time() - t; "
          "b = sys.modules.get('chalicelib.store.base'); "
          "print(e, bool(b and b.client_built()))")
# Until the DynamoDB client is built: the module, then the client (no request sent).
BARE_CLIENT_READY = "; bare_app.boto3.client('dynamodb', region_name='us-east-1')"

BARE_APP = '''from chalice import Chalice
import boto3

app = Chalice(app_name="bare")


@app.route("/")
def index():
    return {"hello": "world"}
'''


def compile_sources(*roots: Path) -> None:
    """Byte-compile the app's sources (and the bare app's), as the Lambda package ships them (infra/package.py):
    a fresh interpreter then loads .pyc files, whatever PYTHONDONTWRITEBYTECODE says. Without this the first
    order's modules, which `import app` no longer loads, were compiled from source in every measured run."""
    for root in roots:
        for path in (root / "chalicelib", root / "app.py", root / "bare_app.py"):
            if path.is_dir():
                compileall.compile_dir(path, quiet=1)
            elif path.exists():
                compileall.compile_file(path, quiet=1)


def _lambda_env() -> dict[str, str]:
    # The dev stage's variables as Lambda would see them; the SSM secrets fetch is left out (it needs AWS).
    # Lambda puts the function's credentials in its environment (fake ones here: nothing is sent), so app.py builds
    # its DynamoDB client as the container starts (chalicelib/startup.py), as it does deployed.
    env = {k: v for k, v in stage_environment("dev").items() if k != "SECRETS_PARAMETER_PREFIX"}
    return {**env, "PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "sms-rooms-dev", "AWS_ACCESS_KEY_ID": "AKIDBENCHONLY",
            "AWS_SECRET_ACCESS_KEY": "bench-only", "AWS_SESSION_TOKEN": "bench-only"}


def import_seconds(module: str, cwd: Path, env: dict[str, str], then: str = "", *,
                   client_built: bool | None = None) -> float:
    """CPU seconds of a fresh interpreter's `import module` (then `then`); `client_built`: whether our DynamoDB
    client must be built by then, checked, so a row that says so cannot silently time the import alone."""
    out = subprocess.run([sys.executable, "-c", _TIMER.format(module=module, then=then)], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True)
    seconds, built = out.stdout.strip().splitlines()[-1].split()
    if client_built is not None and (built == "True") != client_built:
        raise RuntimeError(f"import {module}: the DynamoDB client was {'' if built == 'True' else 'not '}built")
    return float(seconds)


def heaviest_imports(module: str, cwd: Path, env: dict[str, str]) -> list[tuple[str, float]]:
    """Top-level packages by the import time of their own modules (self time summed; python -X importtime)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True)
    totals: dict[str, float] = {}
    for line in out.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if found:
            package = found.group(2).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(found.group(1)) / 1e6
    return sorted(totals.items(), key=lambda kv: -kv[1])[:TOP_IMPORTS]


@benchmark("cold-start", order=10)
def cold_start(_ctx: object) -> Table:
    env = _lambda_env()
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as bare_dir:
        bare = Path(bare_dir)
        (bare / "bare_app.py").write_text(BARE_APP)
        compile_sources(ROOT, bare)
        import_seconds("app", ROOT, env)
        import_seconds("bare_app", bare, env)
        ours, base, base_ready = [], [], []
        for _ in range(RUNS):  # interleaved, so a noisy moment hits both
            ours.append(import_seconds("app", ROOT, env, client_built=True))
            base.append(import_seconds("bare_app", bare, env))
            base_ready.append(import_seconds("bare_app", bare, env, BARE_CLIENT_READY))
    table = Table(f"Cold start: import CPU time of the API Lambda module (fresh interpreter, median of {RUNS})",
                  ["module", "median CPU ms", "min CPU ms", "max CPU ms", "ratio to bare"],
                  goal="app.py until its DynamoDB client is built ≤ 1.3× the bare Chalice + boto3 app's")
    table.add("bare Chalice + boto3 app", ms(median(base)), ms(min(base)), ms(max(base)), "1.00×")
    table.add("app.py (SMS Rooms API; builds its DynamoDB client as it starts)", ms(median(ours)), ms(min(ours)),
              ms(max(ours)), ratio(median(ours), median(base)))
    table.add("bare app, then a DynamoDB client built", ms(median(base_ready)), ms(min(base_ready)),
              ms(max(base_ready)), "1.00×")
    # app.py's import builds its client (checked above): the same runs time it until the client is ready
    table.add("app.py, its DynamoDB client ready", ms(median(ours)), ms(min(ours)), ms(max(ours)),
              ratio(median(ours), median(base_ready)))
    table.notes.append("the last two rows: time until the DynamoDB client is built (no request is sent), "
                       "what the goal compares: app.py builds its client while the container starts, with the "
                       "garbage collector paused (chalicelib/startup.py), the bare app when it is first asked")
    heavy = ", ".join(f"{name} {ms(sec)} ms" for name, sec in heaviest_imports("app", ROOT, env))
    table.notes.append("CPU time of the importing process (time.process_time), runs of both interleaved")
    table.notes.append(f"where app.py's import time goes (self wall time per package, one -X importtime run): {heavy}")
    return table
