"""The Lambda package `make deploy` uploads and the deploy rehearsal runs: one build, so what is rehearsed is shipped.

    .venv/bin/python -m infra.package --stage dev --out .local/infra/dev   # package/sam.json + deployment.zip
    .venv/bin/python -m infra.package --lock                               # rewrite requirements.lock

What goes in the zip, and only that:
- `app.py`, `chalicelib/` and Chalice's own `chalice/app.py`, which `chalice package` vendors itself: the chalice
  CLI and its dependencies (pip, click, inquirer…) are not runtime dependencies;
- the bytecode of every module it ships but Stripe's (`__pycache__/*.cpython-311.pyc`, compiled here, never a
  stale local cache): /var/task is read-only, so without it every cold container compiled each module from source
  before its first answer (about 450 ms of CPU for what an import and a first order load). The .pyc files are
  "unchecked-hash" ones: Python loads them without comparing the sources' times, which a zip does not keep exactly.
  Stripe's would be 3.3 MiB of the 10 MiB goal for 1,650 modules of which a payment loads about 50 (the SDK
  imports its resources lazily): a container's first payment compiles those;
- every distribution `requirements.lock` pins (requirements.txt and all its transitive dependencies, resolved for
  Lambda's platform: manylinux x86_64, CPython 3.11), installed with `--no-deps` so nothing floats, except the AWS
  SDK the Python 3.11 runtime already provides (`RUNTIME_PROVIDED`). The lock resolves against that SDK's version
  (`LAMBDA_RUNTIME_SDK`), so what we bundle (urllib3, jmespath, dateutil…) is what that botocore accepts.

Chalice packages a staged copy of the project whose dependencies are already in `vendor/` and whose
requirements.txt is empty: chalice's own pip run (unpinned, with its per-requirements.txt cache) never happens.
Needs PyPI (pip's cache makes a repeat quick) and no AWS credentials.
"""
from __future__ import annotations

import argparse
import compileall
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
CHALICE = Path(sys.executable).with_name("chalice")

# The AWS SDK in the Python 3.11 Lambda runtime (AWS docs, "Runtime-included SDK versions"). The runtime puts it
# after /var/task on sys.path, so it is not bundled: a bundled copy would be 16 MiB and an SDK no test pairs with.
LAMBDA_RUNTIME_SDK = ("boto3==1.34.145", "botocore==1.34.145")
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# Lambda's platform: what `pip download` must fetch wheels for, whatever machine packages.
LAMBDA_PLATFORM = ("--only-binary=:all:", "--platform", "manylinux2014_x86_64", "--implementation", "cp",
                   "--python-version", "3.11", "--abi", "cp311")
# Size of the zip the issue asks for (zipped): a regression past it fails the rehearsal.
MAX_ZIPPED_BYTES = 10 * 1024 * 1024

_STAGED_CHALICE_CONFIG_IGNORED = ("deployments", "venv")


@dataclass(frozen=True)
class Package:
    sam: Path
    zip: Path

    @property
    def zipped_bytes(self) -> int:
        return self.zip.stat().st_size

    @property
    def unzipped_bytes(self) -> int:
        with zipfile.ZipFile(self.zip) as archive:
            return sum(info.file_size for info in archive.infolist())

    def size_line(self) -> str:
        mib = 1024 * 1024
        return (f"Lambda package {self.zip}: {self.zipped_bytes / mib:.2f} MiB zipped, "
                f"{self.unzipped_bytes / mib:.2f} MiB unzipped")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path = LOCK) -> dict[str, str]:
    """`{distribution: version}` from the lock's `name==version` lines."""
    pins: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        requirement = line.split("#", 1)[0].strip()
        if not requirement:
            continue
        name, sep, version = requirement.partition("==")
        if not sep or not version.strip():
            raise ValueError(f"{lock.name}: every line must pin one version (name==version), not {line!r}")
        pins[_normalise(name.strip())] = version.strip()
    return pins


def bundled_pins(lock: Path = LOCK) -> list[str]:
    """What goes into the zip: every pin except the SDK the runtime provides."""
    return [f"{name}=={version}" for name, version in sorted(locked(lock).items()) if name not in RUNTIME_PROVIDED]


def runtime_pins(lock: Path = LOCK) -> list[str]:
    """The runtime's SDK as the lock pins it (the rehearsal's clean runtime installs exactly these)."""
    return [f"{name}=={version}" for name, version in sorted(locked(lock).items()) if name in RUNTIME_PROVIDED]


def pip_quietly(*args: str) -> None:
    """Run pip quietly; on failure, stop with the end of what it said."""
    done = subprocess.run([sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise PackagingError(f"pip {args[0]} failed (is PyPI reachable?):\n{(done.stdout + done.stderr)[-2000:]}")


class PackagingError(RuntimeError):
    """The package could not be built; the message says what failed."""


def write_lock(requirements: Path = ROOT / "requirements.txt", lock: Path = LOCK) -> Path:
    """Resolve requirements.txt with the runtime's SDK for Lambda's platform; pin every distribution it needs."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        pip_quietly("install", "--dry-run", "--ignore-installed", "--report", str(report), *LAMBDA_PLATFORM,
             "--target", str(Path(tmp) / "target"), "-r", str(requirements), *LAMBDA_RUNTIME_SDK)
        resolved = {_normalise(item["metadata"]["name"]): item["metadata"]["version"]
                    for item in json.loads(report.read_text())["install"]}
    lines = ["# Every distribution the Lambda imports, pinned: generated by `make lock` (python -m infra.package "
             "--lock)", "# from requirements.txt, resolved for manylinux x86_64 / CPython 3.11 together with the "
             "runtime's SDK.", "# Packaged into the zip: all but boto3, botocore and s3transfer (the Python 3.11 "
             "runtime provides them).", ""]
    lines += [f"{name}=={version}" for name, version in sorted(resolved.items())]
    lock.write_text("\n".join(lines) + "\n")
    return lock


def stage_project(target: Path, project_dir: Path = ROOT, lock: Path = LOCK) -> Path:
    """A copy of what `chalice package` reads: app.py, chalicelib/, .chalice/ and the locked deps in vendor/."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    shutil.copy2(project_dir / "app.py", target / "app.py")
    shutil.copytree(project_dir / "chalicelib", target / "chalicelib",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copytree(project_dir / ".chalice", target / ".chalice",
                    ignore=shutil.ignore_patterns(*_STAGED_CHALICE_CONFIG_IGNORED))
    (target / "requirements.txt").write_text("")  # the dependencies are in vendor/, pinned
    vendor = target / "vendor"
    pip_quietly("install", "--no-deps", "--no-compile", *LAMBDA_PLATFORM, "--target", str(vendor), *bundled_pins(lock))
    shutil.rmtree(vendor / "bin", ignore_errors=True)  # console scripts: nothing in Lambda runs them
    compile_for_lambda(target)
    return target


LAMBDA_TASK_ROOT = "/var/task"  # where Lambda unpacks the zip: what tracebacks name
NOT_COMPILED = "stripe"  # see the module's docstring: its bytecode would not fit the size goal


def compile_for_lambda(staged: Path) -> None:
    """Bytecode for every module the zip ships, for CPython 3.11 (the packaging interpreter is 3.11: make install
    checks), recorded under /var/task's paths. Chalice's own app.py comes from the installed chalice; its bytecode
    rides in vendor/chalice/__pycache__, which the zip unpacks beside it."""
    if sys.version_info[:2] != (3, 11):
        raise PackagingError(f"the Lambda runtime is Python 3.11; packaging runs {sys.version.split()[0]}")
    unchecked = py_compile.PycInvalidationMode.UNCHECKED_HASH
    compiled = [compileall.compile_dir(staged / "chalicelib", quiet=1, stripdir=str(staged),
                                       prependdir=LAMBDA_TASK_ROOT, invalidation_mode=unchecked),
                compileall.compile_dir(staged / "vendor", quiet=1, stripdir=str(staged / "vendor"),
                                       prependdir=LAMBDA_TASK_ROOT, invalidation_mode=unchecked,
                                       rx=re.compile(re.escape(f"{os.sep}{NOT_COMPILED}{os.sep}")))]
    import chalice

    installed = Path(chalice.__file__).parent
    for name in ("__init__.py", "app.py"):
        pyc = staged / "vendor" / "chalice" / "__pycache__" / f"{Path(name).stem}.{sys.implementation.cache_tag}.pyc"
        pyc.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(str(installed / name), cfile=str(pyc), dfile=f"{LAMBDA_TASK_ROOT}/chalice/{name}",
                           doraise=True, invalidation_mode=unchecked)
    if not all(compiled):
        raise PackagingError("a module of the package does not compile for Python 3.11")


def build(stage: str, out_dir: Path, project_dir: Path = ROOT, lock: Path = LOCK) -> Package:
    """Stage the project, merge the stage's resources, run `chalice package`: out_dir/package/{sam.json,zip}."""
    from infra.template import merge_template, stage_environment, write_template

    stage_environment(stage, project_dir)  # an unknown stage stops here, with the known ones
    out_dir = out_dir.resolve()
    staged = stage_project(out_dir / "project", project_dir, lock)
    merge = write_template(out_dir / f"merge-{stage}.json", merge_template(stage, project_dir))
    pkg_dir = out_dir / "package"
    shutil.rmtree(pkg_dir, ignore_errors=True)
    # chalice imports the staged app before zipping it: no bytecode but compile_for_lambda's goes into what it zips.
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([str(CHALICE), "--project-dir", str(staged), "package", "--stage", stage,
                           "--merge-template", str(merge), str(pkg_dir)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise PackagingError(f"chalice package failed:\n{(done.stdout + done.stderr)[-2000:]}")
    return Package(sam=pkg_dir / "sam.json", zip=pkg_dir / "deployment.zip")


def main() -> None:
    parser = argparse.ArgumentParser(description="Build the stage's Lambda package (or rewrite requirements.lock).")
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--out", type=Path, help="default: .local/infra/<stage>")
    parser.add_argument("--lock", action="store_true", help="resolve requirements.txt into requirements.lock")
    args = parser.parse_args()
    if args.lock:
        print(write_lock())
        return
    try:
        package = build(args.stage, args.out or ROOT / ".local" / "infra" / args.stage)
    except ValueError as error:
        parser.error(str(error))
    except PackagingError as error:
        sys.exit(f"package: {error}")
    print(package.sam)
    print(package.size_line())


if __name__ == "__main__":
    main()
