"""Lists and their subscriptions.

* ``/lists``: paging A (``items``), ``pattern`` filter (Courier's: dotted parts, ``*`` one part, ``**`` one or
  more parts, else exact); ``/lists/{id}``.
* ``/lists/{id}/subscriptions``: paging A (``items``) of ``{recipientId, created, preferences?}``.
* ``/profiles/{user_id}/lists``: paging A (``results``), the lists a user is subscribed to, with the
  subscription's ``preferences``.

``user-ada`` is subscribed to every list. Builds ``workspace.lists`` (and ``lists_by_id``) and
``workspace.subscriptions`` (list id -> subscriptions).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from courier_emulator.generation import DAY_MS, iso
from courier_emulator.paging import paging_a
from courier_emulator.registry import WORKSPACE_ROUTES, Request, builds, lookup, per_size

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

LISTS = per_size(small=3, demo=6)
LIST_SUBSCRIBERS = per_size(small=(3, 6), demo=(5, 60))  # (fewest, most) per list
_LISTS = (
    ("newsletter.weekly", "Weekly newsletter"),
    ("product.updates", "Product updates"),
    ("product.updates.eu", "Product updates (EU)"),
    ("events.webinars", "Webinars"),
    ("billing.alerts", "Billing alerts"),
    ("beta.testers", "Beta testers"),
)


@builds("lists", needs=("users", "notifications", "preferences"))
def build_lists(ws: Workspace) -> dict[str, int]:
    ws.lists = []
    ws.subscriptions = {}
    lo, hi = LIST_SUBSCRIBERS[ws.size]
    everyone = range(len(ws.user_ids))
    for j in range(LISTS[ws.size]):
        list_id, name = _LISTS[j % len(_LISTS)]
        created = ws.ago("list", j, 30, 500)
        ws.lists.append(
            {"id": list_id, "name": name, "created": iso(created), "updated": iso(ws.after("list", j, created))}
        )
        count = min(len(ws.user_ids), lo + ws.h("list-size", j) % (hi - lo + 1))
        members = [0] + ws.pick("list-member", j, everyone[1:], count - 1)
        subs: list[Json] = []
        for u in members:
            user_id = ws.user_ids[u]
            sub: Json = {"recipientId": user_id, "created": iso(ws.after("subscription", j * 1000 + u, created))}
            flavour = ws.h("subscription-preferences", j, u) % 4
            if flavour == 1:
                template_id = ws.notifications[u % len(ws.notifications)]["id"]
                sub["preferences"] = {"notifications": {template_id: {"status": "OPTED_OUT"}}}
            elif flavour == 2:
                topic_id = ws.topic_ids[u % len(ws.topic_ids)]
                sub["preferences"] = {
                    "categories": {
                        topic_id: {
                            "status": "OPTED_IN",
                            "channel_preferences": [{"channel": "email"}],
                            "rules": [{"start": iso(created), "until": iso(ws.anchor_ms + 30 * DAY_MS)}],
                        }
                    }
                }
            subs.append(sub)
        ws.subscriptions[list_id] = subs
    ws.lists_by_id = {lst["id"]: lst for lst in ws.lists}
    return {"lists": len(ws.lists), "list_subscriptions": sum(len(s) for s in ws.subscriptions.values())}


def _list_pattern(pattern: str) -> re.Pattern[str]:
    """Courier's list pattern: dotted parts, ``*`` one part, ``**`` one or more parts, else exact."""
    parts = [r"[^.]+" if part == "*" else r".+" if part == "**" else re.escape(part) for part in pattern.split(".")]
    return re.compile(r"\.".join(parts))


@WORKSPACE_ROUTES.get("/lists")
def list_lists(ws: Workspace, request: Request) -> Json:
    pattern = request.param("pattern")
    matcher = _list_pattern(pattern) if pattern else None
    records = [lst for lst in ws.lists if matcher is None or matcher.fullmatch(lst["id"])]
    return paging_a(request, records, "id", "items", ws.page_size)


@WORKSPACE_ROUTES.get("/lists/{id}")
def retrieve_list(ws: Workspace, request: Request) -> Json:
    return lookup(ws.lists_by_id, request.ids[0])


@WORKSPACE_ROUTES.get("/lists/{id}/subscriptions")
def list_subscriptions(ws: Workspace, request: Request) -> Json:
    subs = lookup(ws.subscriptions, request.ids[0])
    return paging_a(request, subs, "recipientId", "items", ws.page_size)


@WORKSPACE_ROUTES.get("/profiles/{id}/lists")
def list_profile_lists(ws: Workspace, request: Request) -> Json:
    user_id = request.ids[0]
    lookup(ws.profiles, user_id)
    results: list[Json] = []
    for lst in ws.lists:
        for sub in ws.subscriptions[lst["id"]]:
            if sub["recipientId"] == user_id:
                results.append({**lst, **({"preferences": sub["preferences"]} if "preferences" in sub else {})})
    return paging_a(request, results, "id", "results", ws.page_size)
