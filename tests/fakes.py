"""Local stand-ins for the services warroom pages through, for any test that needs one.

Each fake is a real server on 127.0.0.1 with an ephemeral port, started and stopped as a
context manager, safe to call from several threads, recording what it received, and able
to fail on purpose:

- ``SmtpSink``: SMTP (aiosmtpd). ``refuse(address, code)``, ``wait_for(count)``.
- ``SlackFake``: Slack Web API ``conversations.open`` and ``chat.postMessage`` under
  ``/api/``. ``fail(user_id, error)``, ``ratelimit(n)``.
- ``PagerDutyFake``: Events API v2 ``POST /v2/enqueue``. ``throttle(n)``.
- ``OpsgenieFake``: Alert API v2 create, acknowledge and close. ``throttle(n)``.

Every HTTP fake also has ``fail_next(status, n)`` and records every request in ``requests``.
``unused_port()`` and ``blackhole()`` stand for a server that is down or one that never
answers.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import socket
import socketserver
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from warroom.notify.email import SmtpSettings

HOST = "127.0.0.1"
START_TIMEOUT = 5.0
MAX_BODY = 10 * 1024 * 1024


def unused_port() -> int:
    """A port nothing listens on (it was free a moment ago): a server that is down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return port


@contextlib.contextmanager
def blackhole() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) but never answers a byte."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        sock.listen(8)
        yield sock.getsockname()[1]


class _Fake:
    """Context-manager plumbing shared by the fakes."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------------------
# SMTP


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]  # the envelope's recipients
    message: EmailMessage  # parsed, CRLF line endings turned into "\n"
    login: str | None  # the AUTH user, when the client logged in


class _SmtpHandler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.sink._refusal(address)
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # Line endings as Python writes them (SMTP carries CRLF), for simpler assertions.
        raw = (envelope.original_content or b"").replace(b"\r\n", b"\n")
        message = BytesParser(EmailMessage, policy=default_policy).parsebytes(raw)
        login = session.login_data if session.authenticated else None
        self.sink._record(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                message=message,
                login=login.decode() if isinstance(login, bytes) else login,
            )
        )
        return "250 Message accepted for delivery"


class _BoundController(Controller):
    """aiosmtpd's Controller on a socket bound beforehand: it needs a known port (it
    connects to itself on start), and binding first avoids racing for a free one."""

    def __init__(self, handler: _SmtpHandler, sock: socket.socket, **kwargs: Any) -> None:
        super().__init__(handler, hostname=HOST, port=sock.getsockname()[1], **kwargs)
        self._sock = sock

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)


class SmtpSink(_Fake):
    """A real SMTP server that keeps what it is sent.

    With ``credentials=(user, password)`` it offers AUTH (PLAIN, LOGIN) without TLS and
    answers 535 to any other credentials; mail without AUTH is still accepted.
    """

    def __init__(self, *, credentials: tuple[str, str] | None = None) -> None:
        self._credentials = credentials
        self._lock = threading.Condition()
        self._received: list[ReceivedMail] = []
        self._refused: dict[str, str] = {}
        self._controller: _BoundController | None = None
        self.host = HOST
        self.port = 0

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind((HOST, 0))
        sock.listen(16)
        self.port = sock.getsockname()[1]
        auth: dict[str, Any] = {}
        if self._credentials is not None:
            auth = {"authenticator": self._authenticate, "auth_require_tls": False}
        controller = _BoundController(
            _SmtpHandler(self),
            sock,
            ready_timeout=START_TIMEOUT,
            server_hostname="smtp.warroom.test",  # no FQDN lookup
            ident="warroom fake SMTP",
            **auth,
        )
        try:
            controller.start()
        except BaseException:
            sock.close()
            raise
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def settings(self, **overrides: Any) -> SmtpSettings:
        """SmtpSettings pointing at this sink (timeout 2s unless overridden)."""
        values: dict[str, Any] = {"host": self.host, "port": self.port, "timeout": 2.0}
        values.update(overrides)
        return SmtpSettings(**values)

    def refuse(self, address: str, code: int = 550, reply: str | None = None) -> None:
        """Answer ``RCPT TO:<address>`` with ``code`` (550 permanent, 451 temporary...)."""
        if reply is None:
            reply = (
                f"5.1.1 <{address}>: Recipient address rejected: User unknown"
                if code >= 500
                else f"4.3.0 <{address}>: Try again later"
            )
        with self._lock:
            self._refused[address.lower()] = f"{code} {reply}"

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    @property
    def messages(self) -> list[EmailMessage]:
        return [mail.message for mail in self.received]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMail]:
        """Block until ``count`` messages arrived (or fail after ``timeout`` seconds)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"{len(self._received)} message(s) arrived within {timeout}s, "
                        f"expected {count}"
                    )
                self._lock.wait(remaining)
            return list(self._received)

    def _refusal(self, address: str) -> str | None:
        with self._lock:
            return self._refused.get(address.lower())

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._received.append(mail)
            self._lock.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert self._credentials is not None
        user, password = self._credentials
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            user.encode(),
            password.encode(),
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


# --------------------------------------------------------------------------------------
# HTTP


@dataclass(frozen=True)
class HttpCall:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # skips HTTPServer's reverse DNS lookup
        self.server_name = HOST
        self.server_port = self.server_address[1]


class _HttpFake(_Fake):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[HttpCall] = []
        self._scripted: deque[Answer] = deque()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def requests(self) -> list[HttpCall]:
        """Every request received, answered or failed, in order."""
        with self._lock:
            return list(self._requests)

    def fail_next(self, status: int, n: int = 1, *, headers: dict[str, str] | None = None) -> None:
        """Answer the next ``n`` requests with ``status`` and the service's error body."""
        answer = Answer(status, self._error_body(status), dict(headers or {}))
        with self._lock:
            self._scripted.extend([answer] * n)

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._serve(self)

            def do_GET(self) -> None:
                fake._serve(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _Server((HOST, 0), Handler)
        self.port = server.server_address[1]
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
            self._thread = None

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._send(handler, Answer(413, {"error": "too large"}))
            return
        body = handler.rfile.read(length) if length > 0 else b""
        url = urlsplit(handler.path)
        call = HttpCall(
            method=handler.command,
            path=unquote(url.path),
            query=dict(parse_qsl(url.query)),
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self._requests.append(call)
            scripted = self._scripted.popleft() if self._scripted else None
        answer = scripted or self._answer(call, url.path)
        self._send(handler, answer)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, answer: Answer) -> None:
        payload = json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(payload)

    def _answer(self, call: HttpCall, raw_path: str) -> Answer:
        raise NotImplementedError

    def _error_body(self, status: int) -> Any:
        return {"message": f"HTTP {status}"}


# --------------------------------------------------------------------------------------
# Slack


@dataclass(frozen=True)
class SlackCall:
    method: str  # "conversations.open", "chat.postMessage"
    params: dict[str, Any]  # form fields or JSON body, as sent


class SlackFake(_HttpFake):
    """Slack's Web API for a DM: ``conversations.open`` then ``chat.postMessage``.

    Pass ``base_url`` to the client. Every user exists unless ``fail`` says otherwise; the
    DM channel of user ``U1`` is ``DU1``. ``calls`` holds the calls that reached a method
    (with a valid token), failed or not; ``posted`` the messages accepted.
    """

    TOKEN = "xoxb-warroom-test-token"

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self._calls: list[SlackCall] = []
        self._posted: list[dict[str, Any]] = []
        self._failures: dict[tuple[str, str | None], str] = {}
        self._channels: dict[str, str] = {}
        self._ts = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/"

    @property
    def calls(self) -> list[SlackCall]:
        with self._lock:
            return list(self._calls)

    @property
    def posted(self) -> list[dict[str, Any]]:
        """The ``chat.postMessage`` params Slack accepted."""
        with self._lock:
            return list(self._posted)

    def fail(
        self, user_id: str, error: str = "user_not_found", *, method: str | None = None
    ) -> None:
        """Calls about ``user_id`` (all, or only ``method``'s) answer ``ok: false``."""
        with self._lock:
            self._failures[(user_id, method)] = error

    def ratelimit(self, n: int = 1, retry_after: int = 30) -> None:
        """The next ``n`` calls answer 429 with ``Retry-After``, as Slack does."""
        self.fail_next(429, n, headers={"Retry-After": str(retry_after)})

    def _error_body(self, status: int) -> Any:
        if status == 429:
            return {"ok": False, "error": "ratelimited"}
        return {"ok": False, "error": f"http_{status}"}

    def _answer(self, call: HttpCall, raw_path: str) -> Answer:
        if call.method != "POST" or not call.path.startswith("/api/"):
            return Answer(404, {"ok": False, "error": "unknown_method"})
        method = call.path.removeprefix("/api/")
        authorization = call.headers.get("authorization", "")
        if not authorization:
            return Answer(200, {"ok": False, "error": "not_authed"})
        if authorization != f"Bearer {self.token}":
            return Answer(200, {"ok": False, "error": "invalid_auth"})
        params = self._params(call)
        with self._lock:
            self._calls.append(SlackCall(method, params))
            if method == "conversations.open":
                return Answer(200, self._open(params))
            if method == "chat.postMessage":
                return Answer(200, self._post(params))
        return Answer(200, {"ok": False, "error": "unknown_method"})

    @staticmethod
    def _params(call: HttpCall) -> dict[str, Any]:
        content_type = call.headers.get("content-type", "")
        if content_type.startswith("application/json"):
            parsed = call.json() if call.body else {}
            return dict(parsed) if isinstance(parsed, dict) else {}
        return dict(parse_qsl(call.body.decode(), keep_blank_values=True))

    def _failure(self, user_id: str, method: str) -> str | None:
        return self._failures.get((user_id, method)) or self._failures.get((user_id, None))

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [user for user in str(params.get("users") or "").split(",") if user]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        for user in users:
            error = self._failure(user, "conversations.open")
            if error:
                return {"ok": False, "error": error}
        channel = f"D{users[0]}" if len(users) == 1 else "G" + "".join(users)
        self._channels[channel] = users[0]
        return {"ok": True, "channel": {"id": channel}}

    def _post(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        user = self._channels.get(channel)
        if user is None:
            return {"ok": False, "error": "channel_not_found"}
        error = self._failure(user, "chat.postMessage")
        if error:
            return {"ok": False, "error": error}
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not str(params.get("text") or "").strip() and not blocks:
            return {"ok": False, "error": "no_text"}
        if blocks is not None and not _valid_blocks(blocks):
            return {"ok": False, "error": "invalid_blocks"}
        self._posted.append(params)
        ts = f"1700000000.{next(self._ts):06d}"
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text")}}


def _valid_blocks(blocks: Any) -> bool:
    """The limits Slack enforces on the blocks warroom sends."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    limits = {"header": 150, "section": 3000}
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            return False
        text = block.get("text")
        if block["type"] in limits and (
            not isinstance(text, dict)
            or not 0 < len(str(text.get("text"))) <= limits[block["type"]]
        ):
            return False
        if block["type"] == "actions":
            for element in block.get("elements", []):
                if len(str(element.get("url", ""))) > 3000:
                    return False
    return True


# --------------------------------------------------------------------------------------
# PagerDuty


class PagerDutyFake(_HttpFake):
    """PagerDuty's Events API v2 (``url`` is the full enqueue URL).

    Validates events as PagerDuty documents them (400 otherwise, and for an unknown routing
    key); ``events`` holds the accepted ones and ``alerts`` each dedup key's state.
    """

    ROUTING_KEY = "R0UT1NGK3Y0000000000000000000000"

    def __init__(self, routing_keys: Iterable[str] = (ROUTING_KEY,)) -> None:
        super().__init__()
        self.routing_keys = frozenset(routing_keys)
        self._events: list[dict[str, Any]] = []
        self._alerts: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"{self.origin}/v2/enqueue"

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    @property
    def alerts(self) -> dict[str, str]:
        """dedup key → "triggered", "acknowledged" or "resolved"."""
        with self._lock:
            return dict(self._alerts)

    def throttle(self, n: int = 1) -> None:
        """The next ``n`` events answer 429."""
        self.fail_next(429, n)

    def _error_body(self, status: int) -> Any:
        if status == 429:
            return {
                "status": "throttle event",
                "message": "Requests for this service are arriving too quickly. Retry later.",
            }
        return {"status": "error", "message": f"HTTP {status}"}

    @staticmethod
    def _invalid(*errors: str) -> Answer:
        body = {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": list(errors),
        }
        return Answer(400, body)

    def _answer(self, call: HttpCall, raw_path: str) -> Answer:
        if call.method != "POST" or call.path != "/v2/enqueue":
            return Answer(404, {"status": "error", "message": "Not found"})
        try:
            event = call.json()
        except ValueError:
            return self._invalid("Could not parse the body as JSON")
        if not isinstance(event, dict):
            return self._invalid("Event object must be a JSON object")
        errors = _pagerduty_errors(event, self.routing_keys)
        if errors:
            return self._invalid(*errors)
        key = event.get("dedup_key") or uuid.uuid4().hex
        state = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
        with self._lock:
            self._events.append(event)
            self._alerts[key] = state[event["event_action"]]
        return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": key})


def _pagerduty_errors(event: dict[str, Any], routing_keys: frozenset[str]) -> list[str]:
    errors = []
    if event.get("routing_key") not in routing_keys:
        errors.append("'routing_key' is missing or invalid")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid (must be trigger, acknowledge or resolve)")
    key = event.get("dedup_key")
    if key is not None and (not isinstance(key, str) or len(key) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not key:
        errors.append("'dedup_key' is required to acknowledge or resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing"]
        summary = payload.get("summary")
        if not isinstance(summary, str) or not summary or len(summary) > 1024:
            errors.append("'payload.summary' must be 1 to 1024 characters")
        if not payload.get("source"):
            errors.append("'payload.source' is missing")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
    return errors


# --------------------------------------------------------------------------------------
# Opsgenie


@dataclass(frozen=True)
class OpsgenieCall:
    action: Literal["create", "acknowledge", "close"]
    identifier: str | None  # the alert's id or alias in the path (decoded); None to create
    identifier_type: str | None  # the identifierType query parameter
    body: dict[str, Any]


class OpsgenieFake(_HttpFake):
    """Opsgenie's Alert API v2: create, acknowledge and close (``base_url`` is the origin).

    Checks ``Authorization: GenieKey <api_key>`` (401 otherwise) and the documented field
    limits (422 otherwise); ``calls`` holds the accepted requests and ``alerts`` each
    alias's state ("open", "acknowledged", "closed").
    """

    API_KEY = "00000000-0000-4000-8000-000000000000"

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self._calls: list[OpsgenieCall] = []
        self._alerts: dict[str, str] = {}

    @property
    def base_url(self) -> str:
        return self.origin

    @property
    def calls(self) -> list[OpsgenieCall]:
        with self._lock:
            return list(self._calls)

    @property
    def alerts(self) -> dict[str, str]:
        with self._lock:
            return dict(self._alerts)

    def throttle(self, n: int = 1) -> None:
        """The next ``n`` requests answer 429."""
        self.fail_next(429, n)

    def _error_body(self, status: int) -> Any:
        messages = {
            401: "Key format is not valid!",
            403: "You are not authorized for this operation",
            422: "Request body is not processable. Please check the errors.",
            429: "You are making too many requests! To avoid errors, we recommend you limit requests.",  # noqa: E501
        }
        return {
            "message": messages.get(status, "Internal Server Error"),
            "took": 0.0,
            "requestId": str(uuid.uuid4()),
        }

    def _answer(self, call: HttpCall, raw_path: str) -> Answer:
        if call.headers.get("authorization") != f"GenieKey {self.api_key}":
            return Answer(401, self._error_body(401))
        parts = raw_path.strip("/").split("/")
        action: Literal["create", "acknowledge", "close"]
        identifier: str | None = None
        if call.method == "POST" and parts == ["v2", "alerts"]:
            action = "create"
        elif (
            call.method == "POST"
            and len(parts) == 4
            and parts[:2] == ["v2", "alerts"]
            and parts[3] in ("acknowledge", "close")
        ):
            action = "acknowledge" if parts[3] == "acknowledge" else "close"
            identifier = unquote(parts[2])
        else:
            return Answer(404, {"message": "No handler for this path", "took": 0.0})
        try:
            body = call.json() if call.body else {}
        except ValueError:
            return Answer(400, {"message": "Could not parse the body as JSON", "took": 0.0})
        errors = _opsgenie_errors(action, body, call.query)
        if errors:
            answer = self._error_body(422)
            answer["errors"] = errors
            return Answer(422, answer)
        with self._lock:
            self._calls.append(
                OpsgenieCall(action, identifier, call.query.get("identifierType"), body)
            )
            if action == "create":
                self._alerts[body.get("alias") or str(uuid.uuid4())] = "open"
            elif identifier is not None and identifier in self._alerts:
                self._alerts[identifier] = {"acknowledge": "acknowledged", "close": "closed"}[
                    action
                ]
        return Answer(
            202,
            {"result": "Request will be processed", "took": 0.01, "requestId": str(uuid.uuid4())},
        )


def _opsgenie_errors(action: str, body: Any, query: dict[str, str]) -> dict[str, str]:
    if not isinstance(body, dict):
        return {"body": "must be a JSON object"}
    errors: dict[str, str] = {}
    if query.get("identifierType", "id") not in ("id", "alias", "tiny"):
        errors["identifierType"] = "must be id, alias or tiny"
    limits = {"source": 100, "user": 100, "note": 25000}
    if action == "create":
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            errors["message"] = "Message can not be empty."
        limits.update({"message": 130, "alias": 512, "description": 15000, "entity": 512})
        if body.get("priority", "P3") not in ("P1", "P2", "P3", "P4", "P5"):
            errors["priority"] = "must be one of P1..P5"
        tags = body.get("tags", [])
        if not isinstance(tags, list) or any(len(str(tag)) > 50 for tag in tags):
            errors["tags"] = "each tag must be at most 50 characters"
        details = body.get("details", {})
        if (
            not isinstance(details, dict)
            or sum(len(str(k)) + len(str(v)) for k, v in details.items()) > 8000
        ):
            errors["details"] = "must be at most 8000 characters in total"
    for name, limit in limits.items():
        if len(str(body.get(name, ""))) > limit:
            errors[name] = f"must be at most {limit} characters"
    return errors


class Proxy:
    """A TCP proxy on loopback that the test (or benchmark) cuts: the database goes away
    without touching the shared server."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.open = True
        self.pairs: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.pairs += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def cut(self) -> None:
        self.open = False
        for s in self.pairs:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.pairs.clear()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.server.close()
