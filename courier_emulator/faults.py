"""Fault injection for the Courier emulator: a ``FaultPlan`` the server applies to every non-admin request.

A plan is a list of ``Fault(kind, rate, path_prefix)`` plus settings (``max_in_a_row``, ``seed``,
``latency_ms``, ``retry_after``, ``slow_seconds``). Per request:

1. ``latency_ms`` is slept first (every non-admin request, faulted or not).
2. The faults whose ``path_prefix`` starts the request path are candidates; their rates partition [0, 1)
   in plan order (``[{"kind": "429-seconds", "rate": 0.3}, {"kind": "503", "rate": 0.2}]``: 30 % 429,
   20 % 503, 50 % normal), so the rates matching one path must sum to at most 1.
3. The draw is deterministic: a hash of ``(seed, URL, how many times this URL was requested before)``,
   where the URL is the path plus the raw query string. The same run of requests gives the same faults,
   even when unrelated URLs are requested concurrently.
4. HARD RULE: after ``max_in_a_row`` consecutive faults on one URL, the next request to that URL is served
   normally and its count starts again, so a client's retries can be tested deterministically (rate 1.0
   with ``max_in_a_row=2``: fault, fault, normal, fault, fault, normal, ...). A huge ``max_in_a_row``
   (e.g. 10**9) with rate 1.0 means a fault without end.
5. A drawn fault that does not apply to the response (``null-cursor`` on a page that is not the last one,
   ``no-envelope`` on a body without a record list, ``repeat-cursor`` on a page-1 request to a
   non-message endpoint) is not a fault: the request is served normally and is not counted as one.

Kinds (``FAULT_KINDS``):

* ``429-seconds``: 429 ``rate_limit_error`` body with ``Retry-After: <retry_after>`` (seconds);
  ``429-http-date``: ``Retry-After`` as an RFC 9110 HTTP-date at least ``retry_after`` seconds from now
  (the next whole second plus ``retry_after``, since the format has whole seconds); ``429-none``: no header.
* ``500``, ``502``, ``503``: Courier's ``api_error`` body.
* ``drop``: the connection is closed without any response.
* ``slow``: ``slow_seconds`` of sleep (65 by default, beyond the connector's 60 s read timeout), then the
  normal response.
* ``malformed-json``: 200, ``Content-Type: application/json``, the normal body cut in half (never valid JSON).
* ``html-200``: 200 with an HTML maintenance page; ``html-502``: 502 with a proxy's HTML error page.
* ``no-envelope``: 200 JSON without its records key (``RECORD_KEYS`` removed: ``{"paging": {...}}``); only
  for list envelopes, not for single objects.
* ``repeat-cursor``: the normal page, but its next cursor is the request's own cursor (``more``/``has_more``
  forced true); on page 1 of ``/messages``, a cursor that names page 1 again (``MessageLog.head_cursor``).
  A client without a guard loops.
* ``null-cursor``: only on the last page of a paging-A list (``paging.more`` false): ``more: true`` with
  ``cursor: null``, Courier's documented quirk (section D.2); harmless to a correct client.

Per-URL counters are kept for the ``URL_MEMORY`` most recently requested URLs (least recently used forgotten),
so a plan costs bounded memory however many distinct URLs a client reads.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from courier_emulator.replies import Reply, json_reply

FAULT_KINDS: tuple[str, ...] = (
    "429-seconds",
    "429-http-date",
    "429-none",
    "401",
    "403",
    "500",
    "502",
    "503",
    "drop",
    "slow",
    "malformed-json",
    "html-200",
    "html-502",
    "no-envelope",
    "repeat-cursor",
    "null-cursor",
)
DEFAULT_MAX_IN_A_ROW = 2
DEFAULT_RETRY_AFTER = 1
DEFAULT_SLOW_SECONDS = 65.0
URL_MEMORY = 100_000

__all__ = [  # plus the reply helpers, re-exported from courier_emulator.replies
    "DEFAULT_MAX_IN_A_ROW",
    "DEFAULT_RETRY_AFTER",
    "DEFAULT_SLOW_SECONDS",
    "FAULT_KINDS",
    "RECORD_KEYS",
    "RETRIED_KINDS",
    "URL_MEMORY",
    "Fault",
    "FaultPlan",
    "Reply",
    "applies",
    "error_reply",
    "faulted_reply",
    "has_next_cursor",
    "has_records",
    "html_reply",
    "is_last_paging_a_page",
    "json_reply",
    "malformed_json_reply",
    "with_null_cursor",
    "with_repeated_cursor",
    "with_retry_after",
    "without_records",
]

_ERROR_MESSAGES = {
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
HTML_200_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Courier | Scheduled maintenance</title></head>"
    "<body><h1>We'll be right back</h1><p>Courier is undergoing scheduled maintenance.</p></body></html>\n"
)
HTML_502_PAGE = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
# The keys Courier's list envelopes keep their records under (reference section D.3).
RECORD_KEYS = ("results", "items", "templates", "runs", "versions", "tokens", "steps")
_SETTINGS = ("max_in_a_row", "seed", "latency_ms", "retry_after", "slow_seconds", "retry_after_on_errors")
_ERROR_TYPES = {401: "authentication_error", 403: "authorization_error", 429: "rate_limit_error"}
# Faults a client retries; with ``retry_after_on_errors`` they carry ``Retry-After`` too, so a test of a fault
# without end takes max_retries short waits instead of minutes of exponential backoff.
RETRIED_KINDS = frozenset({"500", "502", "503", "malformed-json", "html-200", "html-502", "no-envelope"})


@dataclass(frozen=True)
class Fault:
    kind: str
    rate: float = 1.0
    path_prefix: str = ""  # "" (or "/") matches every path

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of: {', '.join(FAULT_KINDS)}")
        if isinstance(self.rate, bool) or not isinstance(self.rate, (int, float)) or not 0 <= self.rate <= 1:
            raise ValueError(f"fault rate must be a number between 0 and 1, got {self.rate!r}")
        if not isinstance(self.path_prefix, str):
            raise ValueError(f"path_prefix must be a string, got {self.path_prefix!r}")

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """``KIND[:RATE[:PATH_PREFIX]]``, e.g. ``503``, ``429-seconds:0.3``, ``drop:0.1:/messages``."""
        kind, _, rest = spec.partition(":")
        rate_text, _, path_prefix = rest.partition(":")
        try:
            rate = float(rate_text) if rate_text else 1.0
        except ValueError:
            raise ValueError(f"fault rate must be a number between 0 and 1, got {rate_text!r}") from None
        return cls(kind, rate, path_prefix)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "rate": self.rate, "path_prefix": self.path_prefix}


def _int_setting(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class FaultPlan:
    """The faults of a run and the per-URL state that enforces ``max_in_a_row``; thread-safe."""

    def __init__(
        self,
        faults: Iterable[Fault | Mapping[str, Any] | str] = (),
        *,
        max_in_a_row: int = DEFAULT_MAX_IN_A_ROW,
        seed: int = 0,
        latency_ms: int = 0,
        retry_after: int = DEFAULT_RETRY_AFTER,
        slow_seconds: float = DEFAULT_SLOW_SECONDS,
        retry_after_on_errors: bool = False,
    ) -> None:
        self.faults = tuple(_to_fault(fault) for fault in faults)
        self.max_in_a_row = _int_setting("max_in_a_row", max_in_a_row, 1)
        self.seed = _int_setting("seed", seed, -(2**63))
        self.latency_ms = _int_setting("latency_ms", latency_ms, 0)
        self.retry_after = _int_setting("retry_after", retry_after, 0)
        if isinstance(slow_seconds, bool) or not isinstance(slow_seconds, (int, float)) or slow_seconds < 0:
            raise ValueError(f"slow_seconds must be a number >= 0, got {slow_seconds!r}")
        self.slow_seconds = float(slow_seconds)
        if not isinstance(retry_after_on_errors, bool):
            raise ValueError(f"retry_after_on_errors must be true or false, got {retry_after_on_errors!r}")
        self.retry_after_on_errors = retry_after_on_errors
        for fault in self.faults:
            chain = [other.rate for other in self.faults if fault.path_prefix.startswith(other.path_prefix)]
            if math.fsum(chain) > 1 + 1e-9:
                raise ValueError(f"the rates of the faults matching {fault.path_prefix or '/'!r} add up to more than 1")
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, list[int]] = OrderedDict()  # url -> [requests so far, faults in a row]

    @classmethod
    def from_json(cls, body: Any) -> FaultPlan:
        """The plan ``POST /__admin/faults`` describes; ``ValueError`` with a readable message if invalid."""
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object")
        unknown = set(body) - {"faults", *_SETTINGS}
        if unknown:
            raise ValueError(f"unknown keys: {', '.join(sorted(unknown))}")
        faults = body.get("faults", [])
        if not isinstance(faults, list):
            raise ValueError("faults must be a list")
        settings = {name: body[name] for name in _SETTINGS if name in body}
        return cls(faults, **settings)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": [fault.to_json() for fault in self.faults],
            "max_in_a_row": self.max_in_a_row,
            "seed": self.seed,
            "latency_ms": self.latency_ms,
            "retry_after": self.retry_after,
            "slow_seconds": self.slow_seconds,
            "retry_after_on_errors": self.retry_after_on_errors,
        }

    def decide(self, url: str, path: str, applies: Callable[[str], bool]) -> str | None:
        """The fault kind to inject for this request to ``url`` (path + raw query), or None to serve normally.

        ``applies(kind)`` says whether that kind can alter this particular response."""
        candidates = [fault for fault in self.faults if path.startswith(fault.path_prefix) and fault.rate > 0]
        if not candidates:
            return None
        with self._lock:
            state = self._seen.pop(url, None) or [0, 0]
            self._seen[url] = state  # most recently used last
            if len(self._seen) > URL_MEMORY:
                self._seen.popitem(last=False)
            draw = self._draw(url, state[0])
            state[0] += 1
            kind = None
            threshold = 0.0
            for fault in candidates:
                threshold += fault.rate
                if draw < threshold:
                    kind = fault.kind
                    break
            if kind is None or state[1] >= self.max_in_a_row or not applies(kind):
                state[1] = 0
                return None
            state[1] += 1
            return kind

    def _draw(self, url: str, n: int) -> float:
        digest = hashlib.blake2b(f"{self.seed}\n{url}\n{n}".encode("utf-8", "surrogateescape"), digest_size=8)
        return int.from_bytes(digest.digest(), "big") / 2**64


def _to_fault(fault: Fault | Mapping[str, Any] | str) -> Fault:
    if isinstance(fault, Fault):
        return fault
    if isinstance(fault, str):
        return Fault.parse(fault)
    if isinstance(fault, Mapping):
        unknown = set(fault) - {"kind", "rate", "path_prefix"}
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        if "kind" not in fault:
            raise ValueError("every fault needs a kind")
        return Fault(fault["kind"], fault.get("rate", 1.0), fault.get("path_prefix", ""))
    raise ValueError(f"a fault is an object with kind, rate and path_prefix, got {fault!r}")


# --- what each kind sends ------------------------------------------------------------------------------


def applies(kind: str, path: str, query: dict[str, list[str]], status: int, response: Any) -> bool:
    """Whether a drawn fault can alter this response (rule 5 of the module docstring)."""
    if kind == "no-envelope":
        return status == 200 and has_records(response)
    if kind == "null-cursor":
        return status == 200 and is_last_paging_a_page(response)
    if kind == "repeat-cursor":
        return (
            status == 200 and has_next_cursor(response) and (_last(query, "cursor") is not None or path == "/messages")
        )
    return True


def faulted_reply(
    kind: str,
    plan: FaultPlan,
    query: dict[str, list[str]],
    normal: tuple[int, Any, dict[str, str]],
    *,
    wait: Callable[[float], object],
    head_cursor: Callable[[], str],
) -> Reply:
    """What a request gets instead of its ``normal`` ``(status, body, headers)`` when fault ``kind`` was drawn.

    ``wait(seconds)`` sleeps (the ``slow`` kind); ``head_cursor()`` names page 1 of ``/messages`` again."""
    status, response, headers = normal
    if kind.startswith("429-"):
        return error_reply(429, plan, kind)
    if kind in {"401", "403", "500", "502", "503"}:
        return error_reply(int(kind), plan, kind)
    if kind == "drop":
        return Reply(0, {}, None)
    if kind == "slow":
        wait(plan.slow_seconds)
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
    return json_reply(200, with_repeated_cursor(response, _last(query, "cursor") or head_cursor()), headers)


def _last(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def error_reply(status: int, plan: FaultPlan, kind: str) -> Reply:
    """401, 403, 429 and 5xx faults: Courier's error envelope, with ``Retry-After`` as the kind says."""
    body = {"message": _ERROR_MESSAGES[status], "type": _ERROR_TYPES.get(status, "api_error")}
    headers: dict[str, str] = {}
    if kind == "429-seconds":
        headers["Retry-After"] = str(plan.retry_after)
    elif kind == "429-http-date":
        headers["Retry-After"] = email.utils.formatdate(math.ceil(time.time()) + plan.retry_after, usegmt=True)
    return json_reply(status, body, headers)


def with_retry_after(reply: Reply, plan: FaultPlan, kind: str) -> Reply:
    """The reply of a retried fault kind with ``Retry-After: <retry_after>``, when the plan asks for it."""
    if not plan.retry_after_on_errors or kind not in RETRIED_KINDS:
        return reply
    return Reply(reply.status, {**reply.headers, "Retry-After": str(plan.retry_after)}, reply.payload)


def html_reply(status: int) -> Reply:
    page = HTML_200_PAGE if status == 200 else HTML_502_PAGE
    return Reply(status, {"Content-Type": "text/html; charset=utf-8"}, page.encode("utf-8"))


def malformed_json_reply(body: Any) -> Reply:
    text = json.dumps(body)
    return Reply(200, {"Content-Type": "application/json"}, text[: max(1, len(text) // 2)].encode("utf-8"))


def has_records(body: Any) -> bool:
    """Whether a body is a list envelope: it has a ``RECORD_KEYS`` key holding a list."""
    return isinstance(body, dict) and any(isinstance(body.get(key), list) for key in RECORD_KEYS)


def without_records(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key not in RECORD_KEYS}


def is_last_paging_a_page(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("paging"), dict) and body["paging"].get("more") is False


def with_null_cursor(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "paging": {**body["paging"], "cursor": None, "more": True}}


def has_next_cursor(body: Any) -> bool:
    """Whether a body carries a next-page cursor field (paging A ``paging.cursor``, B/C ``cursor``, D ``next_cursor``)."""
    return isinstance(body, dict) and (
        isinstance(body.get("paging"), dict) or "next_cursor" in body or "cursor" in body
    )


def with_repeated_cursor(body: dict[str, Any], cursor: str) -> dict[str, Any]:
    """The page with ``cursor`` as its next cursor, and ``more``/``has_more`` forced true."""
    if isinstance(body.get("paging"), dict):
        return {**body, "paging": {**body["paging"], "cursor": cursor, "more": True}}
    if "next_cursor" in body:
        return {**body, "next_cursor": cursor}
    changed = {**body, "cursor": cursor}
    if "has_more" in body:
        changed["has_more"] = True
    if "next_url" in body:  # the next page's URL, built from this page's own when it has none (a last page)
        base = body["next_url"] if isinstance(body["next_url"], str) else body.get("url")
        if isinstance(base, str):
            changed["next_url"] = _with_query_value(base, "cursor", cursor)
    return changed


def _with_query_value(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(key, item) for key, item in parse_qsl(parts.query, keep_blank_values=True) if key != name]
    return urlunsplit(parts._replace(query=urlencode([*query, (name, value)])))
