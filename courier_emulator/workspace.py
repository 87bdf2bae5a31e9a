"""A deterministic Courier workspace: every object the API can read except messages, generated from indexes.

``Workspace(size, seed).handle(path, query)`` answers one authenticated GET (the server checks the key and
serves ``/messages`` itself) with ``(status, JSON body)``, or None for a path it does not serve. Shapes,
field names and types follow ``shared/reference/courier-api.md`` sections A.2-A.8, A.10-A.12 and D, checked
against the SDK models of ``trycourier==9.13.0`` (``integration_tests/test_emulator_fidelity.py``).

Sizes (``COUNTS`` has the numbers): ``small`` holds a few of each object and pages paging-A lists 2 at a
time, so that every paged list still has a second page; ``demo`` is a realistic workspace paged 10 at a
time; ``bench`` is ``small`` with 20,000 tenants, for paging benchmarks at 100 a page. Every object is
built once, in ``__init__``, from its index and a hash of ``(seed, kind, index)``: the same size and seed
give the same workspace. Readable ids (users, lists, tenants, audiences) depend on
the index only; hashed ids (brands, templates, runs, ...), timestamps and memberships also on the seed.
"Now" is ``courier_emulator.data.DEFAULT_ANCHOR_MS`` (2026-01-01T00:00:00Z): every timestamp is before it.

Routes (``ROUTES``), with their paging envelope (reference section A legend):

* A, ``{"paging": {"cursor", "more"}, <key>: [...]}``, ``?cursor=``, ``page_size`` records a page:
  ``/brands``, ``/notifications`` (``event_id``, ``tags`` filters), ``/lists`` (``pattern``),
  ``/lists/{id}/subscriptions``, ``/audiences``, ``/audiences/{id}/members``, ``/audit-events`` (newest
  first), ``/providers``, ``/profiles/{user_id}/lists``; with ``limit``: ``/routing-strategies`` (default
  20, over 100 is 400), ``/broadcasts`` (newest first, default 20, clamped to 100) and
  ``/preferences/logs`` (newest first, default 25, clamped to 100; ``since``, ``user_id``, ``tenant_id``).
  ``/users/{user_id}/preferences`` has ``paging`` too, always ``{"cursor": null, "more": false}``.
* B, ``{"items", "has_more", "cursor", "next_url", "url", "type": "list"}``, ``?cursor=&limit=``
  (default 20; a limit over the documented maximum of 100 is **400**, not clamped): ``/tenants``
  (``parent_tenant_id``), ``/tenants/{id}/users``, ``/tenants/{id}/templates``, ``/users/{user_id}/tenants``.
* C, ``{"templates": [...], "cursor": <only while more>}``, ``?cursor=&version=published|draft``:
  ``/automations``, ``/journeys``. The last template of each is draft-only.
* D, ``{"runs": [...], "next_cursor": <only while more>}``: ``/automations/runs`` and ``/journeys/runs``
  (which also sends ``prev_cursor`` after the first page). ``limit`` 1-50, clamped, non-numeric -> 20;
  ``start_date``/``end_date`` inclusive bounds on ``created_at``; ``status`` and ``template_id`` comma lists.
  Newest first; every run is within the 95-day retention window.
* Single objects and unpaginated lists: ``/brands/{id}``, ``/lists/{id}``, ``/audiences/{id}``,
  ``/tenants/{id}``, ``/tenants/{id}/templates/{template_id}``, ``/audit-events/{id}``, ``/providers/{id}``,
  ``/broadcasts/{id}``, ``/preferences/sections`` and ``/{id}``, ``/preferences/sections/{id}/topics`` and
  ``/{topic_id}``, ``/profiles/{user_id}``, ``/users/{user_id}/tokens`` and ``/{token}``,
  ``/users/{user_id}/preferences/{topic_id}``, ``/automations/runs/{id}/steps``, ``/journeys/runs/{id}``
  and ``/steps``.

Rules shared by every route:

* Cursors are opaque standard base64 of ``"<route>\\n<direction>\\n<key of the last record shown>"``. A cursor
  from another route, or naming a record the (filtered) listing does not hold, is 400 ``Invalid cursor``.
  Paging therefore stays exact when the filters are repeated with the cursor, as the SDK does. An empty
  ``cursor=`` (or any empty filter) means "not sent". When a parameter is repeated, the last value wins.
* ``limit`` must be a positive integer (else 400), except on runs (see D). Dates (``since``, ``start_date``,
  ``end_date``): ``YYYY-MM-DD`` (UTC midnight; as ``end_date``, the whole day) or ``YYYY-MM-DDTHH:MM[:SS[.f]]``
  with ``Z``, ``+HH:MM`` or no zone (read as UTC); anything else is 400.
* An unknown id under a served collection is 404 ``{"message": "Not Found", "type": "invalid_request_error"}``;
  a path outside ``ROUTES`` (``/messages`` included) is None.

Timestamps (reference D.1): epoch-ms ints on brands, providers, routing strategies and V1/V2 notification
templates; ISO-8601 strings (``...T..:..:...mmmZ``) everywhere else, camelCase ``createdAt``/``updatedAt``
on automation and journey templates. Undocumented fields, as Courier sends them (``UNDOCUMENTED_FIELDS``):
``channel`` on providers, ``brand_id`` on some V1 templates. Providers' ``settings`` carry fake secrets, each
containing ``PROVIDER_SECRET_MARKER``, so a connector's dropping of ``settings`` can be tested.

Users: ``user_ids`` (72 in demo, 8 in small) start with the message log's recipients (``user-ada``,
``user-grace``, ``user-alan``, ``user-katherine``). Every user has a profile; ``user-ada`` is subscribed to
every list, belongs to every tenant and has three tokens (``expiry_date`` a string, ``false`` and null).
Audience members are the users whose profile matches the audience's filter. A user's preferences are the
latest entry of the preference log for each topic (in the requested tenant context), so the log and
``/users/{id}/preferences`` agree.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import copy
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote, urlencode

from courier_emulator.data import DEFAULT_ANCHOR_MS

Json = dict[str, Any]
Response = tuple[int, Any]

DAY_MS = 86_400_000
RUN_RETENTION_DAYS = 95
PROVIDER_SECRET_MARKER = "fake-emulator-provider-secret"
NOT_FOUND: Json = {"message": "Not Found", "type": "invalid_request_error"}
UNDOCUMENTED_FIELDS: dict[str, tuple[str, ...]] = {"providers": ("channel",), "notifications (V1)": ("brand_id",)}
# The message log's templates (``courier_emulator.data.EVENTS``): the first three V1 templates, so that a
# message's ``notification`` and ``event`` resolve in ``/notifications``.
MESSAGE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("welcome", "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4"),
    ("password-reset", "K2Q7HZ1M3VXN0B8C5D4F6G9J2LPR"),
    ("weekly-digest", "W9E3RT6YU1IO4PA7SD2FG5HJ8KLZ"),
)


@dataclass(frozen=True)
class Counts:
    users: int
    brands: int
    v1_notifications: int
    v2_notifications: int
    lists: int
    list_subscribers: tuple[int, int]
    audiences: int
    tenants: int
    tenant_users: tuple[int, int]
    tenant_templates: tuple[int, int]
    audit_events: int
    automations: int  # templates, the last one draft-only
    journeys: int
    runs: int  # per kind (automation runs, journey runs)
    sections: int
    topics_per_section: int
    preference_logs: int
    providers: int
    routing_strategies: int
    broadcasts: int
    page_size: int


COUNTS: dict[str, Counts] = {
    "small": Counts(
        users=8,
        brands=3,
        v1_notifications=3,
        v2_notifications=2,
        lists=3,
        list_subscribers=(3, 6),
        audiences=3,
        tenants=3,
        tenant_users=(3, 5),
        tenant_templates=(2, 3),
        audit_events=5,
        automations=4,
        journeys=4,
        runs=30,
        sections=2,
        topics_per_section=2,
        preference_logs=30,
        providers=3,
        routing_strategies=3,
        broadcasts=3,
        page_size=2,
    ),
    "demo": Counts(
        users=72,
        brands=5,
        v1_notifications=6,
        v2_notifications=6,
        lists=6,
        list_subscribers=(5, 60),
        audiences=4,
        tenants=8,
        tenant_users=(3, 20),
        tenant_templates=(1, 4),
        audit_events=40,
        automations=6,
        journeys=6,
        runs=150,
        sections=3,
        topics_per_section=3,
        preference_logs=200,
        providers=5,
        routing_strategies=4,
        broadcasts=4,
        page_size=10,
    ),
}

# Paging benchmarks (make bench): the small workspace with 20,000 tenants, 200 pages at the maximum limit of 100.
COUNTS["bench"] = replace(COUNTS["small"], tenants=20_000)

# --- static vocabulary -----------------------------------------------------------------------------------

_PEOPLE = (
    ("ada", "Ada Lovelace"),
    ("grace", "Grace Hopper"),
    ("alan", "Alan Turing"),
    ("katherine", "Katherine Johnson"),
    ("margaret", "Margaret Hamilton"),
    ("edsger", "Edsger Dijkstra"),
    ("barbara", "Barbara Liskov"),
    ("donald", "Donald Knuth"),
    ("frances", "Frances Allen"),
    ("john", "John Backus"),
    ("radia", "Radia Perlman"),
    ("ken", "Ken Thompson"),
    ("hedy", "Hedy Lamarr"),
    ("claude", "Claude Shannon"),
    ("shafi", "Shafi Goldwasser"),
    ("tim", "Tim Berners-Lee"),
    ("lynn", "Lynn Conway"),
    ("dennis", "Dennis Ritchie"),
    ("jean", "Jean Sammet"),
    ("linus", "Linus Torvalds"),
)
_LOCALES = ("en-US", "fr-FR", "en-GB", "de-DE")
_PLANS = ("free", "pro", "enterprise")
_MEMBERS = ("ops@example.com", "dev@example.com", "marketing@example.com")
_BRANDS = (
    ("Default", "#9122C2"),
    ("Acme", "#E4572E"),
    ("Globex", "#17BEBB"),
    ("Initech", "#FFC914"),
    ("Hooli", "#2E282A"),
)
_V1_TEMPLATES = ("Welcome", "Password reset", "Weekly digest", "Invoice ready", "Login alert", "Trial ending")
_V1_EXTRA_EVENTS = ("invoice-ready", "login-alert", "trial-ending")
_V2_TEMPLATES = ("Order shipped", "Comment mention", "Team invite", "Usage report", "Survey", "Holiday promo")
_TAGS = ("onboarding", "billing", "security", "product", "marketing")
_LISTS = (
    ("newsletter.weekly", "Weekly newsletter"),
    ("product.updates", "Product updates"),
    ("product.updates.eu", "Product updates (EU)"),
    ("events.webinars", "Webinars"),
    ("billing.alerts", "Billing alerts"),
    ("beta.testers", "Beta testers"),
)
_AUDIENCES: tuple[tuple[str, str, str, Json], ...] = (
    ("pro-plan", "Pro plan", "Users on the pro plan", {"operator": "EQ", "path": "plan", "value": "pro"}),
    (
        "english-speakers",
        "English speakers",
        "Users with an English locale",
        {"operator": "STARTS_WITH", "path": "locale", "value": "en"},
    ),
    (
        "reachable-by-sms",
        "Reachable by SMS",
        "Users with a phone number",
        {"operator": "EXISTS", "path": "phone_number", "value": "true"},
    ),
    (
        "eu-pro",
        "EU pro users",
        "Pro users with a French or German locale",
        {
            "operator": "AND",
            "filters": [
                {"operator": "EQ", "path": "plan", "value": "pro"},
                {
                    "operator": "OR",
                    "filters": [
                        {"operator": "EQ", "path": "locale", "value": "fr-FR"},
                        {"operator": "EQ", "path": "locale", "value": "de-DE"},
                    ],
                },
            ],
        },
    ),
)
_TENANTS = (
    ("acme", "Acme Corp", None),
    ("acme-eu", "Acme Europe", "acme"),
    ("globex", "Globex", None),
    ("acme-us", "Acme US", "acme"),
    ("initech", "Initech", None),
    ("umbrella", "Umbrella", None),
    ("hooli", "Hooli", None),
    ("hooli-labs", "Hooli Labs", "hooli"),
)
_AUDIT_TYPES = (
    ("brand:updated", "brand"),
    ("notification:published", "notification"),
    ("list:created", "list"),
    ("tenant:updated", "tenant"),
    ("api-key:created", "api-key"),
    ("workspace:member-invited", "member"),
)
_AUTOMATIONS = ("Onboarding drip", "Trial expiry reminder", "Abandoned cart", "Weekly digest", "Re-engagement")
_JOURNEYS = ("Welcome journey", "Upgrade nudge", "Renewal", "Win-back", "Feedback loop")
_RUN_STATUSES = (
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "PROCESSED",
    "ERROR",
    "WAITING",
    "CANCELED",
    "THROTTLED",
    "PROCESSING",
    "NOT PROCESSED",
)
_SECTIONS = (
    ("Account", (("Security alerts", "REQUIRED"), ("Billing", "OPTED_IN"), ("Account updates", "OPTED_IN"))),
    ("Product", (("Product updates", "OPTED_IN"), ("Tips and tutorials", "OPTED_OUT"), ("Beta invites", "OPTED_OUT"))),
    ("Marketing", (("Newsletter", "OPTED_IN"), ("Promotions", "OPTED_OUT"), ("Events", "OPTED_IN"))),
)
_PROVIDERS: tuple[tuple[str, str, Json], ...] = (
    (
        "sendgrid",
        "email",
        {"api_key": f"SG.{PROVIDER_SECRET_MARKER}", "from_address": "noreply@example.com", "rate_limit": None},
    ),
    (
        "twilio",
        "sms",
        {
            "account_sid": "ACfake0000000000000000000000000000",
            "auth_token": f"twilio-{PROVIDER_SECRET_MARKER}",
            "from_number": "+15550100000",
            "rate_limit": {"rate": 10, "period": "second"},
        },
    ),
    ("slack", "direct_message", {"access_token": f"xoxb-{PROVIDER_SECRET_MARKER}", "rate_limit": None}),
    (
        "firebase-fcm",
        "push",
        {"service_account": f'{{"private_key": "{PROVIDER_SECRET_MARKER}"}}', "rate_limit": None},
    ),
    (
        "apn",
        "push",
        {"key_id": "FAKEKEY123", "team_id": "FAKETEAM45", "private_key": f"-----{PROVIDER_SECRET_MARKER}-----"},
    ),
)
_ROUTING_STRATEGIES = ("Email first", "Push then SMS", "Critical alerts", "Digest channel")
_BROADCASTS = (
    ("January newsletter", "email", "sent"),
    ("Spring sale", "sms", "scheduled"),
    ("Maintenance window", "push", "draft"),
    ("Feature launch", "inbox", "sending"),
)
_TOKEN_PROVIDERS = ("firebase-fcm", "apn", "expo", "onesignal")
_ALPHANUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# --- deterministic helpers -------------------------------------------------------------------------------


class _BadRequest(Exception):
    """400 ``invalid_request_error`` with ``str(exc)`` as its message."""


class _NotFound(Exception):
    """404 ``invalid_request_error``."""


def _digest(seed: int, *parts: object, size: int = 16) -> bytes:
    return hashlib.blake2b(repr((seed, *parts)).encode("utf-8"), digest_size=size).digest()


def _h(seed: int, *parts: object) -> int:
    """A stable 64-bit number for ``(seed, *parts)`` (independent of PYTHONHASHSEED and of call order)."""
    return int.from_bytes(_digest(seed, *parts, size=8), "big")


def _courier_id(seed: int, *parts: object, length: int = 28) -> str:
    """Upper-case alphanumeric, like Courier's ``TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4``."""
    return "".join(_ALPHANUM[b % len(_ALPHANUM)] for b in _digest(seed, *parts, size=length))


def _uuid(seed: int, *parts: object) -> str:
    return str(uuid.UUID(bytes=_digest(seed, *parts), version=4))


def iso(ms: int) -> str:
    """``2025-12-31T23:59:59.123Z`` for epoch ms."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}Z"


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))?"
)


def parse_instant(value: str, name: str, *, upper: bool = False) -> int:
    """Epoch ms of an ISO-8601 date or date-time (see the module docstring); ``upper``: an inclusive upper
    bound (a bare date then means its last millisecond, and a sub-millisecond instant rounds down, not up)."""
    date = _DATE.fullmatch(value)
    match = date or _DATETIME.fullmatch(value)
    if match is None:
        raise _BadRequest(f"Invalid {name}: expected an ISO-8601 date or date-time, got {value!r}")
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    hour = minute = second = offset_s = 0
    if date is None:
        hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6) or 0)
        sign, offset_h, offset_m = match.group(9, 10, 11)
        if sign:
            if int(offset_h) > 23 or int(offset_m) > 59:
                raise _BadRequest(f"Invalid {name}: {value!r} has an impossible offset")
            offset_s = (1 if sign == "+" else -1) * (int(offset_h) * 3600 + int(offset_m) * 60)
    if not (
        year >= 1
        and 1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour < 24
        and minute < 60
        and second < 60
    ):
        raise _BadRequest(f"Invalid {name}: {value!r} is not a real date or time")
    epoch_ms = (calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset_s) * 1000
    if date is not None:
        return epoch_ms + DAY_MS - 1 if upper else epoch_ms
    nanoseconds = int((match.group(7) or "").ljust(9, "0"))
    return epoch_ms + (nanoseconds // 1_000_000 if upper else -(-nanoseconds // 1_000_000))


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values and values[-1] != "" else None


def _csv(query: dict[str, list[str]], name: str) -> set[str] | None:
    value = _param(query, name)
    items = {part.strip() for part in value.split(",")} - {""} if value else set()
    return items or None


def _limit(query: dict[str, list[str]], *, default: int, maximum: int, clamp: bool) -> int:
    raw = _param(query, "limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1:
        raise _BadRequest(f"Invalid limit: expected a positive integer, got {raw!r}")
    if int(raw) > maximum and not clamp:
        raise _BadRequest(f"Invalid limit: the maximum is {maximum}, got {raw}")
    return min(int(raw), maximum)


def _run_limit(query: dict[str, list[str]]) -> int:
    """Runs: 1-50, clamped; a non-numeric value falls back to 20 (SDK docstring)."""
    raw = _param(query, "limit")
    if raw is None or not re.fullmatch(r"[+-]?\d+", raw):
        return 20
    return max(1, min(50, int(raw)))


def encode_cursor(route: str, key: str, direction: str = ">") -> str:
    return base64.b64encode(f"{route}\n{direction}\n{key}".encode()).decode("ascii")


def _decode_cursor(cursor: str, route: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(cursor.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error):
        raise _BadRequest("Invalid cursor") from None
    parts = raw.split("\n")
    if len(parts) != 3 or parts[0] != route or parts[1] not in ("<", ">"):
        raise _BadRequest("Invalid cursor")
    return parts[1], parts[2]


@dataclass(frozen=True)
class _Page:
    records: list[Json]
    next_cursor: str | None
    prev_cursor: str | None


def _id(record: Json) -> str:
    return str(record["id"])


def _page(
    records: Sequence[Json],
    key: Callable[[Json], str],
    route: str,
    cursor: str | None,
    size: int,
    *,
    backward: bool = False,
    positions: Mapping[str, int] | None = None,
) -> _Page:
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
            raise _BadRequest("Invalid cursor")
        if direction == ">":
            start = position + 1
        else:
            start, stop = max(0, position - size), position
    stop = min(len(records), start + size) if stop is None else stop
    shown = list(records[start:stop])
    more = stop < len(records) and bool(shown)
    return _Page(
        records=shown,
        next_cursor=encode_cursor(route, key(records[stop - 1])) if more else None,
        prev_cursor=encode_cursor(route, key(records[start]), "<") if start > 0 and shown else None,
    )


def _paging_a(page: _Page, records_key: str) -> Json:
    return {"paging": {"cursor": page.next_cursor, "more": page.next_cursor is not None}, records_key: page.records}


def _pick(seed: int, kind: str, i: int, population: Sequence[int], count: int) -> list[int]:
    """``count`` members of ``population`` ranked by a seeded hash, returned in population order."""
    ranked = sorted(population, key=lambda member: _h(seed, kind, i, member))
    return sorted(ranked[: max(0, count)])


def _matches(rule: Json, profile: Json) -> bool:
    """Courier audience filter semantics, for the operators this workspace uses."""
    operator = rule["operator"]
    if operator in ("AND", "OR"):
        results = [_matches(child, profile) for child in rule["filters"]]
        return all(results) if operator == "AND" else any(results)
    actual, expected = profile.get(rule.get("path", "")), rule.get("value")
    if operator == "EQ":
        return actual == expected
    if operator == "NEQ":
        return actual != expected
    if operator == "STARTS_WITH":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    if operator == "EXISTS":
        return (actual is not None) == (expected != "false")
    raise ValueError(f"unsupported audience operator {operator!r}")


def _list_pattern(pattern: str) -> re.Pattern[str]:
    """Courier's list pattern: dotted parts, ``*`` one part, ``**`` one or more parts, else exact."""
    parts = [r"[^.]+" if part == "*" else r".+" if part == "**" else re.escape(part) for part in pattern.split(".")]
    return re.compile(r"\.".join(parts))


# --- routes ----------------------------------------------------------------------------------------------

ROUTES: tuple[tuple[str, str], ...] = (
    ("/brands", "_serve_brands"),
    ("/brands/{id}", "_serve_brand"),
    ("/notifications", "_serve_notifications"),
    ("/lists", "_serve_lists"),
    ("/lists/{id}", "_serve_list"),
    ("/lists/{id}/subscriptions", "_serve_subscriptions"),
    ("/audiences", "_serve_audiences"),
    ("/audiences/{id}", "_serve_audience"),
    ("/audiences/{id}/members", "_serve_members"),
    ("/tenants", "_serve_tenants"),
    ("/tenants/{id}", "_serve_tenant"),
    ("/tenants/{id}/users", "_serve_tenant_users"),
    ("/tenants/{id}/templates", "_serve_tenant_templates"),
    ("/tenants/{id}/templates/{id}", "_serve_tenant_template"),
    ("/audit-events", "_serve_audit_events"),
    ("/audit-events/{id}", "_serve_audit_event"),
    ("/automations", "_serve_automations"),
    ("/automations/runs", "_serve_automation_runs"),
    ("/automations/runs/{id}/steps", "_serve_automation_run_steps"),
    ("/journeys", "_serve_journeys"),
    ("/journeys/runs", "_serve_journey_runs"),
    ("/journeys/runs/{id}", "_serve_journey_run"),
    ("/journeys/runs/{id}/steps", "_serve_journey_run_steps"),
    ("/preferences/sections", "_serve_sections"),
    ("/preferences/sections/{id}", "_serve_section"),
    ("/preferences/sections/{id}/topics", "_serve_topics"),
    ("/preferences/sections/{id}/topics/{id}", "_serve_topic"),
    ("/preferences/logs", "_serve_preference_logs"),
    ("/providers", "_serve_providers"),
    ("/providers/{id}", "_serve_provider"),
    ("/routing-strategies", "_serve_routing_strategies"),
    ("/broadcasts", "_serve_broadcasts"),
    ("/broadcasts/{id}", "_serve_broadcast"),
    ("/profiles/{id}", "_serve_profile"),
    ("/profiles/{id}/lists", "_serve_profile_lists"),
    ("/users/{id}/tokens", "_serve_tokens"),
    ("/users/{id}/tokens/{id}", "_serve_token"),
    ("/users/{id}/preferences", "_serve_user_preferences"),
    ("/users/{id}/preferences/{id}", "_serve_user_preference"),
    ("/users/{id}/tenants", "_serve_user_tenants"),
)
_ROUTE_SEGMENTS = tuple((template, template.split("/")[1:], method) for template, method in ROUTES)


def _match_route(path: str) -> tuple[str, str, list[str]] | None:
    """``(template, handler name, ids)`` for a served path; literal segments win over ``{id}``."""
    if not path.startswith("/"):
        return None
    segments = [unquote(segment) for segment in path.split("/")[1:]]
    if not segments or any(segment == "" for segment in segments):
        return None
    best: tuple[int, str, str, list[str]] | None = None
    for template, parts, method in _ROUTE_SEGMENTS:
        if len(parts) != len(segments):
            continue
        if all(part == "{id}" or part == segment for part, segment in zip(parts, segments, strict=True)):
            literals = sum(part != "{id}" for part in parts)
            if best is None or literals > best[0]:
                ids = [segment for part, segment in zip(parts, segments, strict=True) if part == "{id}"]
                best = (literals, template, method, ids)
    return None if best is None else best[1:]


# --- the workspace ---------------------------------------------------------------------------------------


class Workspace:
    """Every non-message object of one Courier workspace; see the module docstring.

    ``page_size`` overrides the size's paging-A page size (2 for ``small``, 10 for ``demo``), which also
    applies to ``/automations`` and ``/journeys``; endpoints that take ``limit`` use their own defaults."""

    def __init__(self, size: str = "small", seed: int = 0, *, page_size: int | None = None) -> None:
        if size not in COUNTS:
            raise ValueError(f"workspace size must be one of {', '.join(COUNTS)}, got {size!r}")
        self.size = size
        self.seed = seed
        self.counts = COUNTS[size]
        self.page_size = page_size if page_size is not None else self.counts.page_size
        if self.page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {self.page_size}")
        self.anchor_ms = DEFAULT_ANCHOR_MS
        self._build_users()
        self._build_members()
        self._build_brands()
        self._build_preferences()
        self._build_notifications()
        self._build_lists()
        self._build_audiences()
        self._build_tenants()
        self._build_audit_events()
        self._build_automations()
        self._build_preference_logs()
        self._build_providers()
        self._build_routing_strategies()
        self._build_broadcasts()
        self._build_tokens()

    # --- public helpers ----------------------------------------------------------------------------------

    def handle(self, path: str, query: dict[str, list[str]]) -> Response | None:
        """``(status, JSON-serialisable body)`` for a GET of ``path``, or None if the path is not served."""
        route = _match_route(path)
        if route is None:
            return None
        template, method, ids = route
        handler: Callable[[str, list[str], dict[str, list[str]]], Any] = getattr(self, method)
        try:
            return 200, copy.deepcopy(handler(template, ids, query))
        except _BadRequest as exc:
            return 400, {"message": str(exc), "type": "invalid_request_error"}
        except _NotFound:
            return 404, dict(NOT_FOUND)

    def route_template(self, path: str) -> str | None:
        """The ``ROUTES`` template of a served path (``/lists/{id}/subscriptions``), else None."""
        route = _match_route(path)
        return None if route is None else route[0]

    def object_counts(self) -> dict[str, int]:
        """How many of each object this workspace holds."""
        return {
            "users": len(self.user_ids),
            "brands": len(self._brands_list),
            "notifications": len(self._notifications_list),
            "lists": len(self._lists_list),
            "list_subscriptions": sum(len(s) for s in self._subscriptions.values()),
            "audiences": len(self._audiences_list),
            "audience_members": sum(len(m) for m in self._audience_members.values()),
            "tenants": len(self._tenants_list),
            "tenant_users": sum(len(u) for u in self._tenant_users.values()),
            "tenant_templates": sum(len(t) for t in self._tenant_templates.values()),
            "audit_events": len(self._audit_list),
            "automations": len(self._templates["automations"]),
            "journeys": len(self._templates["journeys"]),
            "automation_runs": len(self._runs["automations"]),
            "journey_runs": len(self._runs["journeys"]),
            "preference_sections": len(self._sections_list),
            "preference_topics": len(self._topics),
            "preference_logs": len(self._logs),
            "providers": len(self._providers_list),
            "routing_strategies": len(self._routing_list),
            "broadcasts": len(self._broadcasts_list),
            "tokens": sum(len(t) for t in self._tokens.values()),
        }

    # --- time helpers ------------------------------------------------------------------------------------

    def _ago(self, kind: str, i: int, min_days: int, max_days: int) -> int:
        """A whole-ms instant between ``max_days`` and ``min_days`` before now."""
        span = (max_days - min_days) * DAY_MS
        return self.anchor_ms - min_days * DAY_MS - _h(self.seed, kind, "ago", i) % max(span, 1)

    def _after(self, kind: str, i: int, start_ms: int) -> int:
        """A whole-ms instant between ``start_ms`` and now."""
        return start_ms + _h(self.seed, kind, "after", i) % max(self.anchor_ms - start_ms, 1)

    def _spread(self, kind: str, count: int, days: int) -> list[int]:
        """``count`` strictly decreasing instants (newest first) within the last ``days`` days."""
        step = days * DAY_MS // (count + 1)
        return [self.anchor_ms - (i + 1) * step + _h(self.seed, kind, "jitter", i) % (step // 2) for i in range(count)]

    # --- builders ----------------------------------------------------------------------------------------

    def _build_users(self) -> None:
        ids: list[str] = []
        self._profiles: dict[str, Json] = {}
        for i in range(self.counts.users):
            slug, full_name = _PEOPLE[i % len(_PEOPLE)]
            generation = i // len(_PEOPLE)
            if generation:
                slug, full_name = f"{slug}-{generation + 1}", f"{full_name} {generation + 1}"
            user_id = f"user-{slug}"
            profile: Json = {
                "email": f"{slug}@example.com",
                "name": full_name,
                "locale": _LOCALES[i % len(_LOCALES)],
                "plan": _PLANS[i % len(_PLANS)],
            }
            if i % 2 == 0:
                profile["phone_number"] = f"+1555{i:07d}"
            ids.append(user_id)
            self._profiles[user_id] = profile
        self.user_ids: tuple[str, ...] = tuple(ids)

    def _build_members(self) -> None:
        self._member_ids = [_uuid(self.seed, "member", k) for k in range(len(_MEMBERS))]

    def _member(self, kind: str, i: int) -> tuple[str, str]:
        k = _h(self.seed, kind, "member", i) % len(_MEMBERS)
        return self._member_ids[k], _MEMBERS[k]

    def _build_brands(self) -> None:
        self._brands_list: list[Json] = []
        for i in range(self.counts.brands):
            name, color = _BRANDS[i % len(_BRANDS)]
            created = self._ago("brand", i, 200, 700)
            updated = self._after("brand", i, created)
            brand: Json = {
                "id": _courier_id(self.seed, "brand", i),
                "name": name,
                "created": created,
                "updated": updated,
                "published": updated if i % 3 != 2 else None,
                "version": f"v{1 + _h(self.seed, 'brand', 'version', i) % 40}",
                "settings": {
                    "colors": {"primary": color, "secondary": "#C1B6DD"},
                    "email": {
                        "header": {
                            "barColor": color,
                            "logo": {"href": "https://example.com", "image": f"https://example.com/{i}/logo.png"},
                        },
                        "footer": {
                            "markdown": f"{name}, 1 Example Street",
                            "social": {"twitter": {"url": "https://twitter.com/example"}},
                        },
                        "head": {"inheritDefault": True},
                    },
                },
                "snippets": {"items": [{"name": "signature", "value": f"The {name} team"}]},
            }
            self._brands_list.append(brand)
        self._brands = {b["id"]: b for b in self._brands_list}

    def _build_preferences(self) -> None:
        self._sections_list: list[Json] = []
        self._topics: dict[str, Json] = {}
        self._topic_section: dict[str, Json] = {}
        for s in range(self.counts.sections):
            name, topic_specs = _SECTIONS[s % len(_SECTIONS)]
            created = self._ago("section", s, 120, 600)
            creator, _ = self._member("section", s)
            updater, _ = self._member("section-updater", s)
            section: Json = {
                "id": _courier_id(self.seed, "section", s),
                "name": name,
                "created": iso(created),
                "updated": iso(self._after("section", s, created)),
                "creator": creator,
                "updater": updater,
                "description": f"{name} notifications",
                "has_custom_routing": s % 2 == 0,
                "routing_options": ["email", "push"] if s % 2 == 0 else [],
                "topics": [],
            }
            for t in range(self.counts.topics_per_section):
                topic_name, default_status = topic_specs[t % len(topic_specs)]
                key = s * 10 + t
                topic_created = self._after("topic-created", key, created)
                topic: Json = {
                    "id": _courier_id(self.seed, "topic", key),
                    "name": topic_name,
                    "created": iso(topic_created),
                    "updated": iso(self._after("topic", key, topic_created)),
                    "creator": creator,
                    "updater": updater,
                    "default_status": default_status,
                    "allowed_preferences": [[], ["channel_preferences"], ["snooze", "channel_preferences"]][t % 3],
                    "include_unsubscribe_header": default_status != "REQUIRED",
                    "routing_options": ["email", "push", "sms"][: 1 + t % 3],
                    "topic_data": {"category": name.lower()},
                }
                if t % 2 == 0:
                    topic["description"] = f"{topic_name} from {name}"
                section["topics"].append(topic)
                self._topics[topic["id"]] = topic
                self._topic_section[topic["id"]] = section
            self._sections_list.append(section)
        self._sections = {s["id"]: s for s in self._sections_list}
        self._topic_ids = list(self._topics)

    def _build_notifications(self) -> None:
        v1: list[Json] = []
        for i in range(self.counts.v1_notifications):
            if i < len(MESSAGE_TEMPLATES):
                event, template_id = MESSAGE_TEMPLATES[i]
            else:
                event = _V1_EXTRA_EVENTS[(i - len(MESSAGE_TEMPLATES)) % len(_V1_EXTRA_EVENTS)]
                template_id = _courier_id(self.seed, "v1-template", i)
            created = self._ago("v1-template", i, 60, 700)
            channels: list[Any] = ["email"]
            if i % 3 == 1:
                channels = ["sms"]
            elif i % 3 == 2:
                channels = ["inbox", {"method": "single", "channels": ["push", "email"]}]
            record: Json = {
                "id": template_id,
                "created_at": created,
                "updated_at": self._after("v1-template", i, created),
                "event_ids": [event],
                "routing": {"method": "all" if i % 3 == 2 else "single", "channels": channels},
                "topic_id": self._topic_ids[i % len(self._topic_ids)],
                "title": _V1_TEMPLATES[i % len(_V1_TEMPLATES)],
            }
            if i % 2 == 0:
                tag = _TAGS[i % len(_TAGS)]
                record["tags"] = {"data": [{"id": _courier_id(self.seed, "tag", tag, length=12), "name": tag}]}
            if i % 3 == 0:
                record["note"] = "Legacy template"
            if i % 2 == 1:
                record["brand_id"] = self._brands_list[i % len(self._brands_list)]["id"]  # undocumented
            v1.append(record)
        v2: list[Json] = []
        for i in range(self.counts.v2_notifications):
            created = self._ago("v2-template", i, 10, 300)
            creator, _ = self._member("v2-template", i)
            published = i % 3 != 2
            record = {
                "id": "nt_" + _courier_id(self.seed, "v2-template", i, length=26),
                "name": _V2_TEMPLATES[i % len(_V2_TEMPLATES)],
                "created": created,
                "creator": creator,
                "state": "PUBLISHED" if published else "DRAFT",
                "tags": [_TAGS[(i + k) % len(_TAGS)] for k in range(i % 3)],
            }
            if i % 4 != 3:
                record["updated"] = self._after("v2-template", i, created)
                record["updater"] = self._member("v2-template-updater", i)[0]
            if published and i % 2 == 0:
                topic_id = self._topic_ids[(i + 1) % len(self._topic_ids)]
                record["subscription_topic_id"] = topic_id
                record["topic_id"] = topic_id
            v2.append(record)
        # The message log's templates first, then V1 and V2 interleaved.
        head, rest = v1[: len(MESSAGE_TEMPLATES)], v1[len(MESSAGE_TEMPLATES) :]
        mixed: list[Json] = list(head)
        for k in range(max(len(rest), len(v2))):
            mixed.extend(v2[k : k + 1] + rest[k : k + 1])
        self._notifications_list = mixed

    def _build_lists(self) -> None:
        self._lists_list: list[Json] = []
        self._subscriptions: dict[str, list[Json]] = {}
        lo, hi = self.counts.list_subscribers
        everyone = range(len(self.user_ids))
        for j in range(self.counts.lists):
            list_id, name = _LISTS[j % len(_LISTS)]
            created = self._ago("list", j, 30, 500)
            self._lists_list.append(
                {"id": list_id, "name": name, "created": iso(created), "updated": iso(self._after("list", j, created))}
            )
            count = min(len(self.user_ids), lo + _h(self.seed, "list-size", j) % (hi - lo + 1))
            members = [0] + _pick(self.seed, "list-member", j, everyone[1:], count - 1)
            subs: list[Json] = []
            for u in members:
                user_id = self.user_ids[u]
                sub: Json = {"recipientId": user_id, "created": iso(self._after("subscription", j * 1000 + u, created))}
                flavour = _h(self.seed, "subscription-preferences", j, u) % 4
                if flavour == 1:
                    template_id = self._notifications_list[u % len(self._notifications_list)]["id"]
                    sub["preferences"] = {"notifications": {template_id: {"status": "OPTED_OUT"}}}
                elif flavour == 2:
                    topic_id = self._topic_ids[u % len(self._topic_ids)]
                    sub["preferences"] = {
                        "categories": {
                            topic_id: {
                                "status": "OPTED_IN",
                                "channel_preferences": [{"channel": "email"}],
                                "rules": [{"start": iso(created), "until": iso(self.anchor_ms + 30 * DAY_MS)}],
                            }
                        }
                    }
                subs.append(sub)
            self._subscriptions[list_id] = subs
        self._lists = {lst["id"]: lst for lst in self._lists_list}

    def _build_audiences(self) -> None:
        self._audiences_list: list[Json] = []
        self._audience_members: dict[str, list[Json]] = {}
        for a in range(self.counts.audiences):
            audience_id, name, description, rule = _AUDIENCES[a % len(_AUDIENCES)]
            created = self._ago("audience", a, 20, 400)
            updated = self._after("audience", a, created)
            if rule["operator"] in ("AND", "OR"):
                config: Json = {"filters": rule["filters"], "operator": rule["operator"]}
            else:
                config = {"filters": [rule], "operator": "AND"}
            self._audiences_list.append(
                {
                    "id": audience_id,
                    "name": name,
                    "description": description,
                    "created_at": iso(created),
                    "updated_at": iso(updated),
                    "filter": config,
                    "operator": config["operator"],
                }
            )
            version = 1 + _h(self.seed, "audience-version", a) % 5
            self._audience_members[audience_id] = [
                {
                    "added_at": iso(self._after("audience-member", a * 1000 + u, updated)),
                    "audience_id": audience_id,
                    "audience_version": version,
                    "member_id": user_id,
                    "reason": "MATCHED_FILTER",
                }
                for u, user_id in enumerate(self.user_ids)
                if _matches({"operator": config["operator"], "filters": config["filters"]}, self._profiles[user_id])
            ]
        self._audiences = {a["id"]: a for a in self._audiences_list}

    def _build_tenants(self) -> None:
        self._tenants_list: list[Json] = []
        self._tenant_users: dict[str, list[Json]] = {}
        self._tenant_templates: dict[str, list[Json]] = {}
        everyone = range(len(self.user_ids))
        lo, hi = self.counts.tenant_users
        tlo, thi = self.counts.tenant_templates
        for t in range(self.counts.tenants):
            tenant_id, name, parent = _TENANTS[t % len(_TENANTS)]
            if t >= len(_TENANTS):  # the "bench" size: more tenants than names
                tenant_id, name = f"{tenant_id}-{t // len(_TENANTS)}", f"{name} {t // len(_TENANTS)}"
            tenant: Json = {"id": tenant_id, "name": name}
            if parent is not None:
                tenant["parent_tenant_id"] = parent
            if t % 2 == 0:
                tenant["brand_id"] = self._brands_list[t % len(self._brands_list)]["id"]
            tenant["properties"] = {"region": "eu" if "eu" in tenant_id else "us", "seats": 10 + t * 5}
            tenant["user_profile"] = {"company": name}
            if t % 3 != 2:
                topic_id = self._topic_ids[(t + 1) % len(self._topic_ids)]
                item: Json = {"id": topic_id, "status": "OPTED_OUT" if t % 2 else "OPTED_IN"}
                if t % 3 == 0:
                    item.update(has_custom_routing=True, custom_routing=["email"])
                tenant["default_preferences"] = {"items": [item]}
            self._tenants_list.append(tenant)
            count = min(len(self.user_ids), lo + _h(self.seed, "tenant-size", t) % (hi - lo + 1))
            members = [0] + _pick(self.seed, "tenant-member", t, everyone[1:], count - 1)
            self._tenant_users[tenant_id] = [
                {
                    "tenant_id": tenant_id,
                    "user_id": self.user_ids[u],
                    "type": "user",
                    "profile": {"role": "admin" if u == members[-1] else "member"},
                }
                for u in members
            ]
            template_count = thi if t == 0 else tlo + _h(self.seed, "tenant-templates", t) % (thi - tlo + 1)
            templates: list[Json] = []
            for k in range(template_count):
                source = self._notifications_list[(t + k) % len(self._notifications_list)]
                created = self._ago("tenant-template", t * 100 + k, 5, 200)
                updated = self._after("tenant-template", t * 100 + k, created)
                templates.append(
                    {
                        "id": source["id"],
                        "created_at": iso(created),
                        "updated_at": iso(updated),
                        "published_at": iso(self._after("tenant-template-published", t * 100 + k, updated)),
                        "version": f"v{1 + k}",
                        "data": {"routing": {"method": "single", "channels": ["email", "sms"][: 1 + k % 2]}},
                    }
                )
            self._tenant_templates[tenant_id] = templates
        self._tenants = {t["id"]: t for t in self._tenants_list}
        self._tenant_positions = {t["id"]: i for i, t in enumerate(self._tenants_list)}

    def _build_audit_events(self) -> None:
        self._audit_list: list[Json] = []
        for i, ts in enumerate(self._spread("audit", self.counts.audit_events, 60)):
            event_type, target_kind = _AUDIT_TYPES[_h(self.seed, "audit-type", i) % len(_AUDIT_TYPES)]
            actor_id, email = self._member("audit", i)
            actor: Json = {"id": actor_id, "email": email} if i % 5 != 4 else {"id": actor_id}
            self._audit_list.append(
                {
                    "auditEventId": _uuid(self.seed, "audit", i),
                    "actor": actor,
                    "source": "studio" if i % 3 else "api",
                    "target": f"{target_kind}/{_courier_id(self.seed, 'audit-target', i, length=12)}",
                    "timestamp": iso(ts),
                    "type": event_type,
                }
            )
        self._audit = {e["auditEventId"]: e for e in self._audit_list}

    def _build_automations(self) -> None:
        self._templates: dict[str, list[Json]] = {}
        self._runs: dict[str, list[Json]] = {}
        self._run_index: dict[str, dict[str, tuple[int, Json]]] = {}
        self._run_ms: dict[str, list[int]] = {}
        for kind, names, count in (
            ("automations", _AUTOMATIONS, self.counts.automations),
            ("journeys", _JOURNEYS, self.counts.journeys),
        ):
            templates: list[Json] = []
            for i in range(count):
                created = self._ago(kind, i, 30, 400)
                templates.append(
                    {
                        "id": _uuid(self.seed, kind, i),
                        "name": names[i % len(names)] + (f" {i // len(names) + 1}" if i >= len(names) else ""),
                        "draft_only": i == count - 1,
                        "createdAt": iso(created),
                        "updatedAt": iso(self._after(kind, i, created)),
                    }
                )
            self._templates[kind] = templates
            published = [t for t in templates if not t["draft_only"]]
            runs: list[Json] = []
            self._run_ms[kind] = self._spread(f"{kind}-run", self.counts.runs, RUN_RETENTION_DAYS)
            for i, created_ms in enumerate(self._run_ms[kind]):
                template = published[_h(self.seed, kind, "run-template", i) % len(published)]
                trigger = _h(self.seed, kind, "run-source", i) % 3
                source = [f"invoke/{template['id']}"] if trigger else ["segment/track/Signed Up"]
                runs.append(
                    {
                        "run_id": _uuid(self.seed, kind, "run", i),
                        "source": source,
                        "created_at": iso(created_ms),
                        "status": _RUN_STATUSES[_h(self.seed, kind, "run-status", i) % len(_RUN_STATUSES)],
                        "template_id": template["id"],
                    }
                )
            self._runs[kind] = runs
            self._run_index[kind] = {run["run_id"]: (i, run) for i, run in enumerate(runs)}

    def _build_preference_logs(self) -> None:
        """Chronological changes, newest first when served; each toggles its (user, topic, tenant) state."""
        changeable = [t for t in self._topic_ids if self._topics[t]["default_status"] != "REQUIRED"]
        tenants_of: dict[str, list[str]] = {}
        for tenant_id, users in self._tenant_users.items():
            for association in users:
                tenants_of.setdefault(association["user_id"], []).append(tenant_id)
        instants = self._spread("preference-log", self.counts.preference_logs, 90)[::-1]  # oldest first
        state: dict[tuple[str, str, str | None], Json] = {}
        logs: list[Json] = []
        self._log_ms: dict[str, int] = {}
        for k, ts in enumerate(instants):
            user_id = self.user_ids[_h(self.seed, "log-user", k) % len(self.user_ids)]
            topic = self._topics[changeable[_h(self.seed, "log-topic", k) % len(changeable)]]
            user_tenants = tenants_of.get(user_id, [])
            tenant_id = None
            if user_tenants and _h(self.seed, "log-tenant", k) % 5 == 0:
                tenant_id = user_tenants[_h(self.seed, "log-tenant-pick", k) % len(user_tenants)]
            previous = state.get((user_id, topic["id"], tenant_id))
            if previous is None:
                status = "OPTED_OUT" if topic["default_status"] == "OPTED_IN" else "OPTED_IN"
            else:
                status = "OPTED_OUT" if previous["status"] == "OPTED_IN" else "OPTED_IN"
            custom = status == "OPTED_IN" and _h(self.seed, "log-routing", k) % 3 == 0
            value: Json = {
                "status": status,
                "custom_routing": list(topic["routing_options"]) if custom else [],
                "has_custom_routing": custom,
            }
            entry: Json = {
                "id": _uuid(self.seed, "preference-log", k),
                "user_id": user_id,
                "topic_id": topic["id"],
                "topic_name": topic["name"],
                **value,
                "timestamp": iso(ts),
            }
            if tenant_id is not None:
                entry["tenant_id"] = tenant_id
            if previous is not None:
                entry["previous"] = dict(previous)
            state[(user_id, topic["id"], tenant_id)] = value
            self._log_ms[entry["id"]] = ts
            logs.append(entry)
        self._logs = logs[::-1]  # newest first
        self._preference_state = state

    def _build_providers(self) -> None:
        self._providers_list: list[Json] = []
        for i in range(self.counts.providers):
            provider, channel, settings = _PROVIDERS[i % len(_PROVIDERS)]
            created = self._ago("provider", i, 100, 700)
            record: Json = {
                "id": _uuid(self.seed, "provider", i),
                "provider": provider,
                "title": "Default Configuration" if i % 2 == 0 else f"{provider} production",
                "created": created,
                "settings": copy.deepcopy(settings),
                "channel": channel,  # undocumented
            }
            if i % 2 == 1:
                record["alias"] = f"{provider}-prod"
            if i % 3 != 2:
                record["updated"] = self._after("provider", i, created)
            self._providers_list.append(record)
        self._providers = {p["id"]: p for p in self._providers_list}

    def _build_routing_strategies(self) -> None:
        self._routing_list: list[Json] = []
        for i in range(self.counts.routing_strategies):
            created = self._ago("routing", i, 30, 400)
            record: Json = {
                "id": "rs_" + _courier_id(self.seed, "routing", i, length=26).lower(),
                "name": _ROUTING_STRATEGIES[i % len(_ROUTING_STRATEGIES)],
                "created": created,
                "creator": self._member("routing", i)[0],
            }
            if i % 2 == 0:
                record.update(
                    updated=self._after("routing", i, created),
                    updater=self._member("routing-updater", i)[0],
                    description=f"{record['name']} routing",
                    tags=[_TAGS[i % len(_TAGS)]],
                )
            self._routing_list.append(record)

    def _build_broadcasts(self) -> None:
        broadcasts: list[tuple[int, Json]] = []
        for i in range(self.counts.broadcasts):
            name, channel, status = _BROADCASTS[i % len(_BROADCASTS)]
            created = self._ago("broadcast", i, 2, 120)
            creator = self._member("broadcast", i)[1]
            record: Json = {
                "id": "bst_" + _courier_id(self.seed, "broadcast", i, length=26).lower(),
                "name": name,
                "channel": channel,
                "status": status,
                "created_at": iso(created),
                "created_by": creator,
                "updated_at": iso(self._after("broadcast", i, created)),
                "updated_by": self._member("broadcast-updater", i)[1],
            }
            if status != "draft":
                by_list = i % 2 == 0
                target = (self._lists_list if by_list else self._audiences_list)[i % 2]
                record["schedule"] = {
                    "recipient_id": target["id"],
                    "recipient_type": "list" if by_list else "audience",
                    "scheduled_to": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((created + 3 * DAY_MS) // 1000)),
                    "timezone": "America/New_York",
                }
            broadcasts.append((created, record))
        self._broadcasts_list = [record for _, record in sorted(broadcasts, key=lambda pair: -pair[0])]
        self._broadcasts = {b["id"]: b for b in self._broadcasts_list}

    def _build_tokens(self) -> None:
        self._tokens: dict[str, list[Json]] = {}
        for u, user_id in enumerate(self.user_ids):
            count = 3 if u == 0 else _h(self.seed, "token-count", u) % 3
            tokens: list[Json] = []
            for k in range(count):
                provider_key = _TOKEN_PROVIDERS[(u + k) % len(_TOKEN_PROVIDERS)]
                expiry_kind = k if u == 0 else _h(self.seed, "token-expiry", u, k) % 3
                expiry: str | bool | None = (iso(self.anchor_ms + (30 + u) * DAY_MS), False, None)[expiry_kind]
                platform = "ios" if provider_key == "apn" else "android"
                tokens.append(
                    {
                        "token": f"{provider_key}-{_digest(self.seed, 'token', u, k).hex()}",
                        "provider_key": provider_key,
                        "expiry_date": expiry,
                        "device": {
                            "app_id": "com.example.app",
                            "device_id": _uuid(self.seed, "device", u, k),
                            "platform": platform,
                            "manufacturer": "Apple" if platform == "ios" else "Google",
                            "model": "iPhone 15" if platform == "ios" else "Pixel 8",
                        },
                        "tracking": {"os_version": "17.2" if platform == "ios" else "14", "ip": f"203.0.113.{u % 250}"},
                        "properties": {"registered_via": "sdk"},
                    }
                )
            self._tokens[user_id] = tokens

    # --- lookups -----------------------------------------------------------------------------------------

    @staticmethod
    def _get(mapping: dict[str, Any], key: str) -> Any:
        try:
            return mapping[key]
        except KeyError:
            raise _NotFound from None

    def _user(self, user_id: str) -> Json:
        return self._get(self._profiles, user_id)

    def _topic_preference(self, user_id: str, topic_id: str, value: Json | None) -> Json:
        topic = self._topics[topic_id]
        section = self._topic_section[topic_id]
        preference: Json = {
            "topic_id": topic_id,
            "topic_name": topic["name"],
            "status": value["status"] if value else topic["default_status"],
            "default_status": topic["default_status"],
            "has_custom_routing": bool(value and value["has_custom_routing"]),
            "section_id": section["id"],
            "section_name": section["name"],
        }
        if value and value["has_custom_routing"]:
            preference["custom_routing"] = list(value["custom_routing"])
        return preference

    def _tenant_context(self, query: dict[str, list[str]]) -> str | None:
        tenant_id = _param(query, "tenant_id")
        if tenant_id is not None:
            self._get(self._tenants, tenant_id)
        return tenant_id

    def _user_overrides(self, user_id: str, tenant_id: str | None) -> list[Json]:
        return [
            self._topic_preference(user_id, topic_id, self._preference_state[(user_id, topic_id, tenant_id)])
            for topic_id in self._topic_ids
            if (user_id, topic_id, tenant_id) in self._preference_state
        ]

    # --- paging envelopes --------------------------------------------------------------------------------

    def _paging_b(
        self,
        template: str,
        path: str,
        records: Sequence[Json],
        key: Callable[[Json], str],
        query: dict[str, list[str]],
        positions: Mapping[str, int] | None = None,
    ) -> Json:
        limit = _limit(query, default=20, maximum=100, clamp=False)
        page = _page(records, key, template, _param(query, "cursor"), limit, positions=positions)
        filters = {name: values[-1] for name, values in query.items() if values and name not in ("cursor", "limit")}
        url = path + ("?" + urlencode({name: values[-1] for name, values in query.items() if values}) if query else "")
        next_url = None
        if page.next_cursor is not None:
            next_url = f"{path}?{urlencode({**filters, 'cursor': page.next_cursor, 'limit': limit})}"
        return {
            "items": page.records,
            "has_more": page.next_cursor is not None,
            "cursor": page.next_cursor,
            "next_url": next_url,
            "url": url,
            "type": "list",
        }

    def _paging_c(self, template: str, kind: str, query: dict[str, list[str]]) -> Json:
        version = _param(query, "version") or "published"
        if version not in ("published", "draft"):
            raise _BadRequest(f"Invalid version: expected published or draft, got {version!r}")
        templates = [
            {
                "id": t["id"],
                "name": t["name"],
                "version": version,
                "createdAt": t["createdAt"],
                "updatedAt": t["updatedAt"],
            }
            for t in self._templates[kind]
            if version == "draft" or not t["draft_only"]
        ]
        page = _page(
            templates, lambda t: t["id"], f"{template}?version={version}", _param(query, "cursor"), self.page_size
        )
        body: Json = {"templates": page.records}
        if page.next_cursor is not None:
            body["cursor"] = page.next_cursor
        return body

    def _paging_d(self, template: str, kind: str, query: dict[str, list[str]]) -> Json:
        limit = _run_limit(query)
        start_date, end_date = _param(query, "start_date"), _param(query, "end_date")
        lower = parse_instant(start_date, "start_date") if start_date else None
        upper = parse_instant(end_date, "end_date", upper=True) if end_date else None
        statuses, template_ids = _csv(query, "status"), _csv(query, "template_id")
        runs = [
            run
            for run, created_ms in zip(self._runs[kind], self._run_ms[kind], strict=True)
            if (lower is None or created_ms >= lower)
            and (upper is None or created_ms <= upper)
            and (statuses is None or run["status"] in statuses)
            and (template_ids is None or run["template_id"] in template_ids)
        ]
        page = _page(runs, lambda r: r["run_id"], template, _param(query, "cursor"), limit, backward=kind == "journeys")
        body: Json = {"runs": page.records}
        if page.next_cursor is not None:
            body["next_cursor"] = page.next_cursor
        if kind == "journeys" and page.prev_cursor is not None:
            body["prev_cursor"] = page.prev_cursor
        return body

    def _paged(
        self,
        template: str,
        records: Sequence[Json],
        key: Callable[[Json], str],
        query: dict[str, list[str]],
        records_key: str,
        size: int | None = None,
    ) -> Json:
        page = _page(records, key, template, _param(query, "cursor"), size or self.page_size)
        return _paging_a(page, records_key)

    # --- handlers: (route template, ids from the path, query) -> body ------------------------------------

    def _serve_brands(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paged(template, self._brands_list, lambda b: b["id"], query, "results")

    def _serve_brand(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._brands, ids[0])

    def _serve_notifications(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        event_id, tags = _param(query, "event_id"), _csv(query, "tags")
        wanted = {tag.lower() for tag in tags} if tags else set()

        def keep(record: Json) -> bool:
            if event_id is not None and event_id not in record.get("event_ids", []):
                return False
            names = (
                record["tags"]
                if isinstance(record.get("tags"), list)
                else [t["name"] for t in record.get("tags", {}).get("data", [])]
            )
            return wanted <= {name.lower() for name in names}

        records = [r for r in self._notifications_list if keep(r)]
        return self._paged(template, records, lambda r: r["id"], query, "results")

    def _serve_lists(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        pattern = _param(query, "pattern")
        matcher = _list_pattern(pattern) if pattern else None
        records = [lst for lst in self._lists_list if matcher is None or matcher.fullmatch(lst["id"])]
        return self._paged(template, records, lambda r: r["id"], query, "items")

    def _serve_list(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._lists, ids[0])

    def _serve_subscriptions(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        subs = self._get(self._subscriptions, ids[0])
        return self._paged(f"/lists/{ids[0]}/subscriptions", subs, lambda s: s["recipientId"], query, "items")

    def _serve_audiences(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paged(template, self._audiences_list, lambda a: a["id"], query, "items")

    def _serve_audience(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._audiences, ids[0])

    def _serve_members(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        members = self._get(self._audience_members, ids[0])
        return self._paged(f"/audiences/{ids[0]}/members", members, lambda m: m["member_id"], query, "items")

    def _serve_tenants(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        parent = _param(query, "parent_tenant_id")
        if parent is None:
            return self._paging_b(template, "/tenants", self._tenants_list, _id, query, self._tenant_positions)
        records = [t for t in self._tenants_list if t.get("parent_tenant_id") == parent]
        return self._paging_b(template, "/tenants", records, _id, query)

    def _serve_tenant(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._tenants, ids[0])

    def _serve_tenant_users(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        users = self._get(self._tenant_users, ids[0])
        path = f"/tenants/{ids[0]}/users"
        return self._paging_b(path, path, users, lambda u: u["user_id"], query)

    def _serve_tenant_templates(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        templates = self._get(self._tenant_templates, ids[0])
        path = f"/tenants/{ids[0]}/templates"
        return self._paging_b(path, path, templates, lambda t: t["id"], query)

    def _serve_tenant_template(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        templates = {t["id"]: t for t in self._get(self._tenant_templates, ids[0])}
        found = dict(self._get(templates, ids[1]))
        found.pop("data")  # BaseTemplateTenantAssociation: the list item without ``data``
        return found

    def _serve_user_tenants(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        self._user(ids[0])
        associations = [a for users in self._tenant_users.values() for a in users if a["user_id"] == ids[0]]
        path = f"/users/{ids[0]}/tenants"
        return self._paging_b(path, path, associations, lambda a: a["tenant_id"], query)

    def _serve_audit_events(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paged(template, self._audit_list, lambda e: e["auditEventId"], query, "results")

    def _serve_audit_event(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._audit, ids[0])

    def _serve_automations(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paging_c(template, "automations", query)

    def _serve_journeys(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paging_c(template, "journeys", query)

    def _serve_automation_runs(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paging_d(template, "automations", query)

    def _serve_journey_runs(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paging_d(template, "journeys", query)

    def _serve_journey_run(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        i, run = self._get(self._run_index["journeys"], ids[0])
        created = self._run_ms["journeys"][i]
        return {"run": {**run, "updated_at": iso(self._after("journey-run-updated", i, created))}}

    def _steps(self, kind: str, run_id: str) -> list[Json]:
        i, run = self._get(self._run_index[kind], run_id)
        created = self._run_ms[kind][i]
        actions = ["send", "delay", "send", "exit"][: 1 + _h(self.seed, kind, "steps", i) % 3]
        final = {"NOT PROCESSED": "SKIPPED"}.get(run["status"], run["status"])
        steps: list[Json] = []
        for k, action in enumerate(actions):
            status = final if k == len(actions) - 1 else "PROCESSED"
            started = created + k * 60_000
            step: Json = {
                "action": action,
                "status": status,
                "created_at": iso(started),
                "updated_at": iso(started + 1_500),
            }
            if action == "send" and status == "PROCESSED":
                step["message_id"] = (
                    f"1-{started // 1000:08x}-{_digest(self.seed, kind, 'message', i, k, size=12).hex()}"
                )
            if kind == "automations":
                step["step_id"] = _uuid(self.seed, kind, "step", i, k)
            else:
                step["node_id"] = f"node_{k + 1}"
                step["error"] = (
                    {"message": "Fetch failed: GET api.example.com returned 404"} if status == "ERROR" else None
                )
                step["skip_reason"] = "Node conditions not met" if status == "SKIPPED" else None
            steps.append(step)
        return steps

    def _serve_automation_run_steps(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return {"steps": self._steps("automations", ids[0])}

    def _serve_journey_run_steps(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return {"steps": self._steps("journeys", ids[0])}

    def _serve_sections(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return {"results": self._sections_list}

    def _serve_section(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._sections, ids[0])

    def _topics_of(self, section_id: str) -> dict[str, Json]:
        return {t["id"]: t for t in self._get(self._sections, section_id)["topics"]}

    def _serve_topics(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return {"results": list(self._topics_of(ids[0]).values())}

    def _serve_topic(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._topics_of(ids[0]), ids[1])

    def _serve_preference_logs(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        limit = _limit(query, default=25, maximum=100, clamp=True)
        since = _param(query, "since")
        lower = parse_instant(since, "since") if since else None
        user_id, tenant_id = _param(query, "user_id"), _param(query, "tenant_id")
        if tenant_id is not None and user_id is None:
            raise _BadRequest("tenant_id is only valid together with user_id")
        records = [
            entry
            for entry in self._logs
            if (lower is None or self._log_ms[entry["id"]] >= lower)
            and (user_id is None or entry["user_id"] == user_id)
            and (tenant_id is None or entry.get("tenant_id") == tenant_id)
        ]
        return self._paged(template, records, lambda e: e["id"], query, "items", size=limit)

    def _serve_providers(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._paged(template, self._providers_list, lambda p: p["id"], query, "results")

    def _serve_provider(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._providers, ids[0])

    def _serve_routing_strategies(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        limit = _limit(query, default=20, maximum=100, clamp=False)
        return self._paged(template, self._routing_list, lambda r: r["id"], query, "results", size=limit)

    def _serve_broadcasts(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        limit = _limit(query, default=20, maximum=100, clamp=True)
        return self._paged(template, self._broadcasts_list, lambda b: b["id"], query, "results", size=limit)

    def _serve_broadcast(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        return self._get(self._broadcasts, ids[0])

    def _serve_profile(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        profile = self._user(ids[0])
        categories = {
            p["topic_id"]: {
                "status": p["status"],
                **(
                    {"channel_preferences": [{"channel": c} for c in p["custom_routing"]]}
                    if p.get("custom_routing")
                    else {}
                ),
            }
            for p in self._user_overrides(ids[0], None)
        }
        return {"profile": profile, "preferences": {"categories": categories, "notifications": {}}}

    def _serve_profile_lists(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        self._user(ids[0])
        results: list[Json] = []
        for lst in self._lists_list:
            for sub in self._subscriptions[lst["id"]]:
                if sub["recipientId"] == ids[0]:
                    results.append({**lst, **({"preferences": sub["preferences"]} if "preferences" in sub else {})})
        return self._paged(f"/profiles/{ids[0]}/lists", results, lambda r: r["id"], query, "results")

    def _serve_tokens(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        self._user(ids[0])
        return {"tokens": self._tokens[ids[0]]}

    def _serve_token(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        self._user(ids[0])
        token = self._get({t["token"]: t for t in self._tokens[ids[0]]}, ids[1])
        return {**token, "status": "active", "status_reason": None}

    def _serve_user_preferences(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        self._user(ids[0])
        items = self._user_overrides(ids[0], self._tenant_context(query))
        return {"items": items, "paging": {"cursor": None, "more": False}}

    def _serve_user_preference(self, template: str, ids: list[str], query: dict[str, list[str]]) -> Json:
        self._user(ids[0])
        tenant_id = self._tenant_context(query)
        self._get(self._topics, ids[1])
        return {
            "topic": self._topic_preference(ids[0], ids[1], self._preference_state.get((ids[0], ids[1], tenant_id)))
        }
