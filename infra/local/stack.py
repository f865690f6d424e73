"""The embedded local stack: DynamoDB Local, localstripe, the partner simulator, the scheduler and the app.

`make run` starts it on the fixed ports of API.md; the test suite starts its own on free ports
(never clashing with a running `make run`). Each part is a child process with its log under the
data folder; `stop()` ends all of them, leaving data in place.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".local" / "tools"
DYNAMODB_DIR = TOOLS / "dynamodb"
JAR = DYNAMODB_DIR / "DynamoDBLocal.jar"
PYTHON = sys.executable


class StackError(Exception):
    """Something the operator must fix, said in one line with how."""


@dataclass
class Ports:
    app: int = 8000
    dynamodb: int = 8001
    simulator: int = 8002
    stripe: int = 8420
    live: int = 8003  # the app's WebSocket gateway (live updates), served by the app's own process

    @classmethod
    def from_env(cls, env: dict[str, str]) -> "Ports":
        return cls(app=int(env.get("APP_PORT", 8000)), dynamodb=int(env.get("DYNAMODB_PORT", 8001)),
                   simulator=int(env.get("PARTNER_SIM_PORT", 8002)), stripe=int(env.get("STRIPE_PORT", 8420)),
                   live=int(env.get("LIVE_PORT", 8003)))

    @classmethod
    def free(cls) -> "Ports":
        return cls(app=free_port(), dynamodb=free_port(), simulator=free_port(), stripe=free_port(),
                   live=free_port())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Stack:
    ports: Ports
    data_dir: Path
    in_memory: bool = False
    with_app: bool = True
    with_scheduler: bool = True
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.app}"

    @property
    def simulator_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.simulator}"

    @property
    def stripe_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.stripe}"

    @property
    def dynamodb_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.dynamodb}"

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    def env(self) -> dict[str, str]:
        """The environment every part of the app (app, scheduler, admin CLI, tests) runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_PROFILE",))}
        env.update({
            "STAGE": "local",
            "APP_PORT": str(self.ports.app),
            "DYNAMODB_PORT": str(self.ports.dynamodb),
            "PARTNER_SIM_PORT": str(self.ports.simulator),
            "STRIPE_PORT": str(self.ports.stripe),
            "LIVE_PORT": str(self.ports.live),
            "MAIL_OUTBOX_DIR": str(self.outbox),
            "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_METRICS_NAMESPACE": "SmsRooms", "POWERTOOLS_DEV": "false",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self._check_prerequisites()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.outbox.mkdir(parents=True, exist_ok=True)
        try:
            self._start_dynamodb()
            stripe_args = [PYTHON, "-m", "infra.local.localstripe_setup", "--port", str(self.ports.stripe)]
            if not self.in_memory:
                stripe_args += ["--state-file", str(self.data_dir / "localstripe.pickle")]
            self._start("localstripe", stripe_args, ready=f"{self.stripe_url}/v1/customers", auth=True)
            # The simulator pushes each SMS to the app (the fastest code path); pushes made before the app
            # is up are retried by the simulator, and the poller picks up any it gives up on.
            self._start("simulator", [PYTHON, "-m", "infra.local.simulator", "--port",
                                      str(self.ports.simulator), "--push-url", f"{self.app_url}/v1/partners/sim/push",
                                      "--push-secret", self._sim_push_secret()],
                        ready=f"{self.simulator_url}/_sim/state")
            self._prepare_tables()
            if self.with_app:
                self._start("app", [PYTHON, "-m", "infra.local.serve", "--port", str(self.ports.app),
                                    "--live-port", str(self.ports.live)],
                            ready=f"{self.app_url}/health", timeout=60)
            self._register_stripe_webhook()
            if self.with_scheduler:
                self._start("scheduler", [PYTHON, "-m", "infra.local.scheduler"], ready=None)
        except BaseException:
            self.stop()
            raise

    def _sim_push_secret(self) -> str:
        """What the app expects partner "sim" to sign its pushes with (its push_secret in PARTNERS_JSON)."""
        from chalicelib.config import LOCAL_SIM_PUSH_SECRET, settings_from_env

        partners = settings_from_env(self.env()).partners
        return next((p.push_secret for p in partners if p.name == "sim" and p.push_secret), LOCAL_SIM_PUSH_SECRET)

    def stop(self) -> None:
        """Stop the parts in the reverse order of their start, each before the next, so nothing outlives
        what it depends on (the scheduler never ticks against a stopped DynamoDB)."""
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def _check_prerequisites(self) -> None:
        if shutil.which("java") is None:
            raise StackError("Java is missing: install a JRE 17 (apt-get install -y openjdk-17-jre-headless), retry.")
        if not JAR.exists():
            raise StackError(f"DynamoDB Local is missing at {JAR}: run 'make install' (needs npm) and retry.")
        busy = [f"{n} {p}" for n, p in vars(self.ports).items() if port_in_use(p)]
        if busy:
            raise StackError(f"Port already in use ({', '.join(busy)}): stop what holds it (make stop) or set "
                             "APP_PORT / DYNAMODB_PORT / PARTNER_SIM_PORT / STRIPE_PORT / LIVE_PORT.")

    def _start_dynamodb(self) -> None:
        args = ["java", f"-Djava.library.path={DYNAMODB_DIR / 'DynamoDBLocal_lib'}", "-jar", str(JAR),
                "-port", str(self.ports.dynamodb), "-sharedDb"]
        if self.in_memory:
            args.append("-inMemory")
        else:
            db_dir = self.data_dir / "dynamodb"
            db_dir.mkdir(parents=True, exist_ok=True)
            args += ["-dbPath", str(db_dir)]
        # DynamoDB Local writes its metadata file into its working folder: keep it with the data.
        self._start("dynamodb", args, ready=self.dynamodb_url, any_status=True, timeout=60, cwd=self.data_dir)

    def _start(self, name: str, args: list[str], *, ready: str | None, timeout: float = 30,
               any_status: bool = False, auth: bool = False, cwd: Path = ROOT) -> None:
        log_dir = self.data_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")
        proc = subprocess.Popen(args, cwd=cwd, env=self.env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs[name] = proc
        if ready is not None:
            wait_http(name, proc, ready, timeout, any_status=any_status, auth=auth, log=log_dir / f"{name}.log")

    def _prepare_tables(self) -> None:
        subprocess.run([PYTHON, "-m", "infra.local.tables"], cwd=ROOT, env=self.env(), check=True,
                       stdout=subprocess.DEVNULL)

    def _register_stripe_webhook(self) -> None:
        from chalicelib.config import settings_from_env
        from infra.local.localstripe_setup import register_webhook

        secret = settings_from_env(self.env()).stripe_webhook_secret
        register_webhook(self.stripe_url, "smsrooms", f"{self.app_url}/v1/webhooks/stripe", secret)


def wait_http(name: str, proc: subprocess.Popen[bytes], url: str, timeout: float, *, any_status: bool,
               auth: bool, log: Path) -> None:
    deadline = time.time() + timeout
    headers = {"Authorization": "Bearer sk_test_local"} if auth else {}
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:]
            raise StackError(f"{name} exited with code {proc.returncode}; last log lines:\n{tail}")
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2).close()
            return
        except urllib.error.HTTPError:
            if any_status:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise StackError(f"{name} did not answer on {url} within {timeout:.0f} s; see {log}")
