"""Courier's four paging envelopes (reference section A legend) and the cursor every workspace route uses.

* A, ``{"paging": {"cursor", "more"}, <records key>: [...]}`` with ``?cursor=`` (``paging_a``; ``envelope_a`` for
  ``/messages``, whose cursor is the log's own, see ``courier_emulator.data``).
* B, ``{"items", "has_more", "cursor", "next_url", "url", "type": "list"}`` with ``?cursor=&limit=`` (default
  20; a limit over the documented maximum of 100 is **400**, not clamped) (``paging_b``).
* C, ``{"templates": [...], "cursor": <only while more>}`` (``paging_c``).
* D, ``{"runs": [...], "next_cursor": <only while more>}``, and ``prev_cursor`` after the first page where the
  route pages backward too; ``limit`` 1-50, clamped, non-numeric -> 20 (``paging_d``).

Cursors are opaque standard base64 of ``"<route>\\n<direction>\\n<key of the last record shown>"``, the route being
the request's path (plus what else must not change between pages, e.g. ``?version=``). A cursor from another
route, or naming a record the (filtered) listing does not hold, is 400 ``Invalid cursor``, so paging stays exact
when the filters are repeated with the cursor, as the SDK does. ``limit`` must be a positive integer (else 400),
except on runs.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any
from urllib.parse import urlencode

from courier_emulator.registry import InvalidRequest, Request

Json = dict[str, Any]


def encode_cursor(route: str, key: str, direction: str = ">") -> str:
    return base64.b64encode(f"{route}\n{direction}\n{key}".encode()).decode("ascii")


def _decode_cursor(cursor: str, route: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise InvalidRequest("Invalid cursor") from None
    parts = raw.split("\n")
    if len(parts) != 3 or parts[0] != route or parts[1] not in ("<", ">"):
        raise InvalidRequest("Invalid cursor")
    return parts[1], parts[2]


@dataclass(frozen=True)
class Page:
    records: list[Json]
    next_cursor: str | None
    prev_cursor: str | None


def page(
    records: Sequence[Json],
    key: Callable[[Json], str],
    route: str,
    cursor: str | None,
    size: int,
    *,
    backward: bool = False,
    positions: Mapping[str, int] | None = None,
) -> Page:
    """The page after (or, for a ``<`` cursor where ``backward`` is allowed, before) the record a cursor names.

    ``positions`` (key -> index in ``records``) spares a scan of every record per page on large lists."""
    start = 0
    stop: int | None = None
    if cursor is not None:
        direction, named = _decode_cursor(cursor, route)
        if positions is not None:
            position = positions.get(named)
        else:
            position = next((i for i, record in enumerate(records) if key(record) == named), None)
        if position is None or (direction == "<" and not backward):
            raise InvalidRequest("Invalid cursor")
        if direction == ">":
            start = position + 1
        else:
            start, stop = max(0, position - size), position
    stop = min(len(records), start + size) if stop is None else stop
    shown = list(records[start:stop])
    more = stop < len(records) and bool(shown)
    return Page(
        records=shown,
        next_cursor=encode_cursor(route, key(records[stop - 1])) if more else None,
        prev_cursor=encode_cursor(route, key(records[start]), "<") if start > 0 and shown else None,
    )


def limit(request: Request, *, default: int, maximum: int, clamp: bool) -> int:
    raw = request.param("limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise InvalidRequest(f"Invalid limit: expected a positive integer, got {raw!r}")
    if int(raw) > maximum and not clamp:
        raise InvalidRequest(f"Invalid limit: the maximum is {maximum}, got {raw}")
    return min(int(raw), maximum)


def run_limit(request: Request) -> int:
    """Runs: 1-50, clamped; a non-numeric value falls back to 20 (SDK docstring)."""
    raw = request.param("limit")
    if raw is None or not re.fullmatch(r"[+-]?\d+", raw):
        return 20
    return max(1, min(50, int(raw)))


def envelope_a(records: list[Json], cursor: str | None, more: bool, records_key: str = "results") -> Json:
    return {"paging": {"cursor": cursor, "more": more}, records_key: records}


def paging_a(request: Request, records: Sequence[Json], key: str, records_key: str, size: int) -> Json:
    """Paging A over ``records`` (each identified by its field ``key``), ``size`` a page."""
    shown = page(records, itemgetter(key), request.path, request.param("cursor"), size)
    return envelope_a(shown.records, shown.next_cursor, shown.next_cursor is not None, records_key)


def paging_b(request: Request, records: Sequence[Json], key: str, positions: Mapping[str, int] | None = None) -> Json:
    """Paging B over ``records`` (each identified by its field ``key``); ``positions`` as for ``page``."""
    path, query = request.url_path, request.query  # the URLs keep an id with a "/" one segment (sch%2F...)
    size = limit(request, default=20, maximum=100, clamp=False)
    shown = page(records, itemgetter(key), request.path, request.param("cursor"), size, positions=positions)
    filters = {name: values[-1] for name, values in query.items() if values and name not in ("cursor", "limit")}
    url = path + ("?" + urlencode({name: values[-1] for name, values in query.items() if values}) if query else "")
    next_url = None
    if shown.next_cursor is not None:
        next_url = f"{path}?{urlencode({**filters, 'cursor': shown.next_cursor, 'limit': size})}"
    return {
        "items": shown.records,
        "has_more": shown.next_cursor is not None,
        "cursor": shown.next_cursor,
        "next_url": next_url,
        "url": url,
        "type": "list",
    }


def paging_c(request: Request, records: Sequence[Json], key: str, route: str, size: int) -> Json:
    """Paging C over ``records``; ``route`` is what the cursor names (the path and the version)."""
    shown = page(records, itemgetter(key), route, request.param("cursor"), size)
    body: Json = {"templates": shown.records}
    if shown.next_cursor is not None:
        body["cursor"] = shown.next_cursor
    return body


def paging_d(request: Request, records: Sequence[Json], key: str, *, backward: bool = False) -> Json:
    """Paging D over ``records``; ``backward``: ``prev_cursor`` cursors page back (journey runs)."""
    size = run_limit(request)
    shown = page(records, itemgetter(key), request.path, request.param("cursor"), size, backward=backward)
    body: Json = {"runs": shown.records}
    if shown.next_cursor is not None:
        body["next_cursor"] = shown.next_cursor
    if backward and shown.prev_cursor is not None:
        body["prev_cursor"] = shown.prev_cursor
    return body
