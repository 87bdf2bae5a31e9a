"""Messages: ``GET /messages`` and, per message, ``/messages/{id}``, ``/history`` and ``/output`` (reference A.1, C).

Routes (``MESSAGE_ROUTES``: the server serves them from its ``MessageLog``, with or without a workspace):

* ``GET /messages``: paging A, ``PAGE_SIZE`` (10) per page, newest first; a ``limit`` sent is accepted and ignored,
  or, with the ``honour_messages_limit`` reading, honoured from 1 to 100 (else 400; ``courier_emulator.readings``).
  Filters honoured on the server: ``enqueued_after`` (inclusive; epoch-ms digits or zoned ISO-8601, see
  ``parse_enqueued_after``; with ``apply_enqueued_after`` off, neither parsed nor applied), ``status``
  (comma-joined list; repeated parameters are merged) and ``recipient`` (equality). An empty
  ``status=``/``recipient=`` means "no filter". Other documented filters (``event``, ``tag``, ...) are accepted
  and ignored. When several values of ``cursor``, ``enqueued_after``, ``recipient`` or ``type`` are sent, the
  last one wins. The cursor and time moving forward are the log's (``courier_emulator.data``).
* ``GET /messages/{id}`` (the record plus ``providers``), ``/messages/{id}/history`` (``{"results": [...]}``,
  optional exact ``type`` filter) and ``/messages/{id}/output`` (``{"results": [...]}``). An id not in the log
  gives 404.

Records (section C, quirks D.2/D.9/D.14), all computed from the message's serial ``i`` (0 = the newest of a log
that has not been advanced, -1, -2, ... the messages advances add):

* Fields are the ``MessageDetails`` ones. Timestamps are epoch-ms ints or null, consistent with ``status``.
  ``status`` cycles through ``STATUS_CYCLE``, which includes ``DIGESTED`` so clients prove they keep the enum
  open. Some messages carry ``tags``, a field the SDK does not document ("expect undocumented fields").
* ``id`` looks like Courier's ``1-5e2b2615-05efbb3acab9172f88dd3f6f``: ``1-<enqueued seconds, 8 hex>-<24 hex>``,
  where the 24 hex digits are a bijective scramble of the serial (so ids are unique, not just probably unique,
  and ``serial_of_id`` maps an id back).
* ``details``: the record plus ``providers`` (one object per provider attempt: ``channel``, ``provider``,
  ``status``, ``reference`` once sent, ``providerResponse``, ``error`` when undeliverable; empty while
  ``ENQUEUED`` or ``DIGESTED``).
* ``history``: ``{ts, type, ...}`` oldest first: ``ENQUEUED``, ``MAPPED``, ``PROFILE_LOADED``, ``RENDERED``,
  then ``SENT``/``DELIVERED``/``OPENED``/``CLICKED`` at the record's timestamps (these carry ``channel: {id}``
  and ``integration: {id, provider}``), or ``UNDELIVERABLE`` with ``error_message``. A ``DIGESTED`` message
  stops after ``PROFILE_LOADED``, an ``ENQUEUED`` one after ``ENQUEUED``.
* ``output``: the rendered content per channel (``channel``, ``channel_id``, ``content`` with ``blocks``,
  ``body``, ``html``, ``subject``, ``text``, ``title``), once the message was rendered.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from courier_emulator.generation import DEFAULT_ANCHOR_MS
from courier_emulator.paging import limit
from courier_emulator.registry import MESSAGE_ROUTES, InvalidRequest, NotFound, Request

if TYPE_CHECKING:
    from courier_emulator.data import MessageLog

DEFAULT_SPACING_MS = 60_000
PAGE_SIZE = 10  # section F: "Only 10 can be fetched at a time"
MAX_LIMIT = 100  # with the honour_messages_limit reading

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

_ID_BITS = 96
_ID_MASK = (1 << _ID_BITS) - 1
_ID_HALF = _ID_BITS // 2
# Odd multipliers, so each multiplication mod 2**96 is a bijection (as is each xorshift below).
_ID_MULTIPLIERS = (0x9E3779B97F4A7C15F39CC061, 0xBF58476D1CE4E5B94D049BB1)
_ID_INVERSES = tuple(pow(multiplier, -1, 1 << _ID_BITS) for multiplier in _ID_MULTIPLIERS)
_ID_PATTERN = re.compile(r"1-([0-9a-f]{8})-([0-9a-f]{24})")


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


# --- filters -------------------------------------------------------------------------------------------------

_ISO_8601 = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))")


def parse_enqueued_after(value: str) -> int:
    """Epoch ms from epoch-ms digits or a zoned ISO-8601 timestamp (rounded up, so the filter stays exact).

    Section D.14 says the format is not verified against the live API: both the documented digits
    (``1686752793725``) and ``2026-01-01T00:00:00Z``, ``...00.000Z`` or ``...00+00:00`` are accepted; a timestamp
    without a zone, or a bare date, is rejected."""
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


# --- routes --------------------------------------------------------------------------------------------------


@MESSAGE_ROUTES.get("/messages")
def list_messages(log: MessageLog, request: Request) -> dict[str, Any]:
    readings = request.readings
    size = PAGE_SIZE
    if readings.honour_messages_limit:
        size = limit(request, default=PAGE_SIZE, maximum=MAX_LIMIT, clamp=False)
    enqueued_after = request.last("enqueued_after") if readings.apply_enqueued_after else None
    statuses = {s.strip() for value in request.query.get("status", []) for s in value.split(",") if s.strip()}
    page = log.page(
        cursor=request.last("cursor"),
        enqueued_after=None if enqueued_after is None else parse_enqueued_after(enqueued_after),
        message_filter=MessageFilter(statuses=frozenset(statuses) or None, recipient=request.last("recipient") or None),
        page_size=size,
    )
    return page.body()


def _position(log: MessageLog, msg_id: str) -> int:
    """The message's position; call with ``log.lock`` held (an advance in between would shift it)."""
    position = log.index_of_id(msg_id)
    if position is None:
        raise NotFound
    return position


@MESSAGE_ROUTES.get("/messages/{id}")
def retrieve_message(log: MessageLog, request: Request) -> dict[str, Any]:
    with log.lock:
        return log.details(_position(log, request.ids[0]))


@MESSAGE_ROUTES.get("/messages/{id}/history")
def list_message_history(log: MessageLog, request: Request) -> dict[str, Any]:
    with log.lock:
        return {"results": log.history(_position(log, request.ids[0]), request.last("type") or None)}


@MESSAGE_ROUTES.get("/messages/{id}/output")
def list_message_output(log: MessageLog, request: Request) -> dict[str, Any]:
    with log.lock:
        return {"results": log.output(_position(log, request.ids[0]))}
