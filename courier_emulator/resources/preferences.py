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

Digests (``/digests/...``) are not emulated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import iso
from courier_emulator.paging import limit, paging_a
from courier_emulator.registry import WORKSPACE_ROUTES, InvalidRequest, Request, builds, lookup, parse_instant, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

SECTIONS = per_size(small=2, demo=3)
TOPICS_PER_SECTION = per_size(small=2, demo=3)
PREFERENCE_LOGS = per_size(small=30, demo=200)
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
