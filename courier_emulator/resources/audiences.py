"""Audiences and their members.

* ``/audiences``: paging A (``items``); ``/audiences/{id}``.
* ``/audiences/{id}/members``: paging A (``items``) of ``{added_at, audience_id, audience_version, member_id,
  reason}``: the users whose profile matches the audience's filter (``EQ``, ``NEQ``, ``STARTS_WITH``,
  ``EXISTS``, nested ``AND``/``OR``).

Builds ``workspace.audiences`` (and ``audiences_by_id``) and ``workspace.audience_members`` (audience id ->
members).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import iso
from courier_emulator.paging import paging_a
from courier_emulator.registry import WORKSPACE_ROUTES, Request, builds, lookup, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

AUDIENCES = per_size(small=3, demo=4)
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


def matches(rule: Json, profile: Json) -> bool:
    """Courier audience filter semantics, for the operators this workspace uses."""
    operator = rule["operator"]
    if operator in ("AND", "OR"):
        results = [matches(child, profile) for child in rule["filters"]]
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


@builds("audiences", needs=("users",))
def build_audiences(ws: Workspace) -> dict[str, int]:
    ws.audiences = []
    ws.audience_members = {}
    for a in range(AUDIENCES[ws.size]):
        audience_id, name, description, rule = _AUDIENCES[a % len(_AUDIENCES)]
        created = ws.ago("audience", a, 20, 400)
        updated = ws.after("audience", a, created)
        if rule["operator"] in ("AND", "OR"):
            config: Json = {"filters": rule["filters"], "operator": rule["operator"]}
        else:
            config = {"filters": [rule], "operator": "AND"}
        ws.audiences.append(
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
        version = 1 + ws.h("audience-version", a) % 5
        ws.audience_members[audience_id] = [
            {
                "added_at": iso(ws.after("audience-member", a * 1000 + u, updated)),
                "audience_id": audience_id,
                "audience_version": version,
                "member_id": user_id,
                "reason": "MATCHED_FILTER",
            }
            for u, user_id in enumerate(ws.user_ids)
            if matches({"operator": config["operator"], "filters": config["filters"]}, ws.profiles[user_id])
        ]
    ws.audiences_by_id = {a["id"]: a for a in ws.audiences}
    return {"audiences": len(ws.audiences), "audience_members": sum(len(m) for m in ws.audience_members.values())}


@WORKSPACE_ROUTES.get("/audiences")
def list_audiences(ws: Workspace, request: Request) -> Json:
    return paging_a(request, ws.audiences, "id", "items", ws.page_size)


@WORKSPACE_ROUTES.get("/audiences/{id}")
def retrieve_audience(ws: Workspace, request: Request) -> Json:
    return lookup(ws.audiences_by_id, request.ids[0])


@WORKSPACE_ROUTES.get("/audiences/{id}/members")
def list_audience_members(ws: Workspace, request: Request) -> Json:
    members = lookup(ws.audience_members, request.ids[0])
    return paging_a(request, members, "member_id", "items", ws.page_size)
