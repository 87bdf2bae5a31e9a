"""Notification templates: ``/notifications`` (paging A; ``event_id`` and ``tags`` filters).

V1 templates (epoch-ms ``created_at``/``updated_at``, ``event_ids``, ``routing``, ``tags.data``; some carry
``brand_id``, a field the SDK does not document) and V2 ones (``nt_...`` ids, ``state``, a list of ``tags``),
interleaved after the message log's three templates (``MESSAGE_TEMPLATES``, the first V1 templates, so that a
message's ``notification`` and ``event`` resolve here). Builds ``workspace.notifications``.

``/notifications/{id}/versions`` (``NotificationTemplateVersionListResponse``): paging A over ``versions`` with
``limit`` (default 10, max 10; outside 1-10 a 400), most recent first: ``draft`` (with ``has_changes``), then,
once published, ``published:vNNN`` and the older ``vNNN`` down to ``v001``, each with an epoch-ms ``created`` and
its ``creator``. A never-published V2 template has only its draft. An unknown id is a 404. Builds
``workspace.notification_versions`` (template id -> versions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import TAGS
from courier_emulator.paging import limit, paging_a
from courier_emulator.registry import WORKSPACE_ROUTES, Request, builds, lookup, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

V1_NOTIFICATIONS = per_size(small=3, demo=6)
V2_NOTIFICATIONS = per_size(small=2, demo=6)
# The message log's templates (``courier_emulator.data.EVENTS``).
MESSAGE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("welcome", "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4"),
    ("password-reset", "K2Q7HZ1M3VXN0B8C5D4F6G9J2LPR"),
    ("weekly-digest", "W9E3RT6YU1IO4PA7SD2FG5HJ8KLZ"),
)
_V1_TEMPLATES = ("Welcome", "Password reset", "Weekly digest", "Invoice ready", "Login alert", "Trial ending")
_V1_EXTRA_EVENTS = ("invoice-ready", "login-alert", "trial-ending")
_V2_TEMPLATES = ("Order shipped", "Comment mention", "Team invite", "Usage report", "Survey", "Holiday promo")


@builds("notifications", needs=("preferences", "brands"))
def build_notifications(ws: Workspace) -> dict[str, int]:
    v1: list[Json] = []
    for i in range(V1_NOTIFICATIONS[ws.size]):
        if i < len(MESSAGE_TEMPLATES):
            event, template_id = MESSAGE_TEMPLATES[i]
        else:
            event = _V1_EXTRA_EVENTS[(i - len(MESSAGE_TEMPLATES)) % len(_V1_EXTRA_EVENTS)]
            template_id = ws.courier_id("v1-template", i)
        created = ws.ago("v1-template", i, 60, 700)
        channels: list[Any] = ["email"]
        if i % 3 == 1:
            channels = ["sms"]
        elif i % 3 == 2:
            channels = ["inbox", {"method": "single", "channels": ["push", "email"]}]
        record: Json = {
            "id": template_id,
            "created_at": created,
            "updated_at": ws.after("v1-template", i, created),
            "event_ids": [event],
            "routing": {"method": "all" if i % 3 == 2 else "single", "channels": channels},
            "topic_id": ws.topic_ids[i % len(ws.topic_ids)],
            "title": _V1_TEMPLATES[i % len(_V1_TEMPLATES)],
        }
        if i % 2 == 0:
            tag = TAGS[i % len(TAGS)]
            record["tags"] = {"data": [{"id": ws.courier_id("tag", tag, length=12), "name": tag}]}
        if i % 3 == 0:
            record["note"] = "Legacy template"
        if i % 2 == 1:
            record["brand_id"] = ws.brands[i % len(ws.brands)]["id"]  # undocumented
        v1.append(record)
    v2: list[Json] = []
    for i in range(V2_NOTIFICATIONS[ws.size]):
        created = ws.ago("v2-template", i, 10, 300)
        creator, _ = ws.member("v2-template", i)
        published = i % 3 != 2
        record = {
            "id": "nt_" + ws.courier_id("v2-template", i, length=26),
            "name": _V2_TEMPLATES[i % len(_V2_TEMPLATES)],
            "created": created,
            "creator": creator,
            "state": "PUBLISHED" if published else "DRAFT",
            "tags": [TAGS[(i + k) % len(TAGS)] for k in range(i % 3)],
        }
        if i % 4 != 3:
            record["updated"] = ws.after("v2-template", i, created)
            record["updater"] = ws.member("v2-template-updater", i)[0]
        if published and i % 2 == 0:
            topic_id = ws.topic_ids[(i + 1) % len(ws.topic_ids)]
            record["subscription_topic_id"] = topic_id
            record["topic_id"] = topic_id
        v2.append(record)
    # The message log's templates first, then V1 and V2 interleaved.
    head, rest = v1[: len(MESSAGE_TEMPLATES)], v1[len(MESSAGE_TEMPLATES) :]
    mixed: list[Json] = list(head)
    for k in range(max(len(rest), len(v2))):
        mixed.extend(v2[k : k + 1] + rest[k : k + 1])
    ws.notifications = mixed
    return {"notifications": len(mixed)}


@WORKSPACE_ROUTES.get("/notifications")
def list_notifications(ws: Workspace, request: Request) -> Json:
    event_id, tags = request.param("event_id"), request.csv("tags")
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

    records = [r for r in ws.notifications if keep(r)]
    return paging_a(request, records, "id", "results", ws.page_size)


@builds("notification_versions", needs=("notifications",))
def build_notification_versions(ws: Workspace) -> dict[str, int]:
    ws.notification_versions = {}
    for i, template in enumerate(ws.notifications):
        start = template.get("created_at", template.get("created"))
        end = template.get("updated_at", template.get("updated", start))
        published = 0 if template.get("state") == "DRAFT" else 1 + ws.h("template-versions", i) % 4
        if end == start:
            published = min(published, 1)  # never edited: at most the version published when it was created
        editor = template.get("updater", template.get("creator")) or ws.member("template-version", i * 100)[0]
        versions: list[Json] = [
            {"created": end, "creator": editor, "version": "draft", "has_changes": not published or i % 2 == 0}
        ]
        for v in range(published, 0, -1):
            name = f"published:v{v:03d}" if v == published else f"v{v:03d}"
            created = start + (end - start) * v // (published + 1)
            versions.append(
                {"created": created, "creator": ws.member("template-version", i * 100 + v)[0], "version": name}
            )
        ws.notification_versions[template["id"]] = versions
    return {"notification_versions": sum(len(versions) for versions in ws.notification_versions.values())}


@WORKSPACE_ROUTES.get("/notifications/{id}/versions")
def list_notification_versions(ws: Workspace, request: Request) -> Json:
    versions = lookup(ws.notification_versions, request.ids[0])
    return paging_a(request, versions, "version", "versions", limit(request, default=10, maximum=10, clamp=False))
