"""The deploy rehearsal's stage: the package `make deploy` ships, run as Lambda would run it, without AWS.

- the zip comes from `infra.package.build` (the same call `make deploy` makes) and is unzipped into a task folder;
- the runtime is a clean Python 3.11 venv holding only the Lambda runtime's SDK at the versions requirements.lock
  pins (pip-installed once into .local/rehearsal/ and reused);
- AWS is DynamoDB Local (each table created from the template's `AWS::DynamoDB::Table`, so code and template must
  agree) and moto's server (SSM, SES), reached through the SDK's own `AWS_ENDPOINT_URL_<SERVICE>` variables, so
  the function's environment is exactly the template's; any other AWS call goes to a closed port, and any other
  internet call to a proxy that refuses it and records where it went (`egress`);
- each function is a `Container`: its own process in that runtime with the template's environment, invoked with
  the events Lambda would pass (API Gateway proxy events made the way API Gateway maps a URL onto the stage's
  routes, EventBridge scheduled events, the admin Lambda's payload).

A failure names the function and the event, with the end of the function's log.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from infra.local.stack import DYNAMODB_DIR, JAR, free_port, wait_http
from infra.package import Package, locked, pip_quietly, runtime_pins

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = ROOT / ".local" / "rehearsal"  # the clean runtimes, built once per SDK pin set
DRIVER = Path(__file__).with_name("driver.py")
REGION = "us-east-1"
ACCOUNT = "123456789012"
API_ID = "rehearsal1"
API_HOST = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
# The runtime's SDK needs these beside it (the Lambda runtime ships them too; the zip's copies come first).
SDK_COMPANIONS = ("jmespath", "python-dateutil", "six", "urllib3")
NO_VALUE = object()


class RehearsalError(AssertionError):
    """The rehearsal found the deploy would not work: what, in which function, on which event."""


# ---------------------------------------------------------------------------------------------------- runtime


def lambda_runtime() -> Path:
    """The python of a venv holding only what the Lambda runtime provides; built once per SDK pin set."""
    pins = runtime_pins() + [f"{name}=={version}" for name, version in sorted(locked().items())
                             if name in SDK_COMPANIONS]
    home = RUNTIMES / ("runtime-" + re.sub(r"[^0-9a-z.]+", "-", "-".join(p.partition("==")[2] for p in pins)))
    python = home / "bin" / "python"
    RUNTIMES.mkdir(parents=True, exist_ok=True)
    with open(RUNTIMES / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test runs at once build it once
        if not (home / ".ready").exists():
            _build_runtime(home, python, pins)
    return python


def _build_runtime(home: Path, python: Path, pins: list[str]) -> None:
    shutil.rmtree(home, ignore_errors=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(home)], check=True)
    site = next((home / "lib").glob("python3.*/site-packages"))
    pip_quietly("install", "--no-deps", "--no-compile", "--only-binary=:all:", "--target", str(site), *pins)
    found = subprocess.run([str(python), "-I", "-c", "import sys, boto3, botocore; "
                            "print(sys.version_info[:2] == (3, 11), boto3.__version__, botocore.__version__)"],
                           check=True, capture_output=True, text=True).stdout.split()
    if found != ["True", locked()["boto3"], locked()["botocore"]]:
        raise RehearsalError(f"the rehearsal runtime is not Python 3.11 with the locked SDK: {found}")
    (home / ".ready").touch()
    return python


def unzip(package: Package, target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    with zipfile.ZipFile(package.zip) as archive:
        archive.extractall(target)
    return target


# ---------------------------------------------------------------------------------------------------- template


class Template:
    """The packaged SAM template, read the way CloudFormation would for the parts the rehearsal needs."""

    def __init__(self, body: dict[str, Any], parameters: Mapping[str, str], stack_name: str) -> None:
        self.body = body
        self.resources: dict[str, Any] = body["Resources"]
        self.stack_name = stack_name
        self.parameters = self._parameters(parameters)

    def _parameters(self, given: Mapping[str, str]) -> dict[str, str]:
        values = {}
        for name, spec in self.body.get("Parameters", {}).items():
            if name in given:
                values[name] = given[name]
            elif "Default" in spec:
                values[name] = str(spec["Default"])
            else:
                raise RehearsalError(f"template parameter {name} has no default and the rehearsal gives no value")
            pattern = spec.get("AllowedPattern")
            if pattern and not re.fullmatch(pattern, values[name]):
                raise RehearsalError(f"parameter {name}={values[name]!r} breaks its AllowedPattern {pattern}")
        return values

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {logical: resource for logical, resource in self.resources.items()
                if resource["Type"] == kind and self.condition(resource.get("Condition"))}

    def functions(self) -> dict[str, Function]:
        globals_ = self.body.get("Globals", {}).get("Function", {})
        found = {}
        for logical, resource in self.of_type("AWS::Serverless::Function").items():
            props = resource["Properties"]
            variables = {**globals_.get("Environment", {}).get("Variables", {}),
                         **props.get("Environment", {}).get("Variables", {})}
            env = {}
            for key, value in variables.items():
                resolved = self.resolve(value, f"{logical} environment {key}")
                if resolved is not NO_VALUE:
                    env[key] = str(resolved)
            schedules = [self.resolve(event["Properties"]["Schedule"], f"{logical} schedule")
                         for event in (props.get("Events") or {}).values() if event.get("Type") == "Schedule"]
            name = props.get("FunctionName")
            found[logical] = Function(
                logical_id=logical, handler=props["Handler"], environment=env, schedules=schedules,
                name=str(self.resolve(name, logical)) if name else f"{self.stack_name}-{logical}-REHEARSAL",
                timeout=float(props.get("Timeout", globals_.get("Timeout", 3))),
                memory=int(props.get("MemorySize", globals_.get("MemorySize", 128))))
        return found

    def rest_api(self) -> tuple[str, dict[str, Any]]:
        """(stage name, swagger paths) of the one API Gateway REST API."""
        (logical, api), = self.of_type("AWS::Serverless::Api").items()
        return str(self.resolve(api["Properties"]["StageName"], logical)), api["Properties"]["DefinitionBody"]["paths"]

    # -- intrinsic functions: the ones templates here use; anything else is a rehearsal error naming it

    def resolve(self, node: Any, where: str) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item, where) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v, where) for k, v in node.items()}
        (key, arg), = node.items()
        if key == "Ref":
            return self.ref(arg, where)
        if key == "Fn::Sub":
            text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
            variables = {k: self.resolve(v, where) for k, v in extra.items()}
            return re.sub(r"\$\{([^}!]+)\}", lambda m: str(variables[m.group(1)] if m.group(1) in variables
                                                           else self._sub_name(m.group(1), where)), text)
        if key == "Fn::Join":
            return str(arg[0]).join(str(v) for v in self.resolve(arg[1], where))
        if key == "Fn::If":
            return self.resolve(arg[1] if self.condition(arg[0]) else arg[2], where)
        if key == "Fn::GetAtt":
            resource, attribute = arg.split(".", 1) if isinstance(arg, str) else arg
            return f"arn:aws:rehearsal:{REGION}:{ACCOUNT}:{resource}/{attribute}"
        if key == "Fn::Select":
            return self.resolve(arg[1], where)[int(self.resolve(arg[0], where))]
        if key.startswith("Fn::") or key == "Condition":
            raise RehearsalError(f"{where}: the rehearsal cannot resolve {key}")
        return {key: self.resolve(arg, where)}

    def _sub_name(self, name: str, where: str) -> Any:
        if "." in name:
            return self.resolve({"Fn::GetAtt": name.split(".", 1)}, where)
        return self.ref(name, where)

    def ref(self, name: str, where: str) -> Any:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::StackName": self.stack_name, "AWS::URLSuffix": "amazonaws.com", "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            props = self.resources[name].get("Properties", {})
            for key in ("TableName", "QueueName", "TopicName", "Name", "FunctionName", "LogGroupName"):
                if key in props:
                    return self.resolve(props[key], where)
            return f"{self.stack_name}-{name}"
        raise RehearsalError(f"{where}: Ref to {name}, which is neither a parameter nor a resource")

    def condition(self, name: str | None) -> bool:
        if name is None:
            return True
        return bool(self._truth(self.body.get("Conditions", {})[name], name))

    def _truth(self, node: Any, where: str) -> bool:
        (key, arg), = node.items()
        if key == "Fn::Equals":
            return str(self.resolve(arg[0], where)) == str(self.resolve(arg[1], where))
        if key == "Fn::Not":
            return not self._truth(arg[0], where)
        if key == "Fn::And":
            return all(self._truth(a, where) for a in arg)
        if key == "Fn::Or":
            return any(self._truth(a, where) for a in arg)
        if key == "Condition":
            return self.condition(arg)
        raise RehearsalError(f"condition {where}: the rehearsal cannot evaluate {key}")


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler: str
    name: str
    environment: dict[str, str]
    schedules: list[str]
    timeout: float
    memory: int


def create_tables(template: Template, client: Any) -> list[str]:
    """Every AWS::DynamoDB::Table of the template, created as CloudFormation would (keys, indexes, TTL)."""
    names = []
    for logical, resource in template.of_type("AWS::DynamoDB::Table").items():
        props = template.resolve(resource["Properties"], logical)
        spec = {key: props[key] for key in ("TableName", "KeySchema", "AttributeDefinitions", "BillingMode",
                                            "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "StreamSpecification",
                                            "ProvisionedThroughput") if key in props}
        client.create_table(**spec)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            client.update_time_to_live(TableName=props["TableName"], TimeToLiveSpecification=ttl)
        names.append(props["TableName"])
    return names


# ---------------------------------------------------------------------------------------------------- services


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_process(name: str, args: list[str], *, ready: str, logs: Path, cwd: Path, env: Mapping[str, str],
                  timeout: float = 60) -> Process:
    log = logs / f"{name}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    process = Process(name, proc, log)
    try:
        wait_http(name, proc, ready, timeout, any_status=True, auth=False, log=log)
    except BaseException:
        process.stop()
        raise
    return process


def start_dynamodb(logs: Path, data: Path) -> tuple[Process, str]:
    port = free_port()
    data.mkdir(parents=True, exist_ok=True)
    args = ["java", f"-Djava.library.path={DYNAMODB_DIR / 'DynamoDBLocal_lib'}", "-jar", str(JAR),
            "-port", str(port), "-inMemory", "-sharedDb"]
    url = f"http://127.0.0.1:{port}"
    return start_process("dynamodb", args, ready=url, logs=logs, cwd=data, env=os.environ), url


def start_moto(logs: Path, cwd: Path) -> tuple[Process, str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start_process("moto", args, ready=f"{url}/moto-api/", logs=logs, cwd=cwd, env=os.environ), url


class EgressGuard:
    """An HTTP(S) proxy that refuses every request and records where it was going: the Lambda's internet."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        guard = self

        class Refuse(BaseHTTPRequestHandler):
            def _refuse(self) -> None:
                guard.seen.append(self.path if self.command == "CONNECT" else urllib.parse.urlsplit(self.path).netloc)
                self.send_error(403, "the rehearsal has no internet")

            do_CONNECT = do_GET = do_POST = do_PUT = do_DELETE = _refuse

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------------- functions


@dataclass
class Invocation:
    function: str
    what: str
    result: Any
    log: str


class Container:
    """One warm execution environment of one function: a process of the clean runtime with its environment."""

    def __init__(self, function: Function, python: Path, task: Path, env: Mapping[str, str], logs: Path) -> None:
        self.function = function
        self.log_path = logs / f"{function.logical_id}-{uuid.uuid4().hex[:6]}.log"
        self._log = open(self.log_path, "ab")  # kept open for the container's life
        self.proc = subprocess.Popen([str(python), "-I", str(DRIVER), str(task), function.handler,
                                      str(function.timeout)], cwd=task, env=dict(env), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.init_ms = int(self._read("cold start")["ms"])

    def _read(self, what: str) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RehearsalError(self.describe(what, f"the process died (exit {self.proc.wait()})"))
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RehearsalError(self.describe(what, reply["error"]))
        return reply

    def invoke(self, event: Any, what: str) -> Invocation:
        assert self.proc.stdin is not None
        start = self.log_path.stat().st_size
        self.proc.stdin.write(json.dumps({"event": event}) + "\n")
        self.proc.stdin.flush()
        reply = self._read(what)
        if reply["ms"] > self.function.timeout * 1000:
            raise RehearsalError(self.describe(what, f"took {reply['ms']} ms, past its {self.function.timeout} s "
                                                     "timeout: Lambda would have killed it"))
        self._log.flush()
        with open(self.log_path, "rb") as log:
            log.seek(start)
            text = log.read().decode(errors="replace")
        return Invocation(self.function.logical_id, what, reply["result"], text)

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def describe(self, what: str, problem: str) -> str:
        return (f"function {self.function.logical_id} ({self.function.handler}) on {what}: {problem}\n"
                f"--- end of its log ({self.log_path}) ---\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# ---------------------------------------------------------------------------------------------------- events


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: str
    what: str
    function: str = "APIHandler"
    container: Container | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    def explain(self) -> str:
        tail = self.container.log_tail(1500) if self.container else ""
        return (f"function {self.function} on {self.what}: answered {self.status} {self.body[:500]}\n"
                f"--- end of its log ---\n{tail}")


class ApiGateway:
    """Maps a URL the way the deployed REST API would: stage prefix, then the swagger's routes, else API GW's 403."""

    def __init__(self, stage: str, paths: Mapping[str, Any], host: str = API_HOST) -> None:
        self.stage = stage
        self.host = host
        self.routes = []
        for template, methods in paths.items():
            pattern = re.sub(r"\\\{([^}]+?)\\\+\\\}", r"(?P<\1>.+)", re.escape(template))
            pattern = re.sub(r"\\\{([^}]+?)\\\}", r"(?P<\1>[^/]+)", pattern)
            self.routes.append((template, re.compile(pattern), {m.upper() for m in methods}))

    def url(self, path: str) -> str:
        return f"https://{self.host}/{self.stage}{path}"

    def event(self, method: str, url: str, *, headers: Mapping[str, str] | None = None, body: str | None = None,
              source_ip: str = "203.0.113.7") -> dict[str, Any] | HttpResponse:
        """The proxy event for `method url`, or the answer API Gateway gives itself without calling the function."""
        what = f"{method} {url}"
        parts = urllib.parse.urlsplit(url)
        if parts.netloc != self.host:
            return HttpResponse(403, {}, '{"message":"Forbidden"}', what + " (another host)", "API Gateway")
        raw_path = parts.path
        stage_prefix = f"/{self.stage}"
        if raw_path != stage_prefix and not raw_path.startswith(stage_prefix + "/"):
            return HttpResponse(403, {}, '{"message":"Forbidden"}', what + " (no stage prefix)", "API Gateway")
        path = raw_path[len(stage_prefix):] or "/"
        match = self._route(method, path)
        if match is None:
            return HttpResponse(403, {}, '{"message":"Missing Authentication Token"}', what, "API Gateway")
        resource, params = match
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        headers = {"Host": self.host, "User-Agent": "rehearsal/1.0", "X-Forwarded-For": source_ip,
                   "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **(headers or {})}
        now = time.time()
        return {
            "resource": resource, "path": path, "httpMethod": method,
            "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
            "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": params or None, "stageVariables": None,
            "requestContext": {
                "resourceId": "rehearsal", "resourcePath": resource, "httpMethod": method,
                "extendedRequestId": uuid.uuid4().hex, "requestTime": formatdate(now, usegmt=True),
                "path": raw_path, "accountId": ACCOUNT, "protocol": "HTTP/1.1", "stage": self.stage,
                "domainPrefix": API_ID, "requestTimeEpoch": int(now * 1000), "requestId": str(uuid.uuid4()),
                "identity": {"sourceIp": source_ip, "userAgent": headers["User-Agent"], "accountId": None,
                             "caller": None, "user": None, "userArn": None, "cognitoIdentityId": None},
                "domainName": self.host, "apiId": API_ID,
            },
            "body": body, "isBase64Encoded": False,
        }

    def _route(self, method: str, path: str) -> tuple[str, dict[str, str]] | None:
        for template, pattern, methods in self.routes:
            found = pattern.fullmatch(path)
            if found and (method in methods or "X-AMAZON-APIGATEWAY-ANY-METHOD" in methods):
                return template, {k: urllib.parse.unquote(v) for k, v in found.groupdict().items()}
        return None


def scheduled_event(rule_arn: str) -> dict[str, Any]:
    """What EventBridge passes a scheduled rule's target."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "region": REGION,
            "resources": [rule_arn], "detail": {}}


def response_of(invocation: Invocation, what: str, container: Container) -> HttpResponse:
    result = invocation.result
    if not isinstance(result, dict) or "statusCode" not in result:
        raise RehearsalError(container.describe(what, f"not an API Gateway proxy response: {str(result)[:300]}"))
    body = result.get("body") or ""
    if result.get("isBase64Encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers.setdefault(key.lower(), ", ".join(values))
    headers.setdefault("content-type", "application/json")  # what API Gateway answers a proxy reply without one
    return HttpResponse(int(result["statusCode"]), headers, body, what, container.function.logical_id, container)


# ---------------------------------------------------------------------------------------------------- the stage


@dataclass
class Rehearsal:
    """The rehearsed stage: functions from the template, reached through API Gateway, EventBridge or invoke."""

    template: Template
    functions: dict[str, Function]
    gateway: ApiGateway
    python: Path
    task: Path
    base_env: dict[str, str]
    logs: Path
    egress: EgressGuard
    containers: dict[str, Container] = field(default_factory=dict)
    spare: list[Container] = field(default_factory=list)

    def container(self, logical_id: str) -> Container:
        """The function's warm container (started on first use, like Lambda's first invocation)."""
        if logical_id not in self.containers:
            self.containers[logical_id] = self.cold(logical_id)
        return self.containers[logical_id]

    def cold(self, logical_id: str) -> Container:
        """A new execution environment of the function (a cold start), e.g. after its settings changed."""
        function = self.functions[logical_id]
        env = {**self.base_env, **function.environment, "AWS_LAMBDA_FUNCTION_NAME": function.name,
               "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory), "_HANDLER": function.handler,
               "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
               "AWS_LAMBDA_LOG_STREAM_NAME": f"rehearsal/{uuid.uuid4().hex}", "LAMBDA_TASK_ROOT": str(self.task)}
        container = Container(function, self.python, self.task, env, self.logs)
        self.spare.append(container)
        return container

    @property
    def api_function(self) -> str:
        return next(logical for logical, f in self.functions.items() if f.handler == "app.app")

    def http(self, method: str, path_or_url: str, *, json_body: Any = None, body: str | None = None,
             headers: Mapping[str, str] | None = None, container: Container | None = None) -> HttpResponse:
        """A request to the deployed URL (`/v1/me` is under the stage: https://<api>/api/v1/me)."""
        url = path_or_url if path_or_url.startswith("https://") else self.gateway.url(path_or_url)
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        event = self.gateway.event(method, url, headers=headers, body=body)
        if isinstance(event, HttpResponse):
            return event
        target = container or self.container(self.api_function)
        what = f"{method} {url}"
        return response_of(target.invoke(event, what), what, target)

    def schedule(self, logical_id: str) -> Invocation:
        function = self.functions[logical_id]
        rule = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{self.template.stack_name}-{logical_id}Event"
        return self.container(logical_id).invoke(scheduled_event(rule), f"EventBridge {function.schedules} event")

    def admin(self, command: str, **args: Any) -> dict[str, Any]:
        logical = next(logical for logical, f in self.functions.items() if f.handler == "app.admin")
        event = {"command": command, "args": args, "actor": "rehearsal"}
        result: dict[str, Any] = self.container(logical).invoke(event, f"admin {command} {args}").result
        return result

    def all_logs(self) -> str:
        for container in self.spare:
            container._log.flush()
        return "".join(path.read_text(errors="replace") for path in sorted(self.logs.glob("*.log")))

    def stop(self) -> None:
        for container in self.spare:
            container.stop()


def lambda_environment(dynamodb_url: str, moto_url: str, egress_url: str, home: Path) -> dict[str, str]:
    """What the Lambda service sets, with fake credentials and the SDK pointed at the local stand-ins."""
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: an unexpected AWS call fails, loudly
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC", "HOME": str(home),
        "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_ACCESS_KEY_ID": "ASIAREHEARSALFAKEKEY", "AWS_SECRET_ACCESS_KEY": secrets.token_hex(20),
        "AWS_SESSION_TOKEN": secrets.token_hex(32),
        "AWS_CONFIG_FILE": str(home / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-creds"),
        "AWS_ENDPOINT_URL": closed,
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
        "AWS_ENDPOINT_URL_SSM": moto_url, "AWS_ENDPOINT_URL_SES": moto_url, "AWS_ENDPOINT_URL_SESV2": moto_url,
        "HTTP_PROXY": egress_url, "HTTPS_PROXY": egress_url, "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
    }


def iter_asset_urls(html: str, page_url: str) -> Iterator[str]:
    """Every file the page loads itself (scripts, styles, icons), as the browser resolves it against the page URL."""
    base = re.search(r"<base\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"']", html, flags=re.IGNORECASE)
    if base:
        page_url = urllib.parse.urljoin(page_url, base.group(1))
    for tag in re.finditer(r"<(script|link|img)\b[^>]*>", html, flags=re.IGNORECASE):
        attr = re.search(r"\b(src|href)\s*=\s*[\"']([^\"']+)[\"']", tag.group(0), flags=re.IGNORECASE)
        if attr:
            url = urllib.parse.urljoin(page_url, attr.group(2))
            if urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(page_url).netloc:
                yield url
