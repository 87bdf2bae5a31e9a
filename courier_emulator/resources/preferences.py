"""Preferences: the workspace's sections and topics, the preference log, and each user's preferences.

* ``/preferences/sections`` (unpaginated ``{"results": [...]}``) and ``/{id}``,
  ``/preferences/sections/{id}/topics`` (``{"results": [...]}``) and ``/{topic_id}``.
* ``/preferences/logs``: paging A with ``limit`` (default 25, clamped to 100), newest first; ``since`` (a lower
  bound on ``timestamp``), ``user_id`` and ``tenant_id`` (only together with ``user_id``) filter.
* ``/users/{user_id}/preferences`` (``{"items", "paging"}``, ``paging`` always ``{"cursor": null, "more":
  false}``) and ``/users/{user_id}/preferences/{topic_id}``, both with an optional ``tenant_id`` context.

The log is chronological: each entry toggles its (user, topic, tenant) state; a user's preferences are the
latest entry for each topic in the requested tenant context, so the log and ``/users/{id}/preferences`` agree.
Builds ``workspace.sections`` (and ``sections_by_id``), ``topics`` (id -> topic), ``topic_section``,
``topic_ids``, ``preference_logs`` (newest first), ``preference_log_ms`` and ``preference_state``.

Digests (H.4): every topic at position 1 or 2 modulo 4 of ``topic_ids`` has a ``digest`` (``TopicDigestResponse``:
``template_id``, ``categories``, ``schedules``, ...). Each such topic has a default schedule of its own; the first
two share one more, a legacy ``sch/<uuid>`` one (so a schedule can be named by two topics); the others are
``sch_01...`` ids, but every third topic's own is legacy too, and every fourth's is disabled with no
``frequency`` (a stored cadence the enum cannot express). ``GET /digests/schedules/{schedule_id}/instances``:
paging B (``limit`` 1-100, default 20) over the schedule's ``DigestInstance``s, one per user, newest first; a
legacy id arrives percent-encoded (``sch%2F<uuid>``, one path segment, as the SDK sends it; unencoded, the path
matches no route: 404), and ``url``/``next_url`` keep it encoded. An unknown schedule is a 404; a disabled one
has no instances. Builds ``digest_schedules`` (id -> schedule), ``digest_schedule_topics`` (id -> the topics that
name it) and ``digest_instances`` (id -> instances).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import iso
from courier_emulator.paging import limit, paging_a, paging_b
from courier_emulator.registry import WORKSPACE_ROUTES, InvalidRequest, Request, builds, lookup, parse_instant, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

SECTIONS = per_size(small=2, demo=3)
TOPICS_PER_SECTION = per_size(small=2, demo=3)
PREFERENCE_LOGS = per_size(small=30, demo=200)
DIGEST_INSTANCES = per_size(small=(3, 5), demo=(5, 30))  # (fewest, most) per enabled schedule
_FREQUENCIES = ("daily", "weekly", "weekdays", "monthly", "custom_days")
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"  # ULID letters, as in sch_01m26xfcn3endt3nxy4e2kx2rh
_DIGEST_CATEGORIES = (("updates", "LAST", None), ("comments", "HIGHEST", "priority"), ("mentions", "FIRST", None))
_SECTIONS = (
    ("Account", (("Security alerts", "REQUIRED"), ("Billing", "OPTED_IN"), ("Account updates", "OPTED_IN"))),
    ("Product", (("Product updates", "OPTED_IN"), ("Tips and tutorials", "OPTED_OUT"), ("Beta invites", "OPTED_OUT"))),
    ("Marketing", (("Newsletter", "OPTED_IN"), ("Promotions", "OPTED_OUT"), ("Events", "OPTED_IN"))),
)


@builds("preferences")
def build_sections(ws: Workspace) -> dict[str, int]:
    ws.sections = []
    ws.topics = {}
    ws.topic_section = {}
    for s in range(SECTIONS[ws.size]):
        name, topic_specs = _SECTIONS[s % len(_SECTIONS)]
        created = ws.ago("section", s, 120, 600)
        creator, _ = ws.member("section", s)
        updater, _ = ws.member("section-updater", s)
        section: Json = {
            "id": ws.courier_id("section", s),
            "name": name,
            "created": iso(created),
            "updated": iso(ws.after("section", s, created)),
            "creator": creator,
            "updater": updater,
            "description": f"{name} notifications",
            "has_custom_routing": s % 2 == 0,
            "routing_options": ["email", "push"] if s % 2 == 0 else [],
            "topics": [],
        }
        for t in range(TOPICS_PER_SECTION[ws.size]):
            topic_name, default_status = topic_specs[t % len(topic_specs)]
            key = s * 10 + t
            topic_created = ws.after("topic-created", key, created)
            topic: Json = {
                "id": ws.courier_id("topic", key),
                "name": topic_name,
                "created": iso(topic_created),
                "updated": iso(ws.after("topic", key, topic_created)),
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
            ws.topics[topic["id"]] = topic
            ws.topic_section[topic["id"]] = section
        ws.sections.append(section)
    ws.sections_by_id = {s["id"]: s for s in ws.sections}
    ws.topic_ids = list(ws.topics)
    return {"preference_sections": len(ws.sections), "preference_topics": len(ws.topics)}


@builds("preference_logs", needs=("users", "preferences", "tenants"))
def build_preference_logs(ws: Workspace) -> dict[str, int]:
    """Chronological changes, newest first when served; each toggles its (user, topic, tenant) state."""
    changeable = [t for t in ws.topic_ids if ws.topics[t]["default_status"] != "REQUIRED"]
    tenants_of: dict[str, list[str]] = {}
    for tenant_id, users in ws.tenant_users.items():
        for association in users:
            tenants_of.setdefault(association["user_id"], []).append(tenant_id)
    instants = ws.spread("preference-log", PREFERENCE_LOGS[ws.size], 90)[::-1]  # oldest first
    state: dict[tuple[str, str, str | None], Json] = {}
    logs: list[Json] = []
    ws.preference_log_ms = {}
    for k, ts in enumerate(instants):
        user_id = ws.user_ids[ws.h("log-user", k) % len(ws.user_ids)]
        topic = ws.topics[changeable[ws.h("log-topic", k) % len(changeable)]]
        user_tenants = tenants_of.get(user_id, [])
        tenant_id = None
        if user_tenants and ws.h("log-tenant", k) % 5 == 0:
            tenant_id = user_tenants[ws.h("log-tenant-pick", k) % len(user_tenants)]
        previous = state.get((user_id, topic["id"], tenant_id))
        if previous is None:
            status = "OPTED_OUT" if topic["default_status"] == "OPTED_IN" else "OPTED_IN"
        else:
            status = "OPTED_OUT" if previous["status"] == "OPTED_IN" else "OPTED_IN"
        custom = status == "OPTED_IN" and ws.h("log-routing", k) % 3 == 0
        value: Json = {
            "status": status,
            "custom_routing": list(topic["routing_options"]) if custom else [],
            "has_custom_routing": custom,
        }
        entry: Json = {
            "id": ws.uuid("preference-log", k),
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
        ws.preference_log_ms[entry["id"]] = ts
        logs.append(entry)
    ws.preference_logs = logs[::-1]  # newest first
    ws.preference_state = state
    return {"preference_logs": len(ws.preference_logs)}


def topic_preference(ws: Workspace, user_id: str, topic_id: str, value: Json | None) -> Json:
    """A user's preference for a topic: ``value`` (its latest log entry's) or the topic's default."""
    topic = ws.topics[topic_id]
    section = ws.topic_section[topic_id]
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


def user_overrides(ws: Workspace, user_id: str, tenant_id: str | None) -> list[Json]:
    """The topics a user changed (in a tenant's context, or outside any for None), in topic order."""
    return [
        topic_preference(ws, user_id, topic_id, ws.preference_state[(user_id, topic_id, tenant_id)])
        for topic_id in ws.topic_ids
        if (user_id, topic_id, tenant_id) in ws.preference_state
    ]


def _tenant_context(ws: Workspace, request: Request) -> str | None:
    tenant_id = request.param("tenant_id")
    if tenant_id is not None:
        lookup(ws.tenants_by_id, tenant_id)
    return tenant_id


@WORKSPACE_ROUTES.get("/preferences/sections")
def list_sections(ws: Workspace, request: Request) -> Json:
    return {"results": ws.sections}


@WORKSPACE_ROUTES.get("/preferences/sections/{id}")
def retrieve_section(ws: Workspace, request: Request) -> Json:
    return lookup(ws.sections_by_id, request.ids[0])


def _topics_of(ws: Workspace, section_id: str) -> dict[str, Json]:
    return {t["id"]: t for t in lookup(ws.sections_by_id, section_id)["topics"]}


@WORKSPACE_ROUTES.get("/preferences/sections/{id}/topics")
def list_topics(ws: Workspace, request: Request) -> Json:
    return {"results": list(_topics_of(ws, request.ids[0]).values())}


@WORKSPACE_ROUTES.get("/preferences/sections/{id}/topics/{id}")
def retrieve_topic(ws: Workspace, request: Request) -> Json:
    return lookup(_topics_of(ws, request.ids[0]), request.ids[1])


@WORKSPACE_ROUTES.get("/preferences/logs")
def list_preference_logs(ws: Workspace, request: Request) -> Json:
    size = limit(request, default=25, maximum=100, clamp=True)
    since = request.param("since")
    lower = parse_instant(since, "since") if since else None
    user_id, tenant_id = request.param("user_id"), request.param("tenant_id")
    if tenant_id is not None and user_id is None:
        raise InvalidRequest("tenant_id is only valid together with user_id")
    records = [
        entry
        for entry in ws.preference_logs
        if (lower is None or ws.preference_log_ms[entry["id"]] >= lower)
        and (user_id is None or entry["user_id"] == user_id)
        and (tenant_id is None or entry.get("tenant_id") == tenant_id)
    ]
    return paging_a(request, records, "id", "items", size)


@WORKSPACE_ROUTES.get("/users/{id}/preferences")
def retrieve_user_preferences(ws: Workspace, request: Request) -> Json:
    user_id = request.ids[0]
    lookup(ws.profiles, user_id)
    items = user_overrides(ws, user_id, _tenant_context(ws, request))
    return {"items": items, "paging": {"cursor": None, "more": False}}


@WORKSPACE_ROUTES.get("/users/{id}/preferences/{id}")
def retrieve_user_preference(ws: Workspace, request: Request) -> Json:
    user_id, topic_id = request.ids
    lookup(ws.profiles, user_id)
    tenant_id = _tenant_context(ws, request)
    lookup(ws.topics, topic_id)
    return {"topic": topic_preference(ws, user_id, topic_id, ws.preference_state.get((user_id, topic_id, tenant_id)))}


# --- digests -------------------------------------------------------------------------------------------------


def _schedule(ws: Workspace, key: int, created: int, *, legacy: bool, frequency: str | None, default: bool) -> Json:
    if legacy:
        schedule_id = f"sch/{ws.uuid('digest-schedule', key)}"
    else:
        schedule_id = "sch_01" + "".join(_CROCKFORD[b % 32] for b in ws.digest("digest-schedule", key, size=24))
    schedule: Json = {
        "schedule_id": schedule_id,
        "created": iso(created),
        "updated": iso(ws.after("digest-schedule", key, created)),
        "disabled": frequency is None,
        "is_default": default,
    }
    if frequency is not None:
        schedule.update(frequency=frequency, time=f"{8 + key % 10:02d}:{key * 15 % 60:02d}")
        if frequency == "weekly":
            schedule["day_of_week"] = _DAYS[1 + key % 5]
        elif frequency == "custom_days":
            schedule["days_of_week"] = [_DAYS[1 + (key + k) % 6] for k in (0, 2)]
        elif frequency == "monthly":
            schedule["day_of_month"] = 1 + key % 28
        if key % 2 == 1:
            schedule["timezone"] = "America/New_York"
    return schedule


@builds("digests", needs=("preferences", "users", "tenants", "notifications", "audiences"))
def build_digests(ws: Workspace) -> dict[str, int]:
    templates = [t["id"] for t in ws.notifications if t["id"].startswith("nt_")] or [t["id"] for t in ws.notifications]
    shared = _schedule(ws, 0, ws.ago("digest-schedule", 0, 300, 500), legacy=True, frequency="weekly", default=False)
    ws.digest_schedules = {shared["schedule_id"]: shared}
    ws.digest_schedule_topics = {shared["schedule_id"]: []}
    digest_topics = [topic_id for n, topic_id in enumerate(ws.topic_ids) if n % 4 in (1, 2)]
    for d, topic_id in enumerate(digest_topics):
        topic = ws.topics[topic_id]
        created = ws.after("digest", d, parse_instant(topic["created"], "created"))
        frequency = None if d % 4 == 3 else _FREQUENCIES[d % len(_FREQUENCIES)]
        own = _schedule(ws, d + 1, created, legacy=d % 3 == 2, frequency=frequency, default=True)
        schedules = [own, shared] if d < 2 else [own]
        ws.digest_schedules[own["schedule_id"]] = own
        for schedule in schedules:
            ws.digest_schedule_topics.setdefault(schedule["schedule_id"], []).append(topic_id)
        categories: list[Json] = []
        for key, retain, sort_key in _DIGEST_CATEGORIES[: 1 + d % 3]:
            category: Json = {"category_key": key, "retain": retain, "limit": 10 if sort_key is None else 5}
            if sort_key is not None:
                category["sort_key"] = sort_key
            categories.append(category)
        digest: Json = {
            "template_id": templates[d % len(templates)],
            "categories": categories,
            "schedules": [dict(schedule) for schedule in schedules],
            "created": iso(created),
            "updated": iso(ws.after("digest-updated", d, created)),
            "trigger_empty": d % 2 == 1,
        }
        if d % 3 == 1:
            digest["audience_id"] = ws.audiences[d % len(ws.audiences)]["id"]
        topic["digest"] = digest
    tenants_of: dict[str, list[str]] = {}
    for tenant_id, users in ws.tenant_users.items():
        for association in users:
            tenants_of.setdefault(association["user_id"], []).append(tenant_id)
    lo, hi = DIGEST_INSTANCES[ws.size]
    ws.digest_instances = {}
    for k, (schedule_id, schedule) in enumerate(ws.digest_schedules.items()):
        owner = ws.topics[ws.digest_schedule_topics[schedule_id][0]]["digest"]
        categories = [
            {key: value.lower() if key == "retain" else value for key, value in c.items() if key != "limit"}
            for c in owner["categories"]
        ]
        count = 0 if schedule["disabled"] else lo + ws.h("digest-instances", k) % (hi - lo + 1)
        instances: list[tuple[int, Json]] = []
        for u in ws.pick("digest-instance", k, range(len(ws.user_ids)), count):
            user_id = ws.user_ids[u]
            created = ws.ago("digest-instance", k * 1000 + u, 0, 30)
            counts = {c["category_key"]: ws.h("digest-events", k, u, c["category_key"]) % 6 for c in categories}
            instance: Json = {
                "digest_instance_id": ws.uuid("digest-instance", k, u),
                "user_id": user_id,
                "event_count": sum(counts.values()),
                "status": "COMPLETED" if ws.h("digest-status", k, u) % 4 == 0 else "IN_PROGRESS",
                "categories": categories,
                "category_key_counts": counts,
                "created_at": iso(created),
                "disabled": ws.h("digest-disabled", k, u) % 9 == 0,
            }
            if user_id in tenants_of and ws.h("digest-tenant", k, u) % 3 == 0:
                instance["tenant_id"] = tenants_of[user_id][0]
            instances.append((created, instance))
        ws.digest_instances[schedule_id] = [instance for _, instance in sorted(instances, key=lambda p: -p[0])]
    return {
        "digest_schedules": len(ws.digest_schedules),
        "digest_instances": sum(len(instances) for instances in ws.digest_instances.values()),
    }


@WORKSPACE_ROUTES.get("/digests/schedules/{id}/instances")
def list_digest_instances(ws: Workspace, request: Request) -> Json:
    return paging_b(request, lookup(ws.digest_instances, request.ids[0]), "digest_instance_id")
