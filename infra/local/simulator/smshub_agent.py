"""A local SIM-bank agent speaking the SMSHub agent protocol (protocols.md §3), with test controls under `/_sim/`.

The hub POSTs GET_SERVICES, GET_NUMBER and FINISH_ACTIVATION as JSON to any path outside `/_sim/`. The agent
hands out numbers from its stock, records every GET_NUMBER and FINISH_ACTIVATION it is sent, and pushes each
SMS given to `POST /_sim/deliver` to the configured hub URL as PUSH_SMS, again every `push_retry_seconds` until
the hub answers `{"status":"SUCCESS"}` (the protocol says 10 s; tests set less).

Controls: `POST /_sim/config` `{key, stock, phones, push_url, push_retry_seconds, latency_ms}` (`stock` is
GET_SERVICES' shape, `{country: {operator: {service: count}}}`; `phones`, when set, are the SIM bank's
numbers, one of which may serve several services at once), `POST /_sim/deliver` `{phone, text, phoneFrom?}`
→ `{smsId}`, `GET /_sim/state`. In tests: `with start_smshub_agent(port=0, **config) as agent: …`.
"""
from __future__ import annotations

import dataclasses
import gzip
import itertools
import json
import random
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import Any

from infra.local.simulator.config import nonempty_text, optional_url
from infra.local.simulator.http_base import SimulatorHandler, SimulatorServer

Stock = dict[tuple[str, str, str], int]  # (country word, operator, service) → numbers available

# Country word → (calling code, digits after it): the countries this agent can have SIMs in.
PHONE_PLANS: dict[str, tuple[str, int]] = {
    "russia": ("7", 10), "ukraine": ("380", 9), "kazakhstan": ("7", 10), "indonesia": ("62", 11),
    "england": ("44", 10), "india": ("91", 10), "usa": ("1", 10),
}
DEFAULT_STOCK: dict[str, Any] = {
    "russia": {"mts": {"tg": 20, "wa": 20, "vk": 20}, "beeline": {"tg": 20, "wa": 20}},
    "usa": {"tmobile": {"tg": 20, "wa": 20, "go": 20}},
}
_FINISH_STATUSES = (1, 3, 4, 5)
_PUSH_TIMEOUT_SECONDS = 5.0


class AgentError(Exception):
    """A request the agent answers with `{"status":"ERROR","error":…}`."""


@dataclass(frozen=True)
class AgentConfig:
    key: str = "agent-key"
    push_url: str | None = None
    push_retry_seconds: float = 10.0
    latency_ms: float = 0.0
    phones: tuple[str, ...] = ()


@dataclass
class AgentActivation:
    id: int
    phone: str
    country: str
    operator: str
    service: str
    finished_with: int | None = None  # the FINISH_ACTIVATION status once the hub ended it


@dataclass
class AgentPush:
    sms_id: int
    phone: str
    phone_from: str
    text: str
    replies: list[str] = field(default_factory=list)  # what the hub answered each attempt: SUCCESS, ERROR, HTTP 401…

    @property
    def delivered(self) -> bool:
        return bool(self.replies) and self.replies[-1] == "SUCCESS"


class AgentState:
    """The agent's books behind one lock: stock, activations, what the hub sent, the SMS it pushes."""

    def __init__(self, config: AgentConfig, stock: Stock, rng: random.Random) -> None:
        self.lock = threading.RLock()
        self.config, self.stock, self.rng = config, stock, rng
        self.activations: dict[int, AgentActivation] = {}
        self.calls: Counter[str] = Counter()
        self.number_requests: list[dict[str, Any]] = []  # GET_NUMBER bodies, key removed
        self.finishes: list[dict[str, int]] = []  # every FINISH_ACTIVATION, repeats included
        self.pushes: dict[int, AgentPush] = {}
        self._ids = itertools.count(1)
        self._sms_ids = itertools.count(1)
        self._phones_ever: set[str] = set()

    def services(self) -> list[dict[str, Any]]:
        with self.lock:
            countries: dict[str, dict[str, dict[str, int]]] = {}
            for (country, operator, service), count in self.stock.items():
                countries.setdefault(country, {}).setdefault(operator, {})[service] = count
            return [{"country": country, "operatorMap": operators} for country, operators in countries.items()]

    def buy(self, country: str, operator: str, service: str, excluded: tuple[str, ...]) -> AgentActivation:
        with self.lock:
            offer = next((key for key, count in self.stock.items() if count > 0 and key[0] == country
                          and key[2] == service and operator in ("any", key[1])), None)
            phone = self._free_phone(country, service, excluded) if offer else None
            if offer is None or phone is None:
                raise LookupError("NO_NUMBERS")
            self.stock[offer] -= 1
            activation = AgentActivation(next(self._ids), phone, country, offer[1], service)
            self.activations[activation.id] = activation
            return activation

    def finish(self, activation_id: int, status: int) -> None:
        with self.lock:
            self.finishes.append({"activationId": activation_id, "status": status})
            activation = self.activations.get(activation_id)
            if activation is None:
                raise AgentError(f"no activation {activation_id}")
            if activation.finished_with is None:
                activation.finished_with = status
                if status == 4:  # cancelled: the number goes back to stock
                    self.stock[(activation.country, activation.operator, activation.service)] += 1

    def new_push(self, phone: str, phone_from: str, text: str) -> AgentPush:
        with self.lock:
            push = AgentPush(next(self._sms_ids), phone, phone_from, text)
            self.pushes[push.sms_id] = push
            return push

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"config": dataclasses.asdict(self.config), "countryList": self.services(),
                    "calls": dict(self.calls), "number_requests": list(self.number_requests),
                    "finishes": list(self.finishes),
                    "activations": [dataclasses.asdict(a) for a in self.activations.values()],
                    "pushes": [{**dataclasses.asdict(p), "delivered": p.delivered} for p in self.pushes.values()]}

    def _free_phone(self, country: str, service: str, excluded: tuple[str, ...]) -> str | None:
        busy = {a.phone for a in self.activations.values() if a.service == service and a.finished_with is None}
        if self.config.phones:
            return next((p for p in self.config.phones if p not in busy and not p.startswith(excluded)), None)
        code, digits = PHONE_PLANS[country]
        for _ in range(50):
            phone = code + "9" + "".join(str(self.rng.randrange(10)) for _ in range(digits - 1))
            if phone not in self._phones_ever and not phone.startswith(excluded):
                self._phones_ever.add(phone)
                return phone
        return None


class SmsPusher:
    """One thread per SMS, posting PUSH_SMS until the hub says SUCCESS or the agent stops."""

    def __init__(self, state: AgentState) -> None:
        self._state = state
        self._stopped = threading.Event()

    def push(self, push: AgentPush) -> None:
        threading.Thread(target=self._until_accepted, args=(push,), name=f"push-{push.sms_id}", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _until_accepted(self, push: AgentPush) -> None:
        while not self._stopped.is_set():
            config = self._state.config
            if config.push_url:
                reply = _post(config.push_url, {"action": "PUSH_SMS", "key": config.key, "smsId": push.sms_id,
                                                "phone": int(push.phone), "phoneFrom": push.phone_from,
                                                "text": push.text})
                with self._state.lock:
                    push.replies.append(reply)
                if reply == "SUCCESS":
                    return
            self._stopped.wait(config.push_retry_seconds)


def _post(url: str, body: dict[str, Any]) -> str:
    """PUSH_SMS once; the hub's `status`, or what went wrong instead."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "agent-sim/1"})
    try:
        with urllib.request.urlopen(request, timeout=_PUSH_TIMEOUT_SECONDS) as response:
            return str(json.loads(response.read()).get("status"))
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError, AttributeError) as error:
        return type(error).__name__


# ---- the protocol --------------------------------------------------------------------------------------------

def handle_protocol(state: AgentState, body: dict[str, Any]) -> dict[str, Any]:
    action = str(body.get("action"))
    state.calls[action] += 1
    if state.config.latency_ms:
        time.sleep(state.config.latency_ms / 1000)
    if body.get("key") != state.config.key:
        return _error("BAD_KEY")
    answer = _ACTIONS.get(action)
    if answer is None:
        return _error("BAD_ACTION")
    try:
        return {**answer(state, body), "status": "SUCCESS"}
    except LookupError:
        return {"status": "NO_NUMBERS"}
    except (AgentError, KeyError, TypeError, ValueError) as error:
        return _error(str(error))


def _get_services(state: AgentState, body: dict[str, Any]) -> dict[str, Any]:
    return {"countryList": state.services()}


def _get_number(state: AgentState, body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body["sum"], int | Decimal) or not isinstance(body["currency"], int):
        raise AgentError("sum and currency must be numbers")
    excluded = body.get("exceptionPhoneSet") or []
    with state.lock:
        state.number_requests.append({k: v for k, v in body.items() if k != "key"})
    activation = state.buy(str(body["country"]), str(body["operator"]), str(body["service"]),
                           tuple(str(prefix) for prefix in excluded))
    return {"number": int(activation.phone), "activationId": activation.id}


def _finish_activation(state: AgentState, body: dict[str, Any]) -> dict[str, Any]:
    activation_id, status = body["activationId"], body["status"]
    if not isinstance(activation_id, int) or status not in _FINISH_STATUSES:
        raise AgentError("activationId must be a number and status one of 1, 3, 4, 5")
    state.finish(activation_id, status)
    return {}


_ACTIONS: dict[str, Callable[[AgentState, dict[str, Any]], dict[str, Any]]] = {
    "GET_SERVICES": _get_services, "GET_NUMBER": _get_number, "FINISH_ACTIVATION": _finish_activation,
}


def _error(message: str) -> dict[str, Any]:
    return {"status": "ERROR", "error": message}


# ---- test controls -------------------------------------------------------------------------------------------

def parse_stock(value: object) -> Stock:
    """GET_SERVICES' shape, `{country: {operator: {service: count}}}`, for countries this agent has SIMs in."""
    if not isinstance(value, Mapping):
        raise ValueError("stock: must be {country: {operator: {service: count}}}")
    stock: Stock = {}
    for country, operators in value.items():
        if country not in PHONE_PLANS or not isinstance(operators, Mapping):
            raise ValueError(f"stock: {country!r} is not one of {sorted(PHONE_PLANS)} with its operators")
        for operator, services in operators.items():
            for service, count in dict(services).items():
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    raise ValueError(f"stock: {country}/{operator}/{service} must be a whole number ≥ 0")
                stock[(country, str(operator), str(service))] = count
    return stock


def _seconds(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError("must be a number ≥ 0")
    return float(value)


def _phones(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(str(phone).isdigit() for phone in value):
        raise ValueError("must be a list of phone numbers (digits)")
    return tuple(str(phone) for phone in value)


_SETTINGS: dict[str, Callable[[object], object]] = {
    "key": nonempty_text, "push_url": optional_url, "push_retry_seconds": _seconds, "latency_ms": _seconds,
    "phones": _phones,
}


def parse_config(config: AgentConfig, change: Mapping[str, Any]) -> AgentConfig:
    """The config with `change` applied (all of it or, on a ValueError naming the key, none of it)."""
    settings: dict[str, object] = {}
    for key, value in change.items():
        if key == "stock":
            continue
        if key not in _SETTINGS:
            raise ValueError(f"{key}: is not a setting")
        try:
            settings[key] = _SETTINGS[key](value)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from exc
    return dataclasses.replace(config, **settings)  # type: ignore[arg-type]


def handle_control(state: AgentState, pusher: SmsPusher, method: str, path: str, body: dict[str, Any]
                   ) -> tuple[int, dict[str, Any]]:
    if (method, path) == ("GET", "/_sim/state"):
        return 200, state.snapshot()
    if (method, path) == ("POST", "/_sim/config"):
        with state.lock:
            config = parse_config(state.config, body)
            stock = parse_stock(body["stock"]) if "stock" in body else state.stock
            state.config, state.stock = config, stock
        return 200, state.snapshot()["config"]
    if (method, path) == ("POST", "/_sim/deliver"):
        phone, text = str(body.get("phone", "")).lstrip("+"), body.get("text")
        if not phone.isdigit() or not isinstance(text, str) or not text:
            raise ValueError("deliver takes {phone: digits, text, phoneFrom?}")
        push = state.new_push(phone, str(body.get("phoneFrom") or "Service"), text)
        pusher.push(push)
        return 200, {"smsId": push.sms_id}
    return 404, {"error": f"no control {method} {path}"}


# ---- the server ----------------------------------------------------------------------------------------------

class _AgentServer(SimulatorServer):
    def __init__(self, address: tuple[str, int], state: AgentState, pusher: SmsPusher, verbose: bool) -> None:
        super().__init__(address, _Handler)
        self.state, self.pusher, self.verbose = state, pusher, verbose


class _Handler(SimulatorHandler):
    server: _AgentServer

    def _dispatch(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = self._json(raw)
            if self.path.startswith("/_sim/"):
                status, reply = handle_control(self.server.state, self.server.pusher, self.command,
                                               self.path.rstrip("/"), body)
            else:
                status, reply = 200, handle_protocol(self.server.state, body)
        except (ValueError, OSError) as error:
            status, reply = 400, _error(str(error))
        self._send(status, reply)

    def _json(self, raw: bytes) -> dict[str, Any]:
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        value = json.loads(raw, parse_float=Decimal) if raw.strip() else {}
        if not isinstance(value, dict):
            raise ValueError("the body must be a JSON object")
        return value

    def _send(self, status: int, reply: dict[str, Any]) -> None:
        data = json.dumps(reply, default=str).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except ConnectionError:
            self.close_connection = True


@dataclass
class AgentHandle:
    """An agent running in background threads; `stop()` (or leaving a `with` block) shuts it down."""

    url: str
    port: int
    state: AgentState
    _server: _AgentServer
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.pusher.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> AgentHandle:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def start_smshub_agent(port: int = 0, *, host: str = "127.0.0.1", seed: int | None = None, verbose: bool = False,
                       **config: Any) -> AgentHandle:
    """Start an agent (port 0: a free one); `config` takes the keys of `POST /_sim/config`."""
    stock = parse_stock(config.get("stock", DEFAULT_STOCK))
    state = AgentState(parse_config(AgentConfig(), config), stock, random.Random(seed))
    pusher = SmsPusher(state)
    server = _AgentServer((host, port), state, pusher, verbose)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="smshub-agent", daemon=True)
    thread.start()
    bound_port = int(server.server_address[1])
    return AgentHandle(f"http://{host}:{bound_port}", bound_port, state, server, thread)
