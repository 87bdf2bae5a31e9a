"""Deterministic Courier message log, generated from the index on demand, with time that can move forward.

Emulates the records of Courier's ``GET /messages`` and its per-message sub-resources (reference
``courier-api.md`` sections A.1, C, D.2, D.9, D.14):

* Message ``i`` (0 = newest) has ``enqueued = anchor_ms - i * spacing_ms``; the log is ordered newest
  first (descending ``enqueued``), like Courier's. Nothing is stored per message: every record is computed
  from its index, so a log of 1,000,000 messages costs no memory and any page is O(page size).
* Fields are the ``MessageDetails`` ones (section C). Timestamps are epoch-ms ints or null, consistent
  with ``status``. ``status`` cycles through ``STATUS_CYCLE``, which includes ``DIGESTED`` so clients
  prove they keep the enum open. Some messages carry ``tags``, a field the SDK does not document
  (section C: "expect undocumented fields").
* ``id`` looks like Courier's ``1-5e2b2615-05efbb3acab9172f88dd3f6f``:
  ``1-<enqueued seconds, 8 hex>-<24 hex>``, where the 24 hex digits are a bijective scramble of the
  message's serial (so ids are unique, not just probably unique, and ``serial_of_id`` maps an id back).

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
Pages hold ``PAGE_SIZE`` = 10 messages (section F: "Only 10 can be fetched at a time"). One more cursor
is accepted: ``MessageLog.head_cursor()`` names the slot just newer than the newest message, so reading
after it is page 1 (the ``repeat-cursor`` fault returns it on page 1; once an advance fills that slot it
names a real message and keeps its meaning).

``enqueued_after`` (section D.14 says its format is not verified against the live API) accepts both the
documented epoch-ms digits (``1686752793725``) and an ISO-8601 timestamp with ``Z`` or a ``+HH:MM``
offset (``2026-01-01T00:00:00Z``, ``2026-01-01T00:00:00.000Z``, ``2026-01-01T00:00:00+00:00``); a
timestamp without a zone, or a bare date, is rejected. It is inclusive: messages with
``enqueued >= value`` are returned (a sub-millisecond ISO value is rounded up, which keeps that exact).

Sub-resources (section A.1), all derived from the message:

* ``details``: the record plus ``providers`` (one object per provider attempt: ``channel``, ``provider``,
  ``status``, ``reference`` once sent, ``providerResponse``, ``error`` when undeliverable; empty while
  ``ENQUEUED`` or ``DIGESTED``).
* ``history``: ``{ts, type, ...}`` oldest first: ``ENQUEUED``, ``MAPPED``, ``PROFILE_LOADED``, ``RENDERED``,
  then ``SENT``/``DELIVERED``/``OPENED``/``CLICKED`` at the record's timestamps (these carry
  ``channel: {id}`` and ``integration: {id, provider}``), or ``UNDELIVERABLE`` with ``error_message``.
  A ``DIGESTED`` message stops after ``PROFILE_LOADED``, an ``ENQUEUED`` one after ``ENQUEUED``.
* ``output``: the rendered content per channel (``channel``, ``channel_id``, ``content`` with ``blocks``,
  ``body``, ``html``, ``subject``, ``text``, ``title``), once the message was rendered.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import calendar
import hashlib
import html
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

DEFAULT_MESSAGES = 25
DEFAULT_ANCHOR_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
DEFAULT_SPACING_MS = 60_000
DEFAULT_STATUS_WINDOW_MS = 86_400_000  # one day
DEFAULT_NEW_MESSAGES = 10
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
# The steps an advance moves a message along; statuses not in it never change.
ADVANCE_CHAIN: tuple[str, ...] = ("ENQUEUED", "SENT", "DELIVERED", "OPENED", "CLICKED")
UNDELIVERABLE_REASONS: tuple[str, ...] = ("BOUNCED", "PROVIDER_ERROR")
UNDELIVERABLE_ERROR = "400 Bad Request"

RECIPIENTS: tuple[str, ...] = ("user-ada", "user-grace", "user-alan", "user-katherine")
# event id -> notification template id
EVENTS: tuple[tuple[str, str], ...] = (
    ("welcome", "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4"),
    ("password-reset", "K2Q7HZ1M3VXN0B8C5D4F6G9J2LPR"),
    ("weekly-digest", "W9E3RT6YU1IO4PA7SD2FG5HJ8KLZ"),
)
# (channel, provider) per event, same order as EVENTS.
ROUTES: tuple[tuple[str, str], ...] = (("email", "sendgrid"), ("sms", "twilio"), ("push", "firebase-fcm"))
# Undocumented extra field, present on some messages only (index % len == position of a non-None entry).
TAG_SETS: tuple[list[str] | None, ...] = (["onboarding"], None, ["billing", "priority"], None, None)

# History event offsets after ``enqueued`` before the provider is reached (all before ``sent`` at +712 ms).
_PIPELINE_OFFSETS_MS = {"ENQUEUED": 0, "MAPPED": 45, "PROFILE_LOADED": 120, "RENDERED": 480}
_UNDELIVERABLE_OFFSET_MS = 712
HISTORY_TYPES: tuple[str, ...] = (
    "ENQUEUED",
    "MAPPED",
    "PROFILE_LOADED",
    "RENDERED",
    "SENT",
    "DELIVERED",
    "OPENED",
    "CLICKED",
    "UNDELIVERABLE",
)

# Status and recipient are both periodic in the serial; server-side filters only need one period to find matches.
FILTER_PERIOD = math.lcm(len(STATUS_CYCLE), len(RECIPIENTS))

_ID_BITS = 96
_ID_MASK = (1 << _ID_BITS) - 1
_ID_HALF = _ID_BITS // 2
# Odd multipliers, so each multiplication mod 2**96 is a bijection (as is each xorshift below).
_ID_MULTIPLIERS = (0x9E3779B97F4A7C15F39CC061, 0xBF58476D1CE4E5B94D049BB1)
_ID_INVERSES = tuple(pow(multiplier, -1, 1 << _ID_BITS) for multiplier in _ID_MULTIPLIERS)
_ID_PATTERN = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")


class InvalidRequest(ValueError):
    """A client error, reported as 400 ``invalid_request_error`` with ``str(exc)`` as its message."""


def status_of(i: int) -> str:
    """Base status of serial ``i`` (before any advance)."""
    return STATUS_CYCLE[i % len(STATUS_CYCLE)]


def recipient_of(i: int) -> str:
    return RECIPIENTS[i % len(RECIPIENTS)]


def advanced_status(status: str, steps: int) -> str:
    """``status`` moved ``steps`` along ``ADVANCE_CHAIN`` (stopping at ``CLICKED``); other statuses stay."""
    if steps <= 0 or status not in ADVANCE_CHAIN:
        return status
    return ADVANCE_CHAIN[min(ADVANCE_CHAIN.index(status) + steps, len(ADVANCE_CHAIN) - 1)]


def enqueued_of(i: int, anchor_ms: int = DEFAULT_ANCHOR_MS, spacing_ms: int = DEFAULT_SPACING_MS) -> int:
    return anchor_ms - i * spacing_ms


def _scramble(i: int) -> int:
    scrambled = i & _ID_MASK
    for multiplier in _ID_MULTIPLIERS:
        scrambled = ((scrambled + 1) * multiplier) & _ID_MASK
        scrambled ^= scrambled >> _ID_HALF
    return scrambled


def _unscramble(scrambled: int) -> int:
    value = scrambled
    for inverse in reversed(_ID_INVERSES):
        value ^= value >> _ID_HALF  # a xorshift by half the width is its own inverse
        value = (value * inverse - 1) & _ID_MASK
    return value - (1 << _ID_BITS) if value >> (_ID_BITS - 1) else value  # back to a signed serial


def message_id(i: int, anchor_ms: int = DEFAULT_ANCHOR_MS, spacing_ms: int = DEFAULT_SPACING_MS) -> str:
    """``1-<enqueued seconds as 8 hex>-<24 hex unique to i>``, shaped like Courier's message ids."""
    seconds = (enqueued_of(i, anchor_ms, spacing_ms) // 1000) & 0xFFFFFFFF
    return f"1-{seconds:08x}-{_scramble(i):024x}"


def serial_of_id(msg_id: str) -> int | None:
    """The serial whose scramble is in ``msg_id`` (the inverse of ``message_id``), or None if not id-shaped.

    Only the 24 hex digits are inverted: callers check the whole id against ``message_id`` of the result."""
    match = _ID_PATTERN.fullmatch(msg_id)
    return None if match is None else _unscramble(int(match.group(2), 16))


def message(
    i: int, anchor_ms: int = DEFAULT_ANCHOR_MS, spacing_ms: int = DEFAULT_SPACING_MS, steps: int = 0
) -> dict[str, Any]:
    """The ``MessageDetails`` record (reference section C) of serial ``i``, ``steps`` advances later.

    ``i`` = 0 is the newest message of a log that has not been advanced; negative ``i`` are the messages
    ``MessageLog.advance`` adds (-1 first)."""
    status = advanced_status(status_of(i), steps)
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


def _uuid_like(*parts: object) -> str:
    digest = hashlib.sha256("\0".join(str(part) for part in parts).encode("utf-8")).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _route(i: int) -> tuple[str, str, str, str]:
    """(channel, provider, channel id, integration id) of serial ``i``: fixed per channel, like a workspace's."""
    channel, provider = ROUTES[i % len(ROUTES)]
    return channel, provider, _uuid_like("channel", channel), _uuid_like("integration", provider)


def _rendered(status: str) -> bool:
    return bool(_STAGES_BY_STATUS.get(status)) or status == "UNDELIVERABLE"


def message_details(record: dict[str, Any], i: int) -> dict[str, Any]:
    """``GET /messages/{id}``: the record plus ``providers`` (reference A.1, untyped objects)."""
    status = record["status"]
    channel, provider, _, _ = _route(i)
    providers: list[dict[str, Any]] = []
    if status == "UNDELIVERABLE":
        providers.append(
            {
                "channel": channel,
                "provider": provider,
                "status": "UNDELIVERABLE",
                "error": record["error"],
                "providerResponse": {"statusCode": 400, "message": record["reason"]},
            }
        )
    elif _rendered(status):
        providers.append(
            {
                "channel": channel,
                "provider": provider,
                "status": status,
                "reference": {"provider_message_id": f"{provider}-{_scramble(i):024x}"},
                "providerResponse": {"statusCode": 202},
            }
        )
    return {**record, "providers": providers}


def message_history(record: dict[str, Any], i: int) -> list[dict[str, Any]]:
    """``GET /messages/{id}/history`` results, oldest first, consistent with the record's status and timestamps."""
    status, enqueued = record["status"], record["enqueued"]
    _, provider, channel_id, integration_id = _route(i)
    routed = {"channel": {"id": channel_id}, "integration": {"id": integration_id, "provider": provider}}
    stops = {"ENQUEUED": "ENQUEUED", "DIGESTED": "PROFILE_LOADED"}
    last = stops.get(status, "RENDERED")
    history: list[dict[str, Any]] = []
    for event_type, offset in _PIPELINE_OFFSETS_MS.items():
        item: dict[str, Any] = {"ts": enqueued + offset, "type": event_type}
        if event_type == "MAPPED":
            item.update(event_id=record["event"], notification_id=record["notification"])
        elif event_type == "RENDERED":
            item.update(routed)
        history.append(item)
        if event_type == last:
            break
    if status == "UNDELIVERABLE":
        history.append(
            {
                "ts": enqueued + _UNDELIVERABLE_OFFSET_MS,
                "type": "UNDELIVERABLE",
                "error_message": record["error"],
                **routed,
            }
        )
    for stage in ("sent", "delivered", "opened", "clicked"):
        if record[stage] is not None:
            history.append({"ts": record[stage], "type": stage.upper(), **routed})
    return history


_CONTENT_BY_EVENT = {
    "welcome": ("Welcome to Acme", "Hi {name}, welcome to Acme! Your account is ready."),
    "password-reset": ("Reset your password", "Hi {name}, use the code {code} to reset your password."),
    "weekly-digest": ("Your weekly digest", "Hi {name}, you have {count} new updates this week."),
}


def message_output(record: dict[str, Any], i: int) -> list[dict[str, Any]]:
    """``GET /messages/{id}/output`` results: the content rendered per channel (none before rendering)."""
    if not _rendered(record["status"]):
        return []
    channel, _, channel_id, _ = _route(i)
    title, template = _CONTENT_BY_EVENT[record["event"]]
    name = record["recipient"].removeprefix("user-").capitalize()
    body = template.format(name=name, code=f"{_scramble(i) % 1_000_000:06d}", count=i % 9 + 1)
    return [
        {
            "channel": channel,
            "channel_id": channel_id,
            "content": {
                "blocks": [{"text": title, "type": "text"}, {"text": body, "type": "text"}],
                "body": body,
                "html": f"<html><body><h1>{html.escape(title)}</h1><p>{html.escape(body)}</p></body></html>",
                "subject": title if channel == "email" else "",
                "text": f"{title}\n\n{body}",
                "title": title,
            },
        }
    ]


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

    def matches(self, status: str, recipient: str) -> bool:
        return (self.statuses is None or status in self.statuses) and (
            self.recipient is None or recipient == self.recipient
        )


@dataclass(frozen=True)
class Page:
    results: list[dict[str, Any]]
    more: bool
    cursor: str | None

    def body(self) -> dict[str, Any]:
        return {"paging": {"cursor": self.cursor, "more": self.more}, "results": self.results}


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
