"""What the server sends: a ``Reply`` (status, headers, payload bytes), JSON bodies and Courier's error envelope.

JSON is encoded compactly with orjson when it is installed (5-10x faster than the stdlib; the emulator's CPU is
measured in ``make bench``), else with the stdlib, to the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reply:
    """An HTTP response to send: ``payload`` None means close the connection without answering."""

    status: int
    headers: dict[str, str]
    payload: bytes | None


def json_reply(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, {"Content-Type": "application/json", **(headers or {})}, _json_bytes(body))


def _stdlib_json_bytes(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode("utf-8")


try:  # orjson (installed with the connector) encodes 5-10x faster; the emulator's CPU is measured in `make bench`
    from orjson import dumps as _json_bytes
except ImportError:  # pragma: no cover - the stdlib is enough
    _json_bytes = _stdlib_json_bytes


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


def method_not_allowed(allowed: str) -> tuple[int, Any, dict[str, str]]:
    """``(status, body, headers)`` of a 405 naming the allowed methods."""
    return 405, error_body(405, "Method Not Allowed"), {"Allow": allowed}
