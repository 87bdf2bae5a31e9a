"""Deterministic Courier message log, generated from the index on demand.

Emulates the records of Courier's ``GET /messages`` (reference ``courier-api.md`` sections A.1, C, D.2, D.14):

* Message ``i`` (0 = newest) has ``enqueued = anchor_ms - i * spacing_ms``; the log is ordered newest
  first (descending ``enqueued``), like Courier's. Nothing is stored: every record is computed from ``i``,
  so a log of 1,000,000 messages costs no memory and any page is O(page size).
* Fields are the ``MessageDetails`` ones (section C). Timestamps are epoch-ms ints or null, consistent
  with ``status``. ``status`` cycles through ``STATUS_CYCLE``, which includes ``DIGESTED`` so clients
  prove they keep the enum open. Some messages carry ``tags``, a field the SDK does not document
  (section C: "expect undocumented fields").
* ``id`` looks like Courier's ``1-5e2b2615-05efbb3acab9172f88dd3f6f``:
  ``1-<enqueued seconds, 8 hex>-<24 hex>``, where the 24 hex digits are a bijective scramble of ``i``
  (so ids are unique, not just probably unique).

Paging (section D.2): the cursor is opaque, standard base64 (with padding) of ``"<enqueued>,<id>"`` of
the last message on a page, like Courier's sample ``MTU4OTQ5...`` (``1589495258687,1-5ebdc5da-...``).
Pages hold ``PAGE_SIZE`` = 10 messages (section F: "Only 10 can be fetched at a time").

``enqueued_after`` (section D.14 says its format is not verified against the live API) accepts both the
documented epoch-ms digits (``1686752793725``) and an ISO-8601 timestamp with ``Z`` or a ``+HH:MM``
offset (``2026-01-01T00:00:00Z``, ``2026-01-01T00:00:00.000Z``, ``2026-01-01T00:00:00+00:00``); a
timestamp without a zone, or a bare date, is rejected. It is inclusive: messages with
``enqueued >= value`` are returned (a sub-millisecond ISO value is rounded up, which keeps that exact).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

DEFAULT_MESSAGES = 25
DEFAULT_ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEFAULT_SPACING_MS = 60_000
PAGE_SIZE = 10

# Status -> which delivery timestamps are set (and their offset in ms after ``enqueued``).
# The offsets follow the docs sample (sent +0.7 s, delivered +3.7 s, opened +10 s, clicked +10.7 s).
_DELIVERY_OFFSETS_MS = {"sent": 712, "delivered": 3_713, "opened": 9_985, "clicked": 10_697}
_STAGES_BY_STATUS: dict[str, tuple[str, ...]] = {
    "CLICKED": ("sent", "delivered", "opened", "clicked"),
    "OPENED": ("sent", "delivered", "opened"),
    "DELIVERED": ("sent", "delivered"),
    "SENT": ("sent",),
    "ENQUEUED": (),
    "UNDELIVERABLE": (),
    "DIGESTED": (),  # a newer enum value: clients must keep `status` an open string
}
STATUS_CYCLE: tuple[str, ...] = tuple(_STAGES_BY_STATUS)
UNDELIVERABLE_REASONS: tuple[str, ...] = ("BOUNCED", "PROVIDER_ERROR")
UNDELIVERABLE_ERROR = "400 Bad Request"

RECIPIENTS: tuple[str, ...] = ("user-ada", "user-grace", "user-alan", "user-katherine")
# event id -> notification template id
EVENTS: tuple[tuple[str, str], ...] = (
    ("welcome", "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4"),
    ("password-reset", "K2Q7HZ1M3VXN0B8C5D4F6G9J2LPR"),
    ("weekly-digest", "W9E3RT6YU1IO4PA7SD2FG5HJ8KLZ"),
)
# Undocumented extra field, present on some messages only (index % len == position of a non-None entry).
TAG_SETS: tuple[list[str] | None, ...] = (["onboarding"], None, ["billing", "priority"], None, None)

# Status and recipient are both periodic in ``i``; server-side filters only need one period to find matches.
FILTER_PERIOD = math.lcm(len(STATUS_CYCLE), len(RECIPIENTS))

_ID_BITS = 96
_ID_MASK = (1 << _ID_BITS) - 1
# Odd multipliers, so each multiplication mod 2**96 is a bijection (as is each xorshift below).
_ID_MULTIPLIERS = (0x9E3779B97F4A7C15F39CC061, 0xBF58476D1CE4E5B94D049BB1)


class InvalidRequest(ValueError):
    """A client error, reported as 400 ``invalid_request_error`` with ``str(exc)`` as its message."""


def status_of(i: int) -> str:
    return STATUS_CYCLE[i % len(STATUS_CYCLE)]


def recipient_of(i: int) -> str:
    return RECIPIENTS[i % len(RECIPIENTS)]


def enqueued_of(i: int, anchor_ms: int = DEFAULT_ANCHOR_MS, spacing_ms: int = DEFAULT_SPACING_MS) -> int:
    return anchor_ms - i * spacing_ms


def message_id(i: int, anchor_ms: int = DEFAULT_ANCHOR_MS, spacing_ms: int = DEFAULT_SPACING_MS) -> str:
    """``1-<enqueued seconds as 8 hex>-<24 hex unique to i>``, shaped like Courier's message ids."""
    seconds = (enqueued_of(i, anchor_ms, spacing_ms) // 1000) & 0xFFFFFFFF
    scrambled = i
    for multiplier in _ID_MULTIPLIERS:
        scrambled = ((scrambled + 1) * multiplier) & _ID_MASK
        scrambled ^= scrambled >> (_ID_BITS // 2)
    return f"1-{seconds:08x}-{scrambled:024x}"


def message(i: int, anchor_ms: int = DEFAULT_ANCHOR_MS, spacing_ms: int = DEFAULT_SPACING_MS) -> dict[str, Any]:
    """The ``MessageDetails`` record (reference section C) of message ``i``; 0 is the newest."""
    if i < 0:
        raise IndexError(f"message index must be >= 0, got {i}")
    status = status_of(i)
    enqueued = enqueued_of(i, anchor_ms, spacing_ms)
    event, notification = EVENTS[i % len(EVENTS)]
    undeliverable = status == "UNDELIVERABLE"
    record: dict[str, Any] = {
        "id": message_id(i, anchor_ms, spacing_ms),
        "status": status,
        "enqueued": enqueued,
    }
    stages = _STAGES_BY_STATUS[status]
    for stage, offset in _DELIVERY_OFFSETS_MS.items():
        record[stage] = enqueued + offset if stage in stages else None
    record.update(
        recipient=recipient_of(i),
        event=event,
        notification=notification,
        error=UNDELIVERABLE_ERROR if undeliverable else None,
        reason=UNDELIVERABLE_REASONS[(i // len(STATUS_CYCLE)) % 2] if undeliverable else None,
    )
    tags = TAG_SETS[i % len(TAG_SETS)]
    if tags is not None:
        record["tags"] = list(tags)
    return record


def encode_cursor(enqueued: int, msg_id: str) -> str:
    return base64.b64encode(f"{enqueued},{msg_id}".encode("ascii")).decode("ascii")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """``(enqueued, id)`` from a cursor; raises ``InvalidRequest`` if it is not one this emulator issued."""
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, binascii.Error):
        raise InvalidRequest("Invalid cursor") from None
    enqueued, sep, msg_id = raw.partition(",")
    if not sep or not enqueued.isdigit() or not msg_id:
        raise InvalidRequest("Invalid cursor")
    return int(enqueued), msg_id


_ISO_8601 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))")


def parse_enqueued_after(value: str) -> int:
    """Epoch ms from epoch-ms digits or a zoned ISO-8601 timestamp (rounded up, so the filter stays exact)."""
    if value.isascii() and value.isdigit():
        return int(value)
    match = _ISO_8601.fullmatch(value)
    if match is None:
        raise InvalidRequest(
            "Invalid value for enqueued_after: expected epoch milliseconds (e.g. 1686752793725) "
            "or an ISO-8601 timestamp with a time zone (e.g. 2026-01-01T00:00:00Z)"
        )
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction, zulu, sign, offset_h, offset_m = match.group(7, 8, 9, 10, 11)
    try:
        datetime(year, month, day, hour, minute, second)  # range check only (month 13, Feb 30, ...)
    except ValueError:
        raise InvalidRequest(f"Invalid value for enqueued_after: {value!r} is not a date-time") from None
    offset_s = 0 if zulu else (1 if sign == "+" else -1) * (int(offset_h) * 3600 + int(offset_m) * 60)
    epoch_s = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset_s
    total_ns = epoch_s * 1_000_000_000 + int((fraction or "").ljust(9, "0"))
    return -(-total_ns // 1_000_000)  # ceil: enqueued (whole ms) >= instant  <=>  enqueued >= ceil(instant)


@dataclass(frozen=True)
class MessageFilter:
    """Courier's server-side equality filters on ``/messages`` that the emulator honours."""

    statuses: frozenset[str] | None = None
    recipient: str | None = None

    @property
    def is_empty(self) -> bool:
        return self.statuses is None and self.recipient is None

    def matches_index(self, i: int) -> bool:
        return (self.statuses is None or status_of(i) in self.statuses) and (
            self.recipient is None or recipient_of(i) == self.recipient
        )


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Any]]
    more: bool
    cursor: str | None

    def body(self) -> dict[str, Any]:
        return {"paging": {"cursor": self.cursor, "more": self.more}, "results": self.results}


class MessageLog:
    """``count`` messages, newest first, each computed on demand by ``message(i, anchor_ms, spacing_ms)``."""

    def __init__(
        self,
        count: int = DEFAULT_MESSAGES,
        anchor_ms: int = DEFAULT_ANCHOR_MS,
        spacing_ms: int = DEFAULT_SPACING_MS,
    ) -> None:
        if count < 0:
            raise ValueError(f"message count must be >= 0, got {count}")
        if spacing_ms < 1:
            raise ValueError(f"spacing must be >= 1 ms (enqueued must strictly decrease), got {spacing_ms}")
        if count and enqueued_of(count - 1, anchor_ms, spacing_ms) < 0:
            raise ValueError("the oldest message would be enqueued before 1970: raise the anchor or lower the spacing")
        self.count = count
        self.anchor_ms = anchor_ms
        self.spacing_ms = spacing_ms

    def __len__(self) -> int:
        return self.count

    def message(self, i: int) -> dict[str, Any]:
        self._check_index(i)
        return message(i, self.anchor_ms, self.spacing_ms)

    def message_id(self, i: int) -> str:
        self._check_index(i)
        return message_id(i, self.anchor_ms, self.spacing_ms)

    def enqueued(self, i: int) -> int:
        self._check_index(i)
        return enqueued_of(i, self.anchor_ms, self.spacing_ms)

    def ids(self) -> Iterator[str]:
        """Every id, newest first, lazily."""
        return (message_id(i, self.anchor_ms, self.spacing_ms) for i in range(self.count))

    def indices_enqueued_since(self, enqueued_after: int | None) -> range:
        """Indices of the messages with ``enqueued >= enqueued_after`` (all for ``None``), by arithmetic."""
        if enqueued_after is None:
            return range(self.count)
        if enqueued_after > self.anchor_ms:
            return range(0)
        return range(min(self.count, (self.anchor_ms - enqueued_after) // self.spacing_ms + 1))

    def cursor_for(self, i: int) -> str:
        return encode_cursor(self.enqueued(i), self.message_id(i))

    def index_of_cursor(self, cursor: str) -> int:
        """Index of the message a cursor names; ``InvalidRequest`` unless it is a message of this log."""
        enqueued, msg_id = decode_cursor(cursor)
        steps, remainder = divmod(self.anchor_ms - enqueued, self.spacing_ms)
        if remainder or not 0 <= steps < self.count or self.message_id(steps) != msg_id:
            raise InvalidRequest("Invalid cursor")
        return steps

    def page(
        self,
        *,
        cursor: str | None = None,
        enqueued_after: int | None = None,
        message_filter: MessageFilter | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Page:
        """The page after ``cursor`` (or the first page) of the messages selected by the filters."""
        start = 0 if cursor is None else self.index_of_cursor(cursor) + 1
        window = self.indices_enqueued_since(enqueued_after)
        candidates = _matching(range(start, window.stop), message_filter or MessageFilter())
        indices = list(islice(candidates, page_size + 1))  # one extra tells whether there is more
        more = len(indices) > page_size
        shown = indices[:page_size]
        return Page(
            results=[self.message(i) for i in shown],
            more=more,
            cursor=self.cursor_for(shown[-1]) if more else None,
        )

    def _check_index(self, i: int) -> None:
        if not 0 <= i < self.count:
            raise IndexError(f"message index {i} out of range for a log of {self.count}")


def _matching(indices: range, message_filter: MessageFilter) -> Iterator[int]:
    """Matching indices of ``indices`` (step 1), found period by period instead of by a full scan."""
    if message_filter.is_empty:
        yield from indices
        return
    residues = [r for r in range(FILTER_PERIOD) if message_filter.matches_index(r)]
    if not residues:
        return
    base = indices.start - indices.start % FILTER_PERIOD
    while base < indices.stop:
        for i in (base + r for r in residues):
            if i >= indices.stop:
                return
            if i >= indices.start:
                yield i
        base += FILTER_PERIOD
