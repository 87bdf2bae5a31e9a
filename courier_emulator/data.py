"""The deterministic message log behind ``GET /messages``: positions, the cursor, and time moving forward.

The records, their sub-resources, the filters and the routes are ``courier_emulator.resources.messages`` (its
names are re-exported here). Message ``i`` (0 = newest) has ``enqueued = anchor_ms - i * spacing_ms``; the log is
ordered newest first (descending ``enqueued``), like Courier's. Nothing is stored per message: every record is
computed from its index, so a log of 1,000,000 messages costs no memory and any page is O(page size).

Time moving forward (``MessageLog.advance``): each advance adds ``new_messages`` messages newer than the
newest (``spacing_ms`` apart, at the head of the log) and, optionally, moves every message that existed
before it and is enqueued within ``status_window_ms`` of the new newest one (inclusive) one step along
``ENQUEUED -> SENT -> DELIVERED -> OPENED -> CLICKED`` (``CLICKED``, ``UNDELIVERABLE`` and ``DIGESTED``
stay). This is Courier's late status change without an ``updated`` field (section D.9). To stay O(1) in
memory per message, a message is identified by its *serial* (its index in the log as first generated:
0 = the initial newest, -1, -2, ... the messages added later, in order), its status is its base status
plus the number of advances whose window covered it, and only the advances are stored (two ints each).
New messages start with their base status from the cycle (a message can appear in Courier's logs
already delivered). Paging stays valid across an advance: a cursor names ``(enqueued, id)``, not a position.

Paging (section D.2): the cursor is opaque, standard base64 (with padding) of ``"<enqueued>,<id>"`` of
the last message on a page, like Courier's sample ``MTU4OTQ5...`` (``1589495258687,1-5ebdc5da-...``).
Pages hold ``PAGE_SIZE`` = 10 messages (section F: "Only 10 can be fetched at a time"), or ``page_size`` (the
``honour_messages_limit`` reading); a cursor names a message, not a page, so it holds across page sizes. One more cursor
is accepted: ``MessageLog.head_cursor()`` names the slot just newer than the newest message, so reading
after it is page 1 (the ``repeat-cursor`` fault returns it on page 1; once an advance fills that slot it
names a real message and keeps its meaning). ``enqueued_after`` is inclusive: messages with
``enqueued >= value`` are returned.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from courier_emulator.generation import DEFAULT_ANCHOR_MS
from courier_emulator.paging import envelope_a
from courier_emulator.registry import InvalidRequest
from courier_emulator.resources.messages import (
    ADVANCE_CHAIN,
    DEFAULT_SPACING_MS,
    EVENTS,
    HISTORY_TYPES,
    PAGE_SIZE,
    RECIPIENTS,
    ROUTES,
    STATUS_CYCLE,
    TAG_SETS,
    UNDELIVERABLE_ERROR,
    UNDELIVERABLE_REASONS,
    MessageFilter,
    advanced_status,
    enqueued_of,
    message,
    message_details,
    message_history,
    message_id,
    message_output,
    parse_enqueued_after,
    recipient_of,
    serial_of_id,
    status_of,
)

__all__ = [
    "ADVANCE_CHAIN",
    "DEFAULT_ANCHOR_MS",
    "DEFAULT_MESSAGES",
    "DEFAULT_NEW_MESSAGES",
    "DEFAULT_SPACING_MS",
    "DEFAULT_STATUS_WINDOW_MS",
    "EVENTS",
    "FILTER_PERIOD",
    "HISTORY_TYPES",
    "PAGE_SIZE",
    "RECIPIENTS",
    "ROUTES",
    "STATUS_CYCLE",
    "TAG_SETS",
    "UNDELIVERABLE_ERROR",
    "UNDELIVERABLE_REASONS",
    "InvalidRequest",
    "MessageFilter",
    "MessageLog",
    "Page",
    "advanced_status",
    "decode_cursor",
    "encode_cursor",
    "enqueued_of",
    "message",
    "message_details",
    "message_history",
    "message_id",
    "message_output",
    "parse_enqueued_after",
    "recipient_of",
    "serial_of_id",
    "status_of",
]

DEFAULT_MESSAGES = 25
DEFAULT_STATUS_WINDOW_MS = 86_400_000  # one day
DEFAULT_NEW_MESSAGES = 10
# Status and recipient are both periodic in the serial; server-side filters only need one period to find matches.
FILTER_PERIOD = math.lcm(len(STATUS_CYCLE), len(RECIPIENTS))


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


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Any]]
    more: bool
    cursor: str | None

    def body(self) -> dict[str, Any]:
        return envelope_a(self.results, self.cursor, self.more)


@dataclass(frozen=True)
class _Timeline:
    """What the advances changed, as serial ranges; replaced (never mutated) by each advance.

    Advance ``k`` moved the serials ``los[k]..his[k]``. Both tuples are non-increasing in ``k`` (each advance
    starts at the newest message that existed before it, and its window ends lower as the head moves up),
    so the advances covering a serial are a contiguous run, found by two binary searches."""

    added: int = 0
    neg_los: tuple[int, ...] = ()  # -los[k], non-decreasing (for bisect)
    neg_his: tuple[int, ...] = ()  # -his[k], non-decreasing
    breaks: tuple[int, ...] = field(default=())  # sorted serials where the number of steps changes

    def steps(self, serial: int) -> int:
        first = bisect.bisect_left(self.neg_los, -serial)  # first advance with lo <= serial
        stop = bisect.bisect_right(self.neg_his, -serial)  # advances with hi >= serial are a prefix
        return max(0, stop - first)

    def segments(self, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
        """``(a, b, steps)`` pieces of the serials ``[start, stop)`` on which ``steps`` is constant."""
        a = start
        index = bisect.bisect_right(self.breaks, start)
        while a < stop:
            b = self.breaks[index] if index < len(self.breaks) and self.breaks[index] < stop else stop
            yield a, b, self.steps(a)
            a, index = b, index + 1


def _count_congruent(a: int, b: int, residue: int, period: int) -> int:
    """How many ``j`` in ``[a, b)`` have ``j % period == residue``."""
    return (b - 1 - residue) // period - (a - 1 - residue) // period


def _iter_congruent(a: int, b: int, residues: list[int], period: int) -> Iterator[int]:
    """``j`` in ``[a, b)`` with ``j % period`` in ``residues`` (sorted), ascending, period by period."""
    if not residues:
        return
    base = a - a % period
    while base < b:
        for j in (base + r for r in residues):
            if j >= b:
                return
            if j >= a:
                yield j
        base += period


class MessageLog:
    """Messages newest first, each computed on demand from its serial and the advances so far.

    Public indices are *positions*: 0 is the newest message now (after advances, ``count`` grows and the
    messages they added take the first positions). ``message(i)`` = ``message(i - added, ..., steps)``."""

    def __init__(
        self,
        count: int = DEFAULT_MESSAGES,
        anchor_ms: int = DEFAULT_ANCHOR_MS,
        spacing_ms: int = DEFAULT_SPACING_MS,
        status_window_ms: int = DEFAULT_STATUS_WINDOW_MS,
    ) -> None:
        if count < 0:
            raise ValueError(f"message count must be >= 0, got {count}")
        if spacing_ms < 1:
            raise ValueError(f"spacing must be >= 1 ms (enqueued must strictly decrease), got {spacing_ms}")
        if status_window_ms < 0:
            raise ValueError(f"the status window must be >= 0 ms, got {status_window_ms}")
        if count and enqueued_of(count - 1, anchor_ms, spacing_ms) < 0:
            raise ValueError("the oldest message would be enqueued before 1970: raise the anchor or lower the spacing")
        self.base_count = count
        self.anchor_ms = anchor_ms
        self.spacing_ms = spacing_ms
        self.status_window_ms = status_window_ms
        self._timeline = _Timeline()
        # Advances are serialised, and multi-step reads (a page, an id lookup then its record) hold this lock
        # to see one timeline throughout.
        self.lock = threading.RLock()

    @property
    def count(self) -> int:
        return self.base_count + self._timeline.added

    @property
    def added(self) -> int:
        """Messages added by advances so far."""
        return self._timeline.added

    @property
    def newest_enqueued(self) -> int | None:
        return None if self.count == 0 else enqueued_of(-self._timeline.added, self.anchor_ms, self.spacing_ms)

    def __len__(self) -> int:
        return self.count

    def message(self, i: int) -> dict[str, Any]:
        timeline = self._timeline
        serial = self._serial(i, timeline)
        return message(serial, self.anchor_ms, self.spacing_ms, timeline.steps(serial))

    def message_id(self, i: int) -> str:
        return message_id(self._serial(i, self._timeline), self.anchor_ms, self.spacing_ms)

    def enqueued(self, i: int) -> int:
        return enqueued_of(self._serial(i, self._timeline), self.anchor_ms, self.spacing_ms)

    def ids(self) -> Iterator[str]:
        """Every id, newest first, lazily."""
        timeline = self._timeline
        return (message_id(s, self.anchor_ms, self.spacing_ms) for s in range(-timeline.added, self.base_count))

    def index_of_id(self, msg_id: str) -> int | None:
        """Position of the message with this id, or None if the log has no such message."""
        serial = serial_of_id(msg_id)
        timeline = self._timeline
        if serial is None or not -timeline.added <= serial < self.base_count:
            return None
        if message_id(serial, self.anchor_ms, self.spacing_ms) != msg_id:
            return None
        return serial + timeline.added

    def details(self, i: int) -> dict[str, Any]:
        with self.lock:
            return message_details(self.message(i), self._serial(i, self._timeline))

    def history(self, i: int, event_type: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            items = message_history(self.message(i), self._serial(i, self._timeline))
        return items if event_type is None else [item for item in items if item["type"] == event_type]

    def output(self, i: int) -> list[dict[str, Any]]:
        with self.lock:
            return message_output(self.message(i), self._serial(i, self._timeline))

    def indices_enqueued_since(self, enqueued_after: int | None) -> range:
        """Positions of the messages with ``enqueued >= enqueued_after`` (all for ``None``), by arithmetic."""
        count, newest = self.count, self.newest_enqueued
        if enqueued_after is None or newest is None:
            return range(count)
        if enqueued_after > newest:
            return range(0)
        return range(min(count, (newest - enqueued_after) // self.spacing_ms + 1))

    def cursor_for(self, i: int) -> str:
        return encode_cursor(self.enqueued(i), self.message_id(i))

    def head_cursor(self) -> str:
        """A cursor naming the slot just newer than the newest message: the page after it is page 1."""
        serial = -self._timeline.added - 1
        return encode_cursor(
            enqueued_of(serial, self.anchor_ms, self.spacing_ms), message_id(serial, self.anchor_ms, self.spacing_ms)
        )

    def index_of_cursor(self, cursor: str) -> int:
        """Position of the message a cursor names (-1 for ``head_cursor()``); ``InvalidRequest`` otherwise."""
        enqueued, msg_id = decode_cursor(cursor)
        serial, remainder = divmod(self.anchor_ms - enqueued, self.spacing_ms)
        added = self._timeline.added
        if (
            remainder
            or not -added - 1 <= serial < self.base_count
            or message_id(serial, self.anchor_ms, self.spacing_ms) != msg_id
        ):
            raise InvalidRequest("Invalid cursor")
        return serial + added

    def page(
        self,
        *,
        cursor: str | None = None,
        enqueued_after: int | None = None,
        message_filter: MessageFilter | None = None,
        page_size: int = PAGE_SIZE,
    ) -> Page:
        """The page after ``cursor`` (or the first page) of the messages selected by the filters."""
        with self.lock:
            start = 0 if cursor is None else self.index_of_cursor(cursor) + 1
            window = self.indices_enqueued_since(enqueued_after)
            candidates = self._matching(range(start, window.stop), message_filter or MessageFilter())
            indices = list(islice(candidates, page_size + 1))  # one extra tells whether there is more
            more = len(indices) > page_size
            shown = indices[:page_size]
            return Page(
                results=[self.message(i) for i in shown],
                more=more,
                cursor=self.cursor_for(shown[-1]) if more else None,
            )

    def advance(self, new_messages: int = DEFAULT_NEW_MESSAGES, advance_statuses: bool = True) -> dict[str, Any]:
        """Add ``new_messages`` newest messages, then (if ``advance_statuses``) move the older messages enqueued
        within ``status_window_ms`` of the new newest one step along ``ADVANCE_CHAIN``.

        Returns ``{"count", "newest_enqueued", "advanced"}`` (``advanced``: messages whose status changed)."""
        if isinstance(new_messages, bool) or not isinstance(new_messages, int) or new_messages < 0:
            raise ValueError(f"new_messages must be an integer >= 0, got {new_messages!r}")
        with self.lock:
            old = self._timeline
            added = old.added + new_messages
            advanced = 0
            neg_los, neg_his, breaks = old.neg_los, old.neg_his, old.breaks
            if advance_statuses:
                lo = -old.added  # the newest message that existed before this advance
                hi = min(self.base_count - 1, self.status_window_ms // self.spacing_ms - added)
                if lo <= hi:
                    advanced = self._movable(old, lo, hi + 1)
                    neg_los, neg_his = (*neg_los, -lo), (*neg_his, -hi)
                    breaks = tuple(sorted({*breaks, lo, hi + 1}))
            self._timeline = _Timeline(added, neg_los, neg_his, breaks)
            return {"count": self.count, "newest_enqueued": self.newest_enqueued, "advanced": advanced}

    def _movable(self, timeline: _Timeline, start: int, stop: int) -> int:
        """How many serials in ``[start, stop)`` have, on ``timeline``, a status an advance would change."""
        total = 0
        period = len(STATUS_CYCLE)
        for a, b, steps in timeline.segments(start, stop):
            for residue in range(period):
                status = advanced_status(status_of(residue), steps)
                if status in ADVANCE_CHAIN[:-1]:
                    total += _count_congruent(a, b, residue, period)
        return total

    def _matching(self, positions: range, message_filter: MessageFilter) -> Iterator[int]:
        """Matching positions of ``positions`` (step 1), found period by period instead of by a full scan."""
        if message_filter.is_empty:
            yield from positions
            return
        timeline = self._timeline
        added = timeline.added
        for a, b, steps in timeline.segments(positions.start - added, positions.stop - added):
            residues = [
                r
                for r in range(FILTER_PERIOD)
                if message_filter.matches(advanced_status(status_of(r), steps), recipient_of(r))
            ]
            for serial in _iter_congruent(a, b, residues, FILTER_PERIOD):
                yield serial + added

    def _serial(self, i: int, timeline: _Timeline) -> int:
        if not 0 <= i < self.base_count + timeline.added:
            raise IndexError(f"message index {i} out of range for a log of {self.base_count + timeline.added}")
        return i - timeline.added
