"""Tenants, their users and their templates.

* ``/tenants``: paging B, ``parent_tenant_id`` filter; ``/tenants/{id}``.
* ``/tenants/{id}/users`` and ``/users/{user_id}/tenants``: paging B of ``{tenant_id, user_id, type, profile}``.
* ``/tenants/{id}/templates``: paging B; ``/tenants/{id}/templates/{template_id}`` (the item without ``data``).

``user-ada`` belongs to every tenant. The ``bench`` size holds 20,000 tenants (200 pages at the maximum limit of
100), so ``/tenants`` pages find the cursor's record through ``workspace.tenant_positions`` in O(1). Builds
``workspace.tenants`` (and ``tenants_by_id``, ``tenant_positions``), ``tenant_users`` and ``tenant_templates``
(tenant id -> list).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import iso
from courier_emulator.paging import paging_b
from courier_emulator.registry import WORKSPACE_ROUTES, Request, builds, lookup, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

TENANTS = per_size(small=3, demo=8, bench=20_000)
TENANT_USERS = per_size(small=(3, 5), demo=(3, 20))  # (fewest, most) per tenant
TENANT_TEMPLATES = per_size(small=(2, 3), demo=(1, 4))
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


@builds("tenants", needs=("users", "brands", "preferences", "notifications"))
def build_tenants(ws: Workspace) -> dict[str, int]:
    ws.tenants = []
    ws.tenant_users = {}
    ws.tenant_templates = {}
    everyone = range(len(ws.user_ids))
    lo, hi = TENANT_USERS[ws.size]
    tlo, thi = TENANT_TEMPLATES[ws.size]
    for t in range(TENANTS[ws.size]):
        tenant_id, name, parent = _TENANTS[t % len(_TENANTS)]
        if t >= len(_TENANTS):  # the "bench" size: more tenants than names
            tenant_id, name = f"{tenant_id}-{t // len(_TENANTS)}", f"{name} {t // len(_TENANTS)}"
        tenant: Json = {"id": tenant_id, "name": name}
        if parent is not None:
            tenant["parent_tenant_id"] = parent
        if t % 2 == 0:
            tenant["brand_id"] = ws.brands[t % len(ws.brands)]["id"]
        tenant["properties"] = {"region": "eu" if "eu" in tenant_id else "us", "seats": 10 + t * 5}
        tenant["user_profile"] = {"company": name}
        if t % 3 != 2:
            topic_id = ws.topic_ids[(t + 1) % len(ws.topic_ids)]
            item: Json = {"id": topic_id, "status": "OPTED_OUT" if t % 2 else "OPTED_IN"}
            if t % 3 == 0:
                item.update(has_custom_routing=True, custom_routing=["email"])
            tenant["default_preferences"] = {"items": [item]}
        ws.tenants.append(tenant)
        count = min(len(ws.user_ids), lo + ws.h("tenant-size", t) % (hi - lo + 1))
        members = [0] + ws.pick("tenant-member", t, everyone[1:], count - 1)
        ws.tenant_users[tenant_id] = [
            {
                "tenant_id": tenant_id,
                "user_id": ws.user_ids[u],
                "type": "user",
                "profile": {"role": "admin" if u == members[-1] else "member"},
            }
            for u in members
        ]
        template_count = thi if t == 0 else tlo + ws.h("tenant-templates", t) % (thi - tlo + 1)
        templates: list[Json] = []
        for k in range(template_count):
            source = ws.notifications[(t + k) % len(ws.notifications)]
            created = ws.ago("tenant-template", t * 100 + k, 5, 200)
            updated = ws.after("tenant-template", t * 100 + k, created)
            templates.append(
                {
                    "id": source["id"],
                    "created_at": iso(created),
                    "updated_at": iso(updated),
                    "published_at": iso(ws.after("tenant-template-published", t * 100 + k, updated)),
                    "version": f"v{1 + k}",
                    "data": {"routing": {"method": "single", "channels": ["email", "sms"][: 1 + k % 2]}},
                }
            )
        ws.tenant_templates[tenant_id] = templates
    ws.tenants_by_id = {t["id"]: t for t in ws.tenants}
    ws.tenant_positions = {t["id"]: i for i, t in enumerate(ws.tenants)}
    return {
        "tenants": len(ws.tenants),
        "tenant_users": sum(len(u) for u in ws.tenant_users.values()),
        "tenant_templates": sum(len(t) for t in ws.tenant_templates.values()),
    }


@WORKSPACE_ROUTES.get("/tenants")
def list_tenants(ws: Workspace, request: Request) -> Json:
    parent = request.param("parent_tenant_id")
    if parent is None:
        return paging_b(request, ws.tenants, "id", ws.tenant_positions)
    return paging_b(request, [t for t in ws.tenants if t.get("parent_tenant_id") == parent], "id")


@WORKSPACE_ROUTES.get("/tenants/{id}")
def retrieve_tenant(ws: Workspace, request: Request) -> Json:
    return lookup(ws.tenants_by_id, request.ids[0])


@WORKSPACE_ROUTES.get("/tenants/{id}/users")
def list_tenant_users(ws: Workspace, request: Request) -> Json:
    return paging_b(request, lookup(ws.tenant_users, request.ids[0]), "user_id")


@WORKSPACE_ROUTES.get("/tenants/{id}/templates")
def list_tenant_templates(ws: Workspace, request: Request) -> Json:
    return paging_b(request, lookup(ws.tenant_templates, request.ids[0]), "id")


@WORKSPACE_ROUTES.get("/tenants/{id}/templates/{id}")
def retrieve_tenant_template(ws: Workspace, request: Request) -> Json:
    templates = {t["id"]: t for t in lookup(ws.tenant_templates, request.ids[0])}
    found = dict(lookup(templates, request.ids[1]))
    found.pop("data")  # BaseTemplateTenantAssociation: the list item without ``data``
    return found


@WORKSPACE_ROUTES.get("/users/{id}/tenants")
def list_user_tenants(ws: Workspace, request: Request) -> Json:
    user_id = request.ids[0]
    lookup(ws.profiles, user_id)
    associations = [a for users in ws.tenant_users.values() for a in users if a["user_id"] == user_id]
    return paging_b(request, associations, "tenant_id")
