"""HTTP stand-in for Courier's REST API (``api.courier.com``), loopback only, stdlib only: the HTTP core.

Every request is dispatched through a route registry (``courier_emulator.registry``):

* ``/messages`` and every path under it: ``MESSAGE_ROUTES``, served from the server's ``MessageLog`` (routes
  and shapes in ``courier_emulator.resources.messages``, the log in ``courier_emulator.data``).
* Every other path goes to the optional workspace (``courier_emulator.workspace.Workspace``, which dispatches
  through ``WORKSPACE_ROUTES``, or any object with ``handle(path, query)`` returning ``(status, body)`` or None
  for an unknown path). Without a workspace, or for None, the path is unknown.
* ``/__admin/...``: the test hooks of ``courier_emulator.admin`` (without auth, not recorded nor faulted).

Auth and errors (sections B, H.1): ``Authorization: Bearer <key>`` (scheme case-insensitive, key exact), else
403 ``{"message": "Invalid or missing authentication credentials", "type": "authorization_error"}``, or 401
``{"message": "Unauthorized", "type": "authentication_error"}`` with ``auth_failure_status=401`` (the server's
``Readings``, ``courier_emulator.readings``). Auth is checked before routing, so an unauthenticated request to an
unknown path gets that answer too. Unknown paths give 404, other methods than GET on a
known path 405 (with ``Allow: GET``), both with ``type`` ``invalid_request_error``; an emulator bug is a 500
``api_error`` (traceback on stderr). Every response body is JSON, except what the ``html-*`` and
``malformed-json`` faults send, and goes out in one write.

Faults (``courier_emulator.faults``): the server's ``FaultPlan`` applies to every non-admin request, whatever
the route, after its normal response is computed (so a fault can also replace a 403 or a 404, as a proxy in
front of Courier would). ``latency_ms`` delays every non-admin request.

``run_in_thread(...)`` runs the emulator inside the current process for tests (``RunningEmulator``, whose
methods mirror the admin endpoints); ``python -m courier_emulator`` runs it as a process.
"""

from __future__ import annotations

import email.utils
import hmac
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from courier_emulator import DEMO_API_KEY, admin
from courier_emulator.admin import (
    ADMIN_PREFIX,
    FILTER_LISTS,
    REDACTED,
    RESOURCE_NAMES,
    RequestRecorder,
    Stats,
    route_template,
)
from courier_emulator.data import (
    DEFAULT_ANCHOR_MS,
    DEFAULT_MESSAGES,
    DEFAULT_NEW_MESSAGES,
    DEFAULT_SPACING_MS,
    DEFAULT_STATUS_WINDOW_MS,
    MessageLog,
)
from courier_emulator.faults import Fault, FaultPlan, applies, faulted_reply, with_retry_after
from courier_emulator.readings import DEFAULT_AUTH_FAILURE_STATUS, Readings
from courier_emulator.registry import MESSAGE_ROUTES, SIZES, InvalidRequest, NotFound, Request, Router
from courier_emulator.replies import Reply, error_body, json_reply, method_not_allowed
from courier_emulator.resources import messages as _messages  # noqa: F401 - registers the /messages routes

__all__ = [  # with the names of courier_emulator.admin it re-exports
    "ADMIN_PREFIX",
    "FILTER_LISTS",
    "LOOPBACK_HOSTS",
    "REDACTED",
    "RESOURCE_NAMES",
    "WORKSPACE_SIZES",
    "CourierEmulatorServer",
    "CourierRequestHandler",
    "RequestRecorder",
    "RunningEmulator",
    "Stats",
    "WorkspaceUnavailable",
    "error_body",
    "load_workspace",
    "make_server",
    "resolve_loopback_host",
    "route_template",
    "run_in_thread",
]

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
WORKSPACE_SIZES = ("none", *SIZES)
_MAX_BODY = 1 << 20


class WorkspaceUnavailable(RuntimeError):
    """``courier_emulator.workspace`` cannot be imported (or built) for the requested size."""


def load_workspace(size: str) -> object | None:
    """The workspace of that size (``none`` -> None), importing ``courier_emulator.workspace`` only if needed."""
    if size not in WORKSPACE_SIZES:
        raise ValueError(f"workspace must be one of {', '.join(WORKSPACE_SIZES)}, got {size!r}")
    if size == "none":
        return None
    try:
        from courier_emulator.workspace import Workspace
    except ImportError as exc:
        raise WorkspaceUnavailable(
            f"--workspace {size} needs courier_emulator.workspace, which cannot be imported ({exc}); "
            "use --workspace none to serve messages only"
        ) from exc
    return Workspace(size=size)


def resolve_loopback_host(host: str) -> str:
    """The address to bind for ``host``; ``ValueError`` unless it is one of ``LOOPBACK_HOSTS``."""
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"loopback only: {', '.join(LOOPBACK_HOSTS)} (got {host!r})")
    return "127.0.0.1" if host == "localhost" else host


class CourierEmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        api_key: str,
        log: MessageLog,
        workspace: object | None = None,
        faults: FaultPlan | None = None,
        readings: Readings | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("the API key must not be empty")
        bind_host = resolve_loopback_host(host)
        self.address_family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self.api_key = api_key
        self.log = log
        self.workspace = workspace
        self.faults = faults or FaultPlan()  # replaced whole, never mutated: requests read it once
        self.readings = readings or Readings()  # the same
        self.recorder = RequestRecorder(api_key)
        self.stats = Stats(self.recorder.mask)
        self.stopping = threading.Event()  # wakes requests sleeping for latency or a `slow` fault
        super().__init__((bind_host, port), CourierRequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (a timeout after a `slow` fault, a reset) is normal here: stay quiet."""
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


_PHRASES = {status.value: status.phrase for status in HTTPStatus}
_dates = threading.local()


def _http_date() -> str:
    """The Date header, formatted once a second per thread."""
    now = int(time.time())
    if getattr(_dates, "second", None) != now:
        _dates.second, _dates.text = now, email.utils.formatdate(now, usegmt=True)
    return str(_dates.text)


_MAX_HEADERS = 100  # http.client's limits
_MAX_HEADER_LINE = 65536


class _Headers(dict[str, str]):
    """Request headers by lower-case name; ``get`` takes any case."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(name.lower(), default)


class CourierRequestHandler(BaseHTTPRequestHandler):
    server: CourierEmulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive: a full read of a big log is many sequential requests
    disable_nagle_algorithm = (
        True  # headers and body go out in separate writes: without this, 40 ms per reused connection
    )
    server_version = "courier-emulator"
    timeout = 30  # close idle keep-alive connections

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        """Silence the default stderr access log."""

    def parse_request(self) -> bool:
        """http.server's parse_request, with headers read line by line instead of through the email package.

        The stdlib's header parsing is a third of the emulator's CPU per request, enough to count against
        the connector in `make bench` (the emulator must stay under 10% of the connector's CPU). A request
        line that is not plain ``METHOD PATH HTTP/1.x`` goes to the stdlib, before any header is read."""
        self.command, self.request_version = None, self.default_request_version  # type: ignore[assignment]
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.0", "HTTP/1.1"):
            return super().parse_request()
        headers = _Headers()
        for _ in range(_MAX_HEADERS + 1):
            line = self.rfile.readline(_MAX_HEADER_LINE + 1)
            if len(line) > _MAX_HEADER_LINE:
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if line in (b"\r\n", b"\n", b""):
                break
            name, colon, value = line.decode("iso-8859-1").partition(":")
            if not colon:
                self.send_error(HTTPStatus.BAD_REQUEST, "Bad header line")
                return False
            headers[name.strip().lower()] = value.strip()
        else:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
            return False
        self.command, path, self.request_version = words
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        self.headers = headers  # type: ignore[assignment]
        connection = headers.get("Connection", "").lower()
        self.close_connection = connection == "close" or (
            self.request_version == "HTTP/1.0" and connection != "keep-alive"
        )
        return True

    def version_string(self) -> str:
        return self.server_version

    def __getattr__(self, name: str) -> Callable[[], None]:
        # BaseHTTPRequestHandler looks up do_<METHOD>. Send every method, including unknown ones, to one
        # dispatcher, so that anything but GET gets a Courier-style 405 instead of an HTML 501.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors raised by http.server itself (malformed request line, oversized headers) as JSON too."""
        if message is None:
            try:
                message = HTTPStatus(code).phrase
            except ValueError:
                message = "Error"
        self._send(json_reply(code, error_body(code, message), {"Connection": "close"}))

    # --- dispatch ----------------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        body = self._read_request_body()
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query, keep_blank_values=True)
        server = self.server
        if path.startswith(ADMIN_PREFIX):
            self._send(admin.dispatch(server, self.command, path, body))
            return
        authorized = self._is_authorized()
        server.recorder.record(self.command, path, query, authorized)
        server.stats.record_request(self.command, route_template(path, server.workspace), query)
        plan = server.faults
        if plan.latency_ms:
            server.stopping.wait(plan.latency_ms / 1000)
        normal = self._respond(path, query, authorized)
        status, response, headers = normal
        kind = plan.decide(
            f"{path}?{url.query}" if url.query else path,
            path,
            lambda k: applies(k, path, query, status, response),
        )
        if kind is None:
            self._send(json_reply(status, response, headers))
            return
        server.stats.record_fault(kind)
        reply = faulted_reply(kind, plan, query, normal, wait=server.stopping.wait, head_cursor=server.log.head_cursor)
        self._send(with_retry_after(reply, plan, kind))

    def _respond(self, path: str, query: dict[str, list[str]], authorized: bool) -> tuple[int, Any, dict[str, str]]:
        """The normal answer: ``(status, JSON body, extra headers)``."""
        if not authorized:
            status, body = self.server.readings.auth_failure()
            return status, body, {}
        try:
            if MESSAGE_ROUTES.owns(path):
                return self._route(MESSAGE_ROUTES, self.server.log, path, query)
            workspace = self.server.workspace
            result = None if workspace is None else workspace.handle(path, query)  # type: ignore[attr-defined]
            if result is None:
                return 404, error_body(404, "Not Found"), {}
            if self.command != "GET":
                return method_not_allowed("GET")
            status, response = result
            return status, response, {}
        except Exception:  # an emulator bug: answer like Courier would, and say what happened on stderr
            traceback.print_exc()
            return 500, error_body(500, "Internal Server Error"), {}

    def _route(
        self, router: Router, owner: object, path: str, query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        """Serve ``path`` through ``router``: 404 if no route matches, 405 for another method, else the handler's."""
        match = router.match(path)
        if match is None:
            return 404, error_body(404, "Not Found"), {}
        handler = match.handlers.get(self.command)
        if handler is None:
            return method_not_allowed(", ".join(match.handlers))
        try:
            return 200, handler(owner, Request(match.template, match.ids, query, self.server.readings)), {}
        except InvalidRequest as exc:
            return 400, error_body(400, str(exc)), {}
        except NotFound:
            return 404, error_body(404, "Not Found"), {}

    # --- plumbing ----------------------------------------------------------------------------------------

    def _is_authorized(self) -> bool:
        scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            key.encode("utf-8", "surrogateescape"), self.server.api_key.encode("utf-8")
        )

    def _send(self, reply: Reply) -> None:
        """Status line, headers and body in one write (http.server's send_response/end_headers take two)."""
        if reply.payload is None:  # the `drop` fault: no status line, no headers, just a closed connection
            self.close_connection = True
            return
        lines = [
            f"{self.protocol_version} {reply.status} {_PHRASES.get(reply.status, '')}",
            f"Server: {self.server_version}",
            f"Date: {_http_date()}",
        ]
        for name, value in reply.headers.items():
            lines.append(f"{name}: {value}")
            if name.lower() == "connection" and value.lower() == "close":
                self.close_connection = True
        lines.append(f"Content-Length: {len(reply.payload)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "strict")
        self.wfile.write(head if self.command == "HEAD" else head + reply.payload)

    def _read_request_body(self) -> bytes | None:
        """The request body (b"" if none); None, closing the connection after this request, if it is chunked
        or over 1 MiB (the emulator does not read those, so the keep-alive connection cannot stay in sync)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 <= length <= _MAX_BODY:
            return self.rfile.read(length)
        self.close_connection = True
        return None


class RunningEmulator:
    """An emulator serving from a daemon thread of this process; also a context manager that stops it."""

    def __init__(self, server: CourierEmulatorServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="courier-emulator", daemon=True
        )  # a short poll interval makes stop() quick, which matters with one emulator per test
        self._stopped = False
        self._thread.start()

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def api_key(self) -> str:
        return self._server.api_key

    @property
    def log(self) -> MessageLog:
        return self._server.log

    @property
    def workspace(self) -> object | None:
        return self._server.workspace

    @property
    def faults(self) -> FaultPlan:
        return self._server.faults

    @property
    def readings(self) -> Readings:
        return self._server.readings

    def requests(self) -> list[dict[str, Any]]:
        """Same list as ``GET /__admin/requests``."""
        return self._server.recorder.entries()

    def reset_requests(self) -> None:
        """Clears the request list only (``reset()`` also clears the stats)."""
        self._server.recorder.clear()

    def reset(self) -> int:
        """Same as ``POST /__admin/reset``: clears the request list and the stats; returns the requests cleared."""
        return admin.reset(self._server)

    def stats(self) -> dict[str, Any]:
        """Same as ``GET /__admin/stats``."""
        return self._server.stats.snapshot()

    def advance(self, new_messages: int = DEFAULT_NEW_MESSAGES, advance_statuses: bool = True) -> dict[str, Any]:
        """Same as ``POST /__admin/advance``: ``{"count", "newest_enqueued", "advanced"}``."""
        return self._server.log.advance(new_messages, advance_statuses)

    def set_faults(self, faults: Iterable[Fault | Mapping[str, Any] | str] = (), **settings: Any) -> dict[str, Any]:
        """Same as ``POST /__admin/faults``: replaces the plan (``faults`` as ``Fault``, dicts or ``"KIND[:RATE]"``;
        settings ``max_in_a_row``, ``seed``, ``latency_ms``, ``retry_after``, ``slow_seconds``); returns it."""
        plan = FaultPlan(faults, **settings)
        self._server.faults = plan
        return plan.to_json()

    def set_readings(self, **readings: Any) -> dict[str, Any]:
        """Same as ``POST /__admin/readings``: replaces the readings (a key not given takes its default)."""
        self._server.readings = Readings(**readings)
        return self._server.readings.to_json()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> RunningEmulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def make_server(
    *,
    api_key: str = DEMO_API_KEY,
    messages: int = DEFAULT_MESSAGES,
    anchor_ms: int = DEFAULT_ANCHOR_MS,
    spacing_ms: int = DEFAULT_SPACING_MS,
    status_window_ms: int = DEFAULT_STATUS_WINDOW_MS,
    host: str = "127.0.0.1",
    port: int = 0,
    workspace: object | None = None,
    faults: FaultPlan | None = None,
    auth_failure_status: int = DEFAULT_AUTH_FAILURE_STATUS,
    honour_messages_limit: bool = False,
    apply_enqueued_after: bool = True,
) -> CourierEmulatorServer:
    """A bound (not yet serving) emulator; ``ValueError`` for a non-loopback host, bad log parameters or readings.

    ``workspace``: an object with ``handle(path, query)``, or a size name for ``load_workspace``
    (``"none"``, ``"small"``, ``"demo"``). The last three are the readings (``courier_emulator.readings``)."""
    readings = Readings(auth_failure_status, honour_messages_limit, apply_enqueued_after)
    if isinstance(workspace, str):
        workspace = load_workspace(workspace)
    return CourierEmulatorServer(
        host,
        port,
        api_key=api_key,
        log=MessageLog(messages, anchor_ms, spacing_ms, status_window_ms),
        workspace=workspace,
        faults=faults,
        readings=readings,
    )


def run_in_thread(**options: Any) -> RunningEmulator:
    """Start serving now, with ``make_server``'s options; use as ``with run_in_thread(...) as emulator:``
    or call ``.stop()`` yourself."""
    return RunningEmulator(make_server(**options))
