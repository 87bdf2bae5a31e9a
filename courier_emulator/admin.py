"""The emulator's test hooks under ``/__admin/``, and what they report: the request record and the stats.

Without auth and not recorded, counted or faulted themselves:

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
* ``GET /__admin/readings``: which reading of Courier the emulator serves where its docs and the live API
  disagree (``courier_emulator.readings``): ``{"auth_failure_status": 403, "honour_messages_limit": false,
  "apply_enqueued_after": true}``; ``POST /__admin/readings`` with those keys (all optional, a missing one takes
  its default) replaces them and returns them. Neither the fault plan nor a reset changes them.

An invalid admin body is a 400 ``invalid_request_error``; another method than the path's is a 405 with ``Allow``.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from courier_emulator.data import DEFAULT_NEW_MESSAGES
from courier_emulator.faults import FaultPlan
from courier_emulator.readings import Readings
from courier_emulator.registry import MESSAGE_ROUTES, Router
from courier_emulator.replies import Reply, error_body, json_reply, method_not_allowed

if TYPE_CHECKING:
    from courier_emulator.server import CourierEmulatorServer

ADMIN_PREFIX = "/__admin/"
REDACTED = "[REDACTED]"
FILTER_LISTS = ("enqueued_after", "since", "start_date", "status", "recipient")
# Path segments that name a resource (reference section A); any other segment is an id in a route template.
RESOURCE_NAMES = frozenset(
    {
        *("messages", "history", "output", "audiences", "members", "lists", "subscriptions", "profiles", "brands"),
        *("notifications", "versions", "content", "draft", "metrics", "automations", "journeys", "runs", "steps"),
        *("templates", "tenants", "users", "audit-events", "bulk", "preferences", "tokens", "sections", "topics"),
        *("logs", "providers", "catalog", "routing-strategies", "broadcasts", "digests", "schedules", "instances"),
        *("translations", "previews", "device-sets", "devices"),
    }
)


def route_template(path: str, workspace: object | None = None) -> str:
    """``/messages/1-abc/history`` -> ``/messages/{id}/history``: the route a path belongs to, without raw ids.

    A workspace with a ``route_template(path)`` method that returns a string decides for its own paths."""
    custom = getattr(workspace, "route_template", None)
    if callable(custom) and not MESSAGE_ROUTES.owns(path):
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


def reset(server: CourierEmulatorServer) -> int:
    server.stats.clear()
    return server.recorder.clear()


# --- the endpoints: handler(server, raw body) -> Reply --------------------------------------------------------

ADMIN_ROUTES = Router(prefix=ADMIN_PREFIX.rstrip("/"), decode_literals=False)


def dispatch(server: CourierEmulatorServer, method: str, path: str, raw_body: bytes | None) -> Reply:
    match = ADMIN_ROUTES.match(path)
    if match is None:
        return json_reply(404, error_body(404, "Not Found"))
    handler = match.handlers.get(method)
    if handler is None:
        status, response, headers = method_not_allowed(", ".join(match.handlers))
        return json_reply(status, response, headers)
    reply: Reply = handler(server, raw_body)
    return reply


@ADMIN_ROUTES.get("/__admin/requests")
def requests(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    return json_reply(200, server.recorder.entries())


@ADMIN_ROUTES.get("/__admin/stats")
def stats(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    return json_reply(200, server.stats.snapshot())


@ADMIN_ROUTES.post("/__admin/reset")
def reset_endpoint(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    return json_reply(200, {"cleared": reset(server)})


@ADMIN_ROUTES.post("/__admin/advance")
def advance(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    try:
        body = _json_object(raw_body)
        unknown = set(body) - {"new_messages", "advance_statuses"}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        advance_statuses = body.get("advance_statuses", True)
        if not isinstance(advance_statuses, bool):
            raise ValueError(f"advance_statuses must be true or false, got {advance_statuses!r}")
        result = server.log.advance(body.get("new_messages", DEFAULT_NEW_MESSAGES), advance_statuses)
    except ValueError as exc:
        return json_reply(400, error_body(400, str(exc)))
    return json_reply(200, result)


@ADMIN_ROUTES.get("/__admin/faults")
def faults(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    return json_reply(200, server.faults.to_json())


@ADMIN_ROUTES.post("/__admin/faults")
def set_faults(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    try:
        plan = FaultPlan.from_json(_json_object(raw_body))
    except ValueError as exc:
        return json_reply(400, error_body(400, str(exc)))
    server.faults = plan
    return json_reply(200, plan.to_json())


@ADMIN_ROUTES.get("/__admin/readings")
def readings(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    return json_reply(200, server.readings.to_json())


@ADMIN_ROUTES.post("/__admin/readings")
def set_readings(server: CourierEmulatorServer, raw_body: bytes | None) -> Reply:
    try:
        server.readings = Readings.from_json(_json_object(raw_body))
    except ValueError as exc:
        return json_reply(400, error_body(400, str(exc)))
    return json_reply(200, server.readings.to_json())


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
