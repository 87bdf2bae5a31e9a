"""HTTP stand-in for Courier's REST API (``api.courier.com``), loopback only, stdlib only.

Emulates, per ``courier-api.md``:

* ``GET /messages`` (section A.1, record shape section C, quirks D.2/D.4/D.14):
  ``{"paging": {"cursor", "more"}, "results": [...]}``, 10 per page, newest first, no ``limit`` (one sent
  is ignored). Filters honoured on the server: ``enqueued_after`` (inclusive; epoch-ms digits or zoned
  ISO-8601), ``status`` (comma-joined list; repeated parameters are merged) and ``recipient`` (equality).
  An empty ``status=``/``recipient=`` means "no filter". Other documented filters (``event``, ``tag``, ...)
  are accepted and ignored. The cursor is base64 of ``"<enqueued>,<id>"`` (see ``data.py``); a cursor that
  does not name a message of the log gives 400. When several values of a single-valued parameter
  (``cursor``, ``enqueued_after``, ``recipient``) are sent, the last one wins.
* Auth and errors (section B): ``Authorization: Bearer <key>`` (scheme case-insensitive, key exact), else 401
  ``{"message": "Unauthorized", "type": "authentication_error"}``. Auth is checked before routing, so an
  unauthenticated request to an unknown path is also 401. Unknown paths give 404, other methods than GET 405
  (with ``Allow: GET``), both with ``type`` ``invalid_request_error``. Every response body is JSON.

Test hooks, without auth and not recorded themselves:

* ``GET /__admin/requests``: every other request served so far, in order, as ``{"method", "path", "query",
  "authorized"}``. ``query`` maps each name to its decoded value (a list when the name was repeated). The
  Authorization header is never recorded, and the configured key is masked wherever else it appears.
* ``POST /__admin/reset``: clears that list.

``run_in_thread(...)`` runs the emulator inside the current process for tests; ``python -m courier_emulator``
runs it as a process.
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from courier_emulator import DEMO_API_KEY
from courier_emulator.data import (
    DEFAULT_ANCHOR_MS,
    DEFAULT_MESSAGES,
    DEFAULT_SPACING_MS,
    InvalidRequest,
    MessageFilter,
    MessageLog,
    parse_enqueued_after,
)

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
ADMIN_PREFIX = "/__admin/"
REDACTED = "[REDACTED]"
_MAX_DISCARDED_BODY = 1 << 20


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


class RequestRecorder:
    """Thread-safe, in-order record of the requests served, with the API key masked."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def record(self, method: str, path: str, query: dict[str, list[str]], authorized: bool) -> None:
        masked = {self._mask(name): [self._mask(v) for v in values] for name, values in query.items()}
        entry = {
            "method": method,
            "path": self._mask(path),
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

    def _mask(self, text: str) -> str:
        return text.replace(self._api_key, REDACTED)


class CourierEmulatorServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, *, api_key: str, log: MessageLog) -> None:
        if not api_key:
            raise ValueError("the API key must not be empty")
        bind_host = resolve_loopback_host(host)
        self.address_family = socket.AF_INET6 if ":" in bind_host else socket.AF_INET
        self.api_key = api_key
        self.log = log
        self.recorder = RequestRecorder(api_key)
        super().__init__((bind_host, port), CourierRequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"


class CourierRequestHandler(BaseHTTPRequestHandler):
    server: CourierEmulatorServer
    protocol_version = "HTTP/1.1"  # keep-alive: a full read of a big log is many sequential requests
    server_version = "courier-emulator"
    timeout = 30  # close idle keep-alive connections

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class signature
        """Silence the default stderr access log."""

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
        self._send_json(code, error_body(code, message), extra_headers={"Connection": "close"})

    def _dispatch(self) -> None:
        self._discard_request_body()
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query, keep_blank_values=True)
        if path.startswith(ADMIN_PREFIX):
            self._admin(path)
            return
        authorized = self._is_authorized()
        self.server.recorder.record(self.command, path, query, authorized)
        if not authorized:
            self._send_json(401, error_body(401, "Unauthorized"))
        elif path != "/messages":
            self._send_json(404, error_body(404, "Not Found"))
        elif self.command != "GET":
            self._method_not_allowed("GET")
        else:
            self._list_messages(query)

    def _list_messages(self, query: dict[str, list[str]]) -> None:
        try:
            enqueued_after = _last(query, "enqueued_after")
            statuses = {s.strip() for value in query.get("status", []) for s in value.split(",") if s.strip()}
            page = self.server.log.page(
                cursor=_last(query, "cursor"),
                enqueued_after=None if enqueued_after is None else parse_enqueued_after(enqueued_after),
                message_filter=MessageFilter(
                    statuses=frozenset(statuses) or None, recipient=_last(query, "recipient") or None
                ),
            )
        except InvalidRequest as exc:
            self._send_json(400, error_body(400, str(exc)))
            return
        self._send_json(200, page.body())

    def _admin(self, path: str) -> None:
        recorder = self.server.recorder
        if path == "/__admin/requests":
            if self.command == "GET":
                self._send_json(200, recorder.entries())
            else:
                self._method_not_allowed("GET")
        elif path == "/__admin/reset":
            if self.command == "POST":
                self._send_json(200, {"cleared": recorder.clear()})
            else:
                self._method_not_allowed("POST")
        else:
            self._send_json(404, error_body(404, "Not Found"))

    def _is_authorized(self) -> bool:
        scheme, _, key = (self.headers.get("Authorization") or "").partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            key.encode("utf-8", "surrogateescape"), self.server.api_key.encode("utf-8")
        )

    def _method_not_allowed(self, allowed: str) -> None:
        self._send_json(405, error_body(405, "Method Not Allowed"), extra_headers={"Allow": allowed})

    def _send_json(self, status: int, body: Any, extra_headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (extra_headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _discard_request_body(self) -> None:
        """Drop a request body so the keep-alive connection stays in sync (or close it if we cannot)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if 0 <= length <= _MAX_DISCARDED_BODY:
            self.rfile.read(length)
        else:
            self.close_connection = True


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

    def requests(self) -> list[dict[str, Any]]:
        """Same list as ``GET /__admin/requests``."""
        return self._server.recorder.entries()

    def reset_requests(self) -> None:
        self._server.recorder.clear()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
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
    host: str = "127.0.0.1",
    port: int = 0,
) -> CourierEmulatorServer:
    """A bound (not yet serving) emulator; ``ValueError`` for a non-loopback host or bad log parameters."""
    return CourierEmulatorServer(host, port, api_key=api_key, log=MessageLog(messages, anchor_ms, spacing_ms))


def run_in_thread(**options: Any) -> RunningEmulator:
    """Start serving now, with ``make_server``'s options; use as ``with run_in_thread(...) as emulator:``
    or call ``.stop()`` yourself."""
    return RunningEmulator(make_server(**options))
