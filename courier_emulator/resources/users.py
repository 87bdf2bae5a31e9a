"""Users: their profiles and device tokens.

* ``/profiles/{user_id}``: ``{"profile", "preferences": {"categories", "notifications"}}``, the categories being
  the user's preference overrides outside any tenant (``courier_emulator.resources.preferences``).
* ``/users/{user_id}/tokens`` (unpaginated ``{"tokens": [...]}``) and ``/users/{user_id}/tokens/{token}``.

``user_ids`` (72 in demo, 8 in small) start with the message log's recipients (``user-ada``, ``user-grace``,
``user-alan``, ``user-katherine``); every user has a profile (``email``, ``name``, ``locale``, ``plan``, and a
``phone_number`` for one in two). ``user-ada`` has three tokens (``expiry_date`` a string, ``false`` and null).
Builds ``workspace.user_ids``, ``workspace.profiles`` (user id -> profile) and ``workspace.tokens`` (user id ->
tokens).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from courier_emulator.generation import DAY_MS, iso
from courier_emulator.registry import WORKSPACE_ROUTES, Request, builds, lookup, per_size
from courier_emulator.resources.preferences import user_overrides

if TYPE_CHECKING:
    from courier_emulator.workspace import Workspace

Json = dict[str, Any]

USERS = per_size(small=8, demo=72)
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
_TOKEN_PROVIDERS = ("firebase-fcm", "apn", "expo", "onesignal")


@builds("users")
def build_users(ws: Workspace) -> dict[str, int]:
    ids: list[str] = []
    ws.profiles = {}
    for i in range(USERS[ws.size]):
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
        ws.profiles[user_id] = profile
    ws.user_ids = tuple(ids)
    return {"users": len(ws.user_ids)}


@builds("tokens", needs=("users",))
def build_tokens(ws: Workspace) -> dict[str, int]:
    ws.tokens = {}
    for u, user_id in enumerate(ws.user_ids):
        count = 3 if u == 0 else ws.h("token-count", u) % 3
        tokens: list[Json] = []
        for k in range(count):
            provider_key = _TOKEN_PROVIDERS[(u + k) % len(_TOKEN_PROVIDERS)]
            expiry_kind = k if u == 0 else ws.h("token-expiry", u, k) % 3
            expiry: str | bool | None = (iso(ws.anchor_ms + (30 + u) * DAY_MS), False, None)[expiry_kind]
            platform = "ios" if provider_key == "apn" else "android"
            tokens.append(
                {
                    "token": f"{provider_key}-{ws.digest('token', u, k).hex()}",
                    "provider_key": provider_key,
                    "expiry_date": expiry,
                    "device": {
                        "app_id": "com.example.app",
                        "device_id": ws.uuid("device", u, k),
                        "platform": platform,
                        "manufacturer": "Apple" if platform == "ios" else "Google",
                        "model": "iPhone 15" if platform == "ios" else "Pixel 8",
                    },
                    "tracking": {"os_version": "17.2" if platform == "ios" else "14", "ip": f"203.0.113.{u % 250}"},
                    "properties": {"registered_via": "sdk"},
                }
            )
        ws.tokens[user_id] = tokens
    return {"tokens": sum(len(t) for t in ws.tokens.values())}


@WORKSPACE_ROUTES.get("/profiles/{id}")
def retrieve_profile(ws: Workspace, request: Request) -> Json:
    user_id = request.ids[0]
    profile = lookup(ws.profiles, user_id)
    categories = {
        p["topic_id"]: {
            "status": p["status"],
            **(
                {"channel_preferences": [{"channel": c} for c in p["custom_routing"]]}
                if p.get("custom_routing")
                else {}
            ),
        }
        for p in user_overrides(ws, user_id, None)
    }
    return {"profile": profile, "preferences": {"categories": categories, "notifications": {}}}


@WORKSPACE_ROUTES.get("/users/{id}/tokens")
def list_tokens(ws: Workspace, request: Request) -> Json:
    lookup(ws.profiles, request.ids[0])
    return {"tokens": ws.tokens[request.ids[0]]}


@WORKSPACE_ROUTES.get("/users/{id}/tokens/{id}")
def retrieve_token(ws: Workspace, request: Request) -> Json:
    user_id, token_id = request.ids
    lookup(ws.profiles, user_id)
    token = lookup({t["token"]: t for t in ws.tokens[user_id]}, token_id)
    return {**token, "status": "active", "status_reason": None}
