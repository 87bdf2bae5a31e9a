"""Brands, providers, routing strategies, broadcasts and audit events: the workspace's own settings and history.

* ``/brands``: paging A; ``/brands/{id}``. Epoch-ms ``created``/``updated``/``published``.
* ``/providers``: paging A; ``/providers/{id}``. Epoch-ms timestamps; ``channel`` is sent though the SDK does not
  document it, and ``settings`` carry fake secrets, each containing ``PROVIDER_SECRET_MARKER``, so a connector's
  dropping of ``settings`` can be tested.
* ``/routing-strategies``: paging A with ``limit`` (default 20, over 100 is 400). Epoch-ms timestamps.
* ``/broadcasts``: paging A with ``limit`` (default 20, clamped to 100), newest first; ``/broadcasts/{id}``.
* ``/audit-events``: paging A, newest first; ``/audit-events/{id}``.

Builds ``workspace.brands``, ``providers``, ``broadcasts``, ``audit_events`` (each with ``..._by_id``) and
``routing_strategies``.
"""

from __future__ import annotations

import copy
import time
from typing import TYPE_CHECKING, Any

from courier_emulator.generation import DAY_MS, TAGS, iso
from courier_emulator.paging import limit, paging_a
from courier_emulator.registry import WORKSPACE_ROUTES, Request, builds, lookup, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

PROVIDER_SECRET_MARKER = "fake-emulator-provider-secret"
BRANDS = per_size(small=3, demo=5)
PROVIDERS = per_size(small=3, demo=5)
ROUTING_STRATEGIES = per_size(small=3, demo=4)
BROADCASTS = per_size(small=3, demo=4)
AUDIT_EVENTS = per_size(small=5, demo=40)
_BRANDS = (
    ("Default", "#9122C2"),
    ("Acme", "#E4572E"),
    ("Globex", "#17BEBB"),
    ("Initech", "#FFC914"),
    ("Hooli", "#2E282A"),
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
    ("firebase-fcm", "push", {"service_account": f'{{"private_key": "{PROVIDER_SECRET_MARKER}"}}', "rate_limit": None}),
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
_AUDIT_TYPES = (
    ("brand:updated", "brand"),
    ("notification:published", "notification"),
    ("list:created", "list"),
    ("tenant:updated", "tenant"),
    ("api-key:created", "api-key"),
    ("workspace:member-invited", "member"),
)


@builds("brands")
def build_brands(ws: Workspace) -> dict[str, int]:
    ws.brands = []
    for i in range(BRANDS[ws.size]):
        name, color = _BRANDS[i % len(_BRANDS)]
        created = ws.ago("brand", i, 200, 700)
        updated = ws.after("brand", i, created)
        email = {
            "header": {
                "barColor": color,
                "logo": {"href": "https://example.com", "image": f"https://example.com/{i}/logo.png"},
            },
            "footer": {
                "markdown": f"{name}, 1 Example Street",
                "social": {"twitter": {"url": "https://twitter.com/example"}},
            },
            "head": {"inheritDefault": True},
        }
        ws.brands.append(
            {
                "id": ws.courier_id("brand", i),
                "name": name,
                "created": created,
                "updated": updated,
                "published": updated if i % 3 != 2 else None,
                "version": f"v{1 + ws.h('brand', 'version', i) % 40}",
                "settings": {"colors": {"primary": color, "secondary": "#C1B6DD"}, "email": email},
                "snippets": {"items": [{"name": "signature", "value": f"The {name} team"}]},
            }
        )
    ws.brands_by_id = {b["id"]: b for b in ws.brands}
    return {"brands": len(ws.brands)}


@builds("audit_events")
def build_audit_events(ws: Workspace) -> dict[str, int]:
    ws.audit_events = []
    for i, ts in enumerate(ws.spread("audit", AUDIT_EVENTS[ws.size], 60)):
        event_type, target_kind = _AUDIT_TYPES[ws.h("audit-type", i) % len(_AUDIT_TYPES)]
        actor_id, email = ws.member("audit", i)
        actor: Json = {"id": actor_id, "email": email} if i % 5 != 4 else {"id": actor_id}
        ws.audit_events.append(
            {
                "auditEventId": ws.uuid("audit", i),
                "actor": actor,
                "source": "studio" if i % 3 else "api",
                "target": f"{target_kind}/{ws.courier_id('audit-target', i, length=12)}",
                "timestamp": iso(ts),
                "type": event_type,
            }
        )
    ws.audit_events_by_id = {e["auditEventId"]: e for e in ws.audit_events}
    return {"audit_events": len(ws.audit_events)}


@builds("providers")
def build_providers(ws: Workspace) -> dict[str, int]:
    ws.providers = []
    for i in range(PROVIDERS[ws.size]):
        provider, channel, settings = _PROVIDERS[i % len(_PROVIDERS)]
        created = ws.ago("provider", i, 100, 700)
        record: Json = {
            "id": ws.uuid("provider", i),
            "provider": provider,
            "title": "Default Configuration" if i % 2 == 0 else f"{provider} production",
            "created": created,
            "settings": copy.deepcopy(settings),
            "channel": channel,  # undocumented
        }
        if i % 2 == 1:
            record["alias"] = f"{provider}-prod"
        if i % 3 != 2:
            record["updated"] = ws.after("provider", i, created)
        ws.providers.append(record)
    ws.providers_by_id = {p["id"]: p for p in ws.providers}
    return {"providers": len(ws.providers)}


@builds("routing_strategies")
def build_routing_strategies(ws: Workspace) -> dict[str, int]:
    ws.routing_strategies = []
    for i in range(ROUTING_STRATEGIES[ws.size]):
        created = ws.ago("routing", i, 30, 400)
        record: Json = {
            "id": "rs_" + ws.courier_id("routing", i, length=26).lower(),
            "name": _ROUTING_STRATEGIES[i % len(_ROUTING_STRATEGIES)],
            "created": created,
            "creator": ws.member("routing", i)[0],
        }
        if i % 2 == 0:
            record.update(
                updated=ws.after("routing", i, created),
                updater=ws.member("routing-updater", i)[0],
                description=f"{record['name']} routing",
                tags=[TAGS[i % len(TAGS)]],
            )
        ws.routing_strategies.append(record)
    return {"routing_strategies": len(ws.routing_strategies)}


@builds("broadcasts", needs=("lists", "audiences"))
def build_broadcasts(ws: Workspace) -> dict[str, int]:
    broadcasts: list[tuple[int, Json]] = []
    for i in range(BROADCASTS[ws.size]):
        name, channel, status = _BROADCASTS[i % len(_BROADCASTS)]
        created = ws.ago("broadcast", i, 2, 120)
        record: Json = {
            "id": "bst_" + ws.courier_id("broadcast", i, length=26).lower(),
            "name": name,
            "channel": channel,
            "status": status,
            "created_at": iso(created),
            "created_by": ws.member("broadcast", i)[1],
            "updated_at": iso(ws.after("broadcast", i, created)),
            "updated_by": ws.member("broadcast-updater", i)[1],
        }
        if status != "draft":
            by_list = i % 2 == 0
            target = (ws.lists if by_list else ws.audiences)[i % 2]
            record["schedule"] = {
                "recipient_id": target["id"],
                "recipient_type": "list" if by_list else "audience",
                "scheduled_to": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((created + 3 * DAY_MS) // 1000)),
                "timezone": "America/New_York",
            }
        broadcasts.append((created, record))
    ws.broadcasts = [record for _, record in sorted(broadcasts, key=lambda pair: -pair[0])]
    ws.broadcasts_by_id = {b["id"]: b for b in ws.broadcasts}
    return {"broadcasts": len(ws.broadcasts)}


@WORKSPACE_ROUTES.get("/brands")
def list_brands(ws: Workspace, request: Request) -> Json:
    return paging_a(request, ws.brands, "id", "results", ws.page_size)


@WORKSPACE_ROUTES.get("/brands/{id}")
def retrieve_brand(ws: Workspace, request: Request) -> Json:
    return lookup(ws.brands_by_id, request.ids[0])


@WORKSPACE_ROUTES.get("/audit-events")
def list_audit_events(ws: Workspace, request: Request) -> Json:
    return paging_a(request, ws.audit_events, "auditEventId", "results", ws.page_size)


@WORKSPACE_ROUTES.get("/audit-events/{id}")
def retrieve_audit_event(ws: Workspace, request: Request) -> Json:
    return lookup(ws.audit_events_by_id, request.ids[0])


@WORKSPACE_ROUTES.get("/providers")
def list_providers(ws: Workspace, request: Request) -> Json:
    return paging_a(request, ws.providers, "id", "results", ws.page_size)


@WORKSPACE_ROUTES.get("/providers/{id}")
def retrieve_provider(ws: Workspace, request: Request) -> Json:
    return lookup(ws.providers_by_id, request.ids[0])


@WORKSPACE_ROUTES.get("/routing-strategies")
def list_routing_strategies(ws: Workspace, request: Request) -> Json:
    size = limit(request, default=20, maximum=100, clamp=False)
    return paging_a(request, ws.routing_strategies, "id", "results", size)


@WORKSPACE_ROUTES.get("/broadcasts")
def list_broadcasts(ws: Workspace, request: Request) -> Json:
    size = limit(request, default=20, maximum=100, clamp=True)
    return paging_a(request, ws.broadcasts, "id", "results", size)


@WORKSPACE_ROUTES.get("/broadcasts/{id}")
def retrieve_broadcast(ws: Workspace, request: Request) -> Json:
    return lookup(ws.broadcasts_by_id, request.ids[0])
