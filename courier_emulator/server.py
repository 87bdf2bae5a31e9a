"""HTTP stand-in for Courier's REST API (``api.courier.com``), loopback only, stdlib only.

Emulates, per ``courier-api.md``:

* ``GET /messages`` (section A.1, record shape section C, quirks D.2/D.4/D.14):
  ``{"paging": {"cursor", "more"}, "results": [...]}``, 10 per page, newest first, no ``limit`` (one sent
  is ignored). Filters honoured on the server: ``enqueued_after`` (inclusive; epoch-ms digits or zoned
  ISO-8601), ``status`` (comma-joined list; repeated parameters are merged) and ``recipient`` (equality).
  An empty ``status=``/``recipient=`` means "no filter". Other documented filters (``event``, ``tag``, ...)
  are accepted and ignored. The cursor is base64 of ``"<enqueued>,<id>"`` (see ``data.py``); a cursor that
  does not name a message of the log gives 400. When several values of a single-valued parameter
  (``cursor``, ``enqueued_after``, ``recipient``, ``type``) are sent, the last one wins.
* ``GET /messages/{message_id}`` (the record plus ``providers``), ``GET /messages/{message_id}/history``
  (``{"results": [...]}``, optional exact ``type`` filter) and ``GET /messages/{message_id}/output``
  (``{"results": [...]}``), section A.1; shapes in ``data.py``. An id that is not in the log gives 404.
* Every other path goes to the optional workspace (``courier_emulator.workspace.Workspace``, brands, lists,
  tenants, ...): ``workspace.handle(path, query)`` returns ``(status, body)`` or None for an unknown path.
  Without a workspace, or for None, the path is unknown.
* Auth and errors (section B): ``Authorization: Bearer <key>`` (scheme case-insensitive, key exact), else 401
  ``{"message": "Unauthorized", "type": "authentication_error"}``. Auth is checked before routing, so an
  unauthenticated request to an unknown path is also 401. Unknown paths give 404, other methods than GET on
  a known path 405 (with ``Allow: GET``), both with ``type`` ``invalid_request_error``. Every response body
  is JSON, except what the ``html-*`` and ``malformed-json`` faults send.
* Faults (``courier_emulator.faults``): the server's ``FaultPlan`` applies to every non-admin request, whatever
  the route, after its normal response is computed (so a fault can also replace a 401 or a 404, as a proxy
  in front of Courier would). ``latency_ms`` delays every non-admin request.

Test hooks under ``/__admin/``, without auth and not recorded, counted or faulted themselves:

* ``GET /__admin/requests``: every other request served so far, in order, as ``{"method", "path", "query",
  "authorized"}``. ``query`` maps each name to its decoded value (a list when the name was repeated). The
  Authorization header is never recorded, and the configured key is masked wherever else it appears.
* ``GET /__admin/stats``: ``{"requests": {"GET /messages": n, "GET /messages/{id}/history": n, ...},
  "faults": {"503": n, ...}, "filters": {"enqueued_after": [...], "cursor": n, "since": [...],
  "start_date": [...], "status": [...], "recipient": [...]}}``. Requests are counted by route template
  (``{id}`` for every path segment that is not a resource name) whatever their outcome (faulted, 401, 404);
  ``faults`` counts the faults injected by kind; the filter lists hold every value sent, in order (a status
  list as sent, e.g. ``"SENT,DELIVERED"``), and ``cursor`` counts the requests that sent a cursor.
* ``POST /__admin/reset``: clears the request list and the stats (not the fault plan, nor the advances):
  ``{"cleared": <requests cleared>}``.
* ``POST /__admin/advance`` with an optional JSON body ``{"new_messages": 10, "advance_statuses": true}``:
  time moves forward (``MessageLog.advance``); returns ``{"count", "newest_enqueued", "advanced"}``.
* ``GET /__admin/faults``: the current plan; ``POST /__admin/faults`` with ``{"faults": [{"kind", "rate",
  "path_prefix"}], "max_in_a_row", "seed", "latency_ms", "retry_after", "slow_seconds"}`` (all optional)
  replaces it (and its per-URL counters) and returns it; ``{"faults": []}`` clears the faults.

An invalid admin body is a 400 ``invalid_request_error``. ``run_in_thread(...)`` runs the emulator inside the
current process for tests (``RunningEmulator``); ``python -m courier_emulator`` runs it as a process.
"""

from __future__ import annotations

import email.utils
import hmac
import json
import socket
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from courier_emulator import DEMO_API_KEY
from courier_emulator.data import (
    DEFAULT_ANCHOR_MS,
    DEFAULT_MESSAGES,
    DEFAULT_NEW_MESSAGES,
    DEFAULT_SPACING_MS,
    DEFAULT_STATUS_WINDOW_MS,
    InvalidRequest,
    MessageFilter,
    MessageLog,
    parse_enqueued_after,
)
from courier_emulator.faults import (
    Fault,
    FaultPlan,
    Reply,
    error_reply,
    has_next_cursor,
    has_records,
    html_reply,
    is_last_paging_a_page,
    json_reply,
    malformed_json_reply,
    with_null_cursor,
    with_repeated_cursor,
    with_retry_after,
    without_records,
)

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
ADMIN_PREFIX = "/__admin/"
REDACTED = "[REDACTED]"
WORKSPACE_SIZES = ("none", "small", "demo", "bench")
_MAX_BODY = 1 << 20

# Path segments that name a resource (reference section A); any other segment is an id in a route template.
RESOURCE_NAMES = frozenset(
    {
        "messages",
        "history",
        "output",
        "audiences",
        "members",
        "lists",
        "subscriptions",
        "profiles",
        "brands",
        "notifications",
        "versions",
        "content",
        "draft",
        "metrics",
        "automations",
        "journeys",
        "runs",
        "steps",
        "templates",
        "tenants",
        "users",
        "audit-events",
        "bulk",
        "preferences",
        "tokens",
        "sections",
        "topics",
        "logs",
        "providers",
        "catalog",
        "routing-strategies",
        "broadcasts",
        "digests",
        "schedules",
        "instances",
        "translations",
        "previews",
        "device-sets",
        "devices",
    }
)
FILTER_LISTS = ("enqueued_after", "since", "start_date", "status", "recipient")


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


def error_body(status: int, message: str) -> dict[str, str]:
    """Courier's error envelope (reference section B), typed by status code."""
    if status == 401:
        error_type = "authentication_error"
    elif status == 403:
        error_type = "authorization_error"
    elif status == 429:
        error_type = "rate_limit_error"
    elif status >= 500:
        error_type = "api_error"
    else:
        error_type = "invalid_request_error"
    return {"message": message, "type": error_type}


def route_template(path: str, workspace: object | None = None) -> str:
    """``/messages/1-abc/history`` -> ``/messages/{id}/history``: the route a path belongs to, without raw ids.

    A workspace with a ``route_template(path)`` method that returns a string decides for its own paths."""
    custom = getattr(workspace, "route_template", None)
    if callable(custom) and not (path == "/messages" or path.startswith("/messages/")):
        template = custom(path)
        if isinstance(template, str):
            return template
    segments = path.split("/")
    return "/".join(s if not s or s in RESOURCE_NAMES else "{id}" for s in segments)


class RequestRecorder:
    """Thread-safe, in-order record of the requests served, with the API key masked."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, method: str, path: str, query: dict[str, list[str]], authorized: bool) -> None:
        masked = {self.mask(name): [self.mask(v) for v in values] for name, values in query.items()}
        entry = {
            "method": method,
            "path": self.mask(path),
            "query": {name: values[0] if len(values) == 1 else values for name, values in masked.items()},
            "authorized": authorized,
        }
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return json.loads(json.dumps(self._entries))  # deep copy: callers cannot alter the record

    def clear(self) -> int:
        with self._lock:
            cleared = len(self._entries)
            self._entries.clear()
            return cleared

    def mask(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED)


class Stats:
    """Thread-safe counters behind ``GET /__admin/stats``."""

    def __init__(self, mask: Callable[[str], str]) -> None:
        self._mask = mask
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._filters: dict[str, list[str]] = {name: [] for name in FILTER_LISTS}
        self._cursors = 0

    def record_request(self, method: str, template: str, query: Mapping[str, list[str]]) -> None:
        with self._lock:
            self._requests[f"{method} {template}"] += 1
            for name in FILTER_LISTS:
                if name in query:
                    self._filters[name].extend(self._mask(value) for value in query[name])
            if "cursor" in query:
                self._cursors += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            filters: dict[str, Any] = {"enqueued_after": list(self._filters["enqueued_after"])}
            filters["cursor"] = self._cursors
            filters.update((name, list(self._filters[name])) for name in FILTER_LISTS[1:])
            return {"requests": dict(self._requests), "faults": dict(self._faults), "filters": filters}

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            for values in self._filters.values():
                values.clear()
            self._cursors = 0


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
    ) -> None:
        if not api_key:
            raise ValueError("the API key must not be empty")
        bind_host = resolve_loopback_host(host)
        self.address_family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self.api_key = api_key
        self.log = log
        self.workspace = workspace
        self.faults = faults or FaultPlan()  # replaced whole, never mutated: requests read it once
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
        if path.startswith(ADMIN_PREFIX):
            self._send(self._admin(path, body))
            return
        server = self.server
        authorized = self._is_authorized()
        server.recorder.record(self.command, path, query, authorized)
        server.stats.record_request(self.command, route_template(path, server.workspace), query)
        plan = server.faults
        if plan.latency_ms:
            server.stopping.wait(plan.latency_ms / 1000)
        status, response, headers = self._respond(path, query, authorized)
        kind = plan.decide(
            f"{path}?{url.query}" if url.query else path,
            path,
            lambda k: self._fault_applies(k, path, query, status, response),
        )
        if kind is None:
            self._send(json_reply(status, response, headers))
            return
        server.stats.record_fault(kind)
        self._send(with_retry_after(self._faulted(kind, plan, path, query, status, response, headers), plan, kind))

    def _respond(self, path: str, query: dict[str, list[str]], authorized: bool) -> tuple[int, Any, dict[str, str]]:
        """The normal answer: ``(status, JSON body, extra headers)``."""
        if not authorized:
            return 401, error_body(401, "Unauthorized"), {}
        try:
            if path == "/messages" or path.startswith("/messages/"):
                return self._messages(path, query)
            workspace = self.server.workspace
            result = None if workspace is None else workspace.handle(path, query)  # type: ignore[attr-defined]
            if result is None:
                return 404, error_body(404, "Not Found"), {}
            if self.command != "GET":
                return _method_not_allowed("GET")
            status, response = result
            return status, response, {}
        except Exception:  # an emulator bug: answer like Courier would, and say what happened on stderr
            traceback.print_exc()
            return 500, error_body(500, "Internal Server Error"), {}

    def _messages(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
        segments = path.split("/")[2:]  # "/messages/<id>/<sub>" -> ["<id>", "<sub>"]
        sub = segments[1] if len(segments) == 2 else None
        if segments and (
            not segments[0] or len(segments) > 2 or (sub is not None and sub not in {"history", "output"})
        ):
            return 404, error_body(404, "Not Found"), {}
        if self.command != "GET":
            return _method_not_allowed("GET")
        log = self.server.log
        if not segments:
            try:
                return 200, self._list_messages(log, query), {}
            except InvalidRequest as exc:
                return 400, error_body(400, str(exc)), {}
        with log.lock:  # an advance in between would shift the position
            position = log.index_of_id(unquote(segments[0]))
            if position is None:
                return 404, error_body(404, "Not Found"), {}
            if sub is None:
                return 200, log.details(position), {}
            if sub == "history":
                return 200, {"results": log.history(position, _last(query, "type") or None)}, {}
            return 200, {"results": log.output(position)}, {}

    @staticmethod
    def _list_messages(log: MessageLog, query: dict[str, list[str]]) -> dict[str, Any]:
        enqueued_after = _last(query, "enqueued_after")
        statuses = {s.strip() for value in query.get("status", []) for s in value.split(",") if s.strip()}
        page = log.page(
            cursor=_last(query, "cursor"),
            enqueued_after=None if enqueued_after is None else parse_enqueued_after(enqueued_after),
            message_filter=MessageFilter(
                statuses=frozenset(statuses) or None, recipient=_last(query, "recipient") or None
            ),
        )
        return page.body()

    # --- faults ------------------------------------------------------------------------------------------

    def _fault_applies(self, kind: str, path: str, query: dict[str, list[str]], status: int, response: Any) -> bool:
        if kind == "no-envelope":
            return status == 200 and has_records(response)
        if kind == "null-cursor":
            return status == 200 and is_last_paging_a_page(response)
        if kind == "repeat-cursor":
            return (
                status == 200
                and has_next_cursor(response)
                and (_last(query, "cursor") is not None or path == "/messages")
            )
        return True

    def _faulted(
        self,
        kind: str,
        plan: FaultPlan,
        path: str,
        query: dict[str, list[str]],
        status: int,
        response: Any,
        headers: dict[str, str],
    ) -> Reply:
        if kind.startswith("429-"):
            return error_reply(429, plan, kind)
        if kind in {"401", "403", "500", "502", "503"}:
            return error_reply(int(kind), plan, kind)
        if kind == "drop":
            return Reply(0, {}, None)
        if kind == "slow":
            self.server.stopping.wait(plan.slow_seconds)
            return json_reply(status, response, headers)
        if kind == "malformed-json":
            return malformed_json_reply(response)
        if kind == "html-200":
            return html_reply(200)
        if kind == "html-502":
            return html_reply(502)
        if kind == "no-envelope":
            return json_reply(200, without_records(response), headers)
        if kind == "null-cursor":
            return json_reply(200, with_null_cursor(response), headers)
        # repeat-cursor
        cursor = _last(query, "cursor")
        return json_reply(200, with_repeated_cursor(response, cursor or self.server.log.head_cursor()), headers)

    # --- admin -------------------------------------------------------------------------------------------

    def _admin(self, path: str, raw_body: bytes | None) -> Reply:
        server = self.server
        routes: dict[str, dict[str, Callable[[], Reply]]] = {
            "/__admin/requests": {"GET": lambda: json_reply(200, server.recorder.entries())},
            "/__admin/stats": {"GET": lambda: json_reply(200, server.stats.snapshot())},
            "/__admin/reset": {"POST": lambda: json_reply(200, {"cleared": _reset(server)})},
            "/__admin/advance": {"POST": lambda: self._admin_advance(raw_body)},
            "/__admin/faults": {
                "GET": lambda: json_reply(200, server.faults.to_json()),
                "POST": lambda: self._admin_faults(raw_body),
            },
        }
        methods = routes.get(path)
        if methods is None:
            return json_reply(404, error_body(404, "Not Found"))
        handler = methods.get(self.command)
        if handler is None:
            status, response, headers = _method_not_allowed(", ".join(methods))
            return json_reply(status, response, headers)
        return handler()

    def _admin_advance(self, raw_body: bytes | None) -> Reply:
        try:
            body = _json_object(raw_body)
            unknown = set(body) - {"new_messages", "advance_statuses"}
            if unknown:
                raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
            advance_statuses = body.get("advance_statuses", True)
            if not isinstance(advance_statuses, bool):
                raise ValueError(f"advance_statuses must be true or false, got {advance_statuses!r}")
            result = self.server.log.advance(body.get("new_messages", DEFAULT_NEW_MESSAGES), advance_statuses)
        except ValueError as exc:
            return json_reply(400, error_body(400, str(exc)))
        return json_reply(200, result)

    def _admin_faults(self, raw_body: bytes | None) -> Reply:
        try:
            plan = FaultPlan.from_json(_json_object(raw_body))
        except ValueError as exc:
            return json_reply(400, error_body(400, str(exc)))
        self.server.faults = plan
        return json_reply(200, plan.to_json())

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


def _method_not_allowed(allowed: str) -> tuple[int, Any, dict[str, str]]:
    return 405, error_body(405, "Method Not Allowed"), {"Allow": allowed}


def _json_object(raw_body: bytes | None) -> dict[str, Any]:
    if raw_body is None:
        raise ValueError("the body must be JSON sent with a Content-Length of at most 1 MiB")
    if not raw_body.strip():
        return {}
    try:
        body = json.loads(raw_body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def _reset(server: CourierEmulatorServer) -> int:
    server.stats.clear()
    return server.recorder.clear()


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


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

    def requests(self) -> list[dict[str, Any]]:
        """Same list as ``GET /__admin/requests``."""
        return self._server.recorder.entries()

    def reset_requests(self) -> None:
        """Clears the request list only (``reset()`` also clears the stats)."""
        self._server.recorder.clear()

    def reset(self) -> int:
        """Same as ``POST /__admin/reset``: clears the request list and the stats; returns the requests cleared."""
        return _reset(self._server)

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
) -> CourierEmulatorServer:
    """A bound (not yet serving) emulator; ``ValueError`` for a non-loopback host or bad log parameters.

    ``workspace``: an object with ``handle(path, query)``, or a size name for ``load_workspace``
    (``"none"``, ``"small"``, ``"demo"``)."""
    if isinstance(workspace, str):
        workspace = load_workspace(workspace)
    return CourierEmulatorServer(
        host,
        port,
        api_key=api_key,
        log=MessageLog(messages, anchor_ms, spacing_ms, status_window_ms),
        workspace=workspace,
        faults=faults,
    )


def run_in_thread(**options: Any) -> RunningEmulator:
    """Start serving now, with ``make_server``'s options; use as ``with run_in_thread(...) as emulator:``
    or call ``.stop()`` yourself."""
    return RunningEmulator(make_server(**options))
