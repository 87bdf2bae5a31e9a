"""Fidelity of the Courier emulator to Courier's own SDK (``trycourier==9.13.0``, generated from the OpenAPI spec).

Every list/retrieve method a stream uses is called through ``courier.Courier`` pointed at the emulator with
``_strict_response_validation=True``; each body is then validated again with pydantic's *strict* mode
(the SDK's validation is lax: it would accept ``"123"`` for an int) and every field the SDK models do not
declare must be one of the undocumented fields the emulator sends on purpose. Paged lists are walked to the
end, following the cursor (pages of 2 in the ``small`` workspace, or ``limit=2``). A few exact values pin the
generated data, and the server-side filters (``since``, ``start_date``, ``end_date``) are checked against a
full walk.

The emulator runs in-process: ``run_in_thread(api_key=..., workspace=Workspace("small"))``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pydantic
import pytest
from courier import BadRequestError, Courier, NotFoundError
from courier import types as sdk
from courier.types import lists as sdk_lists
from courier.types import profiles as sdk_profiles
from courier.types import tenants as sdk_tenants
from courier.types import users as sdk_users

from courier_emulator import data as message_data
from courier_emulator import server as emulator_server
from courier_emulator.workspace import (
    MESSAGE_TEMPLATES,
    NOT_FOUND,
    PROVIDER_SECRET_MARKER,
    ROUTES,
    Workspace,
    encode_cursor,
    parse_instant,
)

KEY = "courier-emulator-fidelity-key-3f9c1a7e5b2d4068"
SMALL_PAGE = 2
# (model class name, field) the SDK does not declare but the emulator sends on purpose.
ALLOWED_EXTRAS = {
    ("Provider", "channel"),
    ("ResultNotification", "brand_id"),
    ("MessageDetails", "tags"),
    ("MessageRetrieveResponse", "tags"),
}


@pytest.fixture(scope="module")
def workspace() -> Workspace:
    return Workspace("small")


@pytest.fixture(scope="module")
def base_url(workspace: Workspace) -> Iterator[str]:
    with emulator_server.run_in_thread(api_key=KEY, workspace=workspace) as emulator:
        yield emulator.base_url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[Courier]:
    with Courier(api_key=KEY, base_url=base_url, _strict_response_validation=True, max_retries=0) as sdk:
        yield sdk


# --- helpers -----------------------------------------------------------------------------------------------


def _extras(value: Any, found: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Every (model, field) the models do not declare, anywhere inside a parsed response."""
    if isinstance(value, pydantic.BaseModel):
        found.update((type(value).__name__, name) for name in (value.model_extra or {}))
        for name in type(value).model_fields:
            _extras(getattr(value, name), found)
    elif isinstance(value, list):
        for item in value:
            _extras(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _extras(item, found)
    return found


def fetch(raw_method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """Call a ``with_raw_response`` SDK method: ``(parsed model, raw JSON)``, after the strict checks."""
    response = raw_method(*args, **kwargs)
    parsed = response.parse()  # the SDK's own (strict-flag) validation
    text = response.http_response.text
    pydantic.TypeAdapter(type(parsed)).validate_json(text, strict=True)  # no coercion, e.g. "1" for 1
    unknown = _extras(parsed, set()) - ALLOWED_EXTRAS
    assert not unknown, f"fields the SDK models do not declare: {sorted(unknown)}"
    return parsed, json.loads(text)


def walk(
    raw_method: Callable[..., Any],
    *args: Any,
    next_cursor: Callable[[Any], str | None],
    **kwargs: Any,
) -> list[tuple[Any, Any]]:
    """Every page, following the cursor the response names, until it names none."""
    pages: list[tuple[Any, Any]] = []
    cursor: str | None = None
    while True:
        pages.append(fetch(raw_method, *args, **kwargs, **({"cursor": cursor} if cursor else {})))
        cursor = next_cursor(pages[-1][0])
        if cursor is None:
            return pages
        assert len(pages) < 100, "paging does not end"


def paging_a(page: Any) -> str | None:
    if page.paging.more:
        assert page.paging.cursor
        return page.paging.cursor
    assert page.paging.cursor is None
    return None


def paging_b(page: Any) -> str | None:
    assert page.type == "list" and page.url
    if page.has_more:
        assert page.cursor and page.next_url
        assert parse_qs(urlsplit(page.next_url).query)["cursor"] == [page.cursor]
        return page.cursor
    assert page.cursor is None and page.next_url is None
    return None


def paging_c(page: Any) -> str | None:
    return page.cursor


def paging_d(page: Any) -> str | None:
    return page.next_cursor


def records(pages: list[tuple[Any, Any]], key: str) -> list[dict[str, Any]]:
    return [record for _, raw in pages for record in raw[key]]


def sizes(pages: list[tuple[Any, Any]], key: str) -> list[int]:
    return [len(raw[key]) for _, raw in pages]


# --- messages (served by courier_emulator.server) -----------------------------------------------------------


def test_messages_list_retrieve_history_content(client: Courier) -> None:
    first, raw = fetch(client.messages.with_raw_response.list)
    assert len(first.results) == message_data.PAGE_SIZE and first.paging.more
    second, _ = fetch(client.messages.with_raw_response.list, cursor=first.paging.cursor)
    assert second.results and second.results[0].enqueued < first.results[-1].enqueued
    message_id = raw["results"][0]["id"]
    details, _ = fetch(client.messages.with_raw_response.retrieve, message_id)
    assert details.id == message_id
    history, _ = fetch(client.messages.with_raw_response.history, message_id)
    assert history.results and all("ts" in entry and "type" in entry for entry in history.results)
    content, _ = fetch(client.messages.with_raw_response.content, message_id)
    assert isinstance(content.results, list)
    # Every message's template and recipient exists in the workspace.
    templates = {template_id: event for event, template_id in MESSAGE_TEMPLATES}
    for record in raw["results"]:
        assert templates[record["notification"]] == record["event"]
        assert record["recipient"] in Workspace("small").user_ids


# --- paging A ------------------------------------------------------------------------------------------------


def test_brands(client: Courier, workspace: Workspace) -> None:
    pages = walk(client.brands.with_raw_response.list, next_cursor=paging_a)
    assert sizes(pages, "results") == [2, 1]
    brands = records(pages, "results")
    assert brands[0]["id"] == "2KLYYLDO1OBHMONG67SMWK26338Y" and brands[0]["name"] == "Default"
    assert all(isinstance(b["created"], int) and isinstance(b["updated"], int) for b in brands)
    assert all(b["updated"] <= workspace.anchor_ms for b in brands)
    brand, raw = fetch(client.brands.with_raw_response.retrieve, brands[1]["id"])
    assert raw == brands[1] and brand.settings is not None


def test_notifications_mix_v1_and_v2(client: Courier) -> None:
    pages = walk(client.notifications.with_raw_response.list, next_cursor=paging_a)
    assert sizes(pages, "results") == [2, 2, 1]
    templates = records(pages, "results")
    assert [t["id"] for t in templates[:3]] == [template_id for _, template_id in MESSAGE_TEMPLATES]
    assert [t["id"] for t in templates[:3]] == [template_id for _, template_id in message_data.EVENTS]
    kinds = {type(result).__name__ for parsed, _ in pages for result in parsed.results}
    assert kinds == {"ResultNotification", "NotificationTemplateSummary"}
    assert all(isinstance(t.get("created_at", t.get("created")), int) for t in templates)
    by_event, _ = fetch(client.notifications.with_raw_response.list, event_id="password-reset")
    assert [t.id for t in by_event.results] == [MESSAGE_TEMPLATES[1][1]]


def test_lists_and_subscriptions(client: Courier, workspace: Workspace) -> None:
    pages = walk(client.lists.with_raw_response.list, next_cursor=paging_a)
    lists = records(pages, "items")
    assert [lst["id"] for lst in lists] == ["newsletter.weekly", "product.updates", "product.updates.eu"]
    assert sizes(pages, "items") == [2, 1]
    one, raw = fetch(client.lists.with_raw_response.retrieve, "product.updates.eu")
    assert raw == lists[2]
    subscribers: dict[str, list[str]] = {}
    for lst in lists:
        subs = records(
            walk(client.lists.subscriptions.with_raw_response.list, lst["id"], next_cursor=paging_a), "items"
        )
        subscribers[lst["id"]] = [s["recipientId"] for s in subs]
        assert 3 <= len(subs) <= 6 and subs[0]["recipientId"] == "user-ada"
        assert set(subscribers[lst["id"]]) <= set(workspace.user_ids)
    pattern, _ = fetch(client.lists.with_raw_response.list, pattern="product.*")
    assert [lst.id for lst in pattern.items] == ["product.updates"]
    pattern, _ = fetch(client.lists.with_raw_response.list, pattern="product.**")
    assert [lst.id for lst in pattern.items] == ["product.updates", "product.updates.eu"]
    # A user's lists are the lists that have them as a subscriber.
    for user_id in workspace.user_ids[:3]:
        pages = walk(client.profiles.lists.with_raw_response.retrieve, user_id, next_cursor=paging_a)
        expected = [list_id for list_id, users in subscribers.items() if user_id in users]
        assert [r["id"] for r in records(pages, "results")] == expected


def test_audiences_and_members(client: Courier) -> None:
    pages = walk(client.audiences.with_raw_response.list, next_cursor=paging_a)
    audiences = records(pages, "items")
    assert [a["id"] for a in audiences] == ["pro-plan", "english-speakers", "reachable-by-sms"]
    audience, raw = fetch(client.audiences.with_raw_response.retrieve, "pro-plan")
    assert raw == audiences[0] and audience.filter is not None
    members = walk(client.audiences.with_raw_response.list_members, "pro-plan", next_cursor=paging_a)
    assert sizes(members, "items") == [2, 1]
    assert [m["member_id"] for m in records(members, "items")] == ["user-grace", "user-margaret", "user-donald"]


def test_audit_events(client: Courier) -> None:
    pages = walk(client.audit_events.with_raw_response.list, next_cursor=paging_a)
    assert sizes(pages, "results") == [2, 2, 1]
    events = records(pages, "results")
    timestamps = [e["timestamp"] for e in events]
    assert timestamps == sorted(timestamps, reverse=True) and all(t.endswith("Z") for t in timestamps)
    event, raw = fetch(client.audit_events.with_raw_response.retrieve, events[3]["auditEventId"])
    assert raw == events[3] and event.audit_event_id == events[3]["auditEventId"]


def test_providers_keep_their_fake_secrets(client: Courier) -> None:
    pages = walk(client.providers.with_raw_response.list, next_cursor=paging_a)
    providers = records(pages, "results")
    assert [p["provider"] for p in providers] == ["sendgrid", "twilio", "slack"]
    assert providers[0]["settings"]["api_key"] == "SG.fake-emulator-provider-secret"
    assert all(PROVIDER_SECRET_MARKER in json.dumps(p["settings"]) for p in providers)
    assert all(isinstance(p["created"], int) and "channel" in p for p in providers)


def test_routing_strategies_and_broadcasts_take_limit(client: Courier) -> None:
    strategies = walk(client.routing_strategies.with_raw_response.list, limit=2, next_cursor=paging_a)
    assert sizes(strategies, "results") == [2, 1]
    assert all(r["id"].startswith("rs_") and isinstance(r["created"], int) for r in records(strategies, "results"))
    broadcasts = walk(client.broadcasts.with_raw_response.list, limit=2, next_cursor=paging_a)
    assert sizes(broadcasts, "results") == [2, 1]
    created = [b["created_at"] for b in records(broadcasts, "results")]
    assert created == sorted(created, reverse=True)
    whole, _ = fetch(client.broadcasts.with_raw_response.list)
    assert len(whole.results) == 3 and not whole.paging.more


# --- paging B ------------------------------------------------------------------------------------------------


def test_tenants_users_and_templates(client: Courier, workspace: Workspace) -> None:
    pages = walk(client.tenants.with_raw_response.list, limit=2, next_cursor=paging_b)
    tenants = records(pages, "items")
    assert [t["id"] for t in tenants] == ["acme", "acme-eu", "globex"]
    assert [p.has_more for p, _ in pages] == [True, False]
    whole, raw = fetch(client.tenants.with_raw_response.list)
    assert len(whole.items) == 3 and raw["url"] == "/tenants"
    children, _ = fetch(client.tenants.with_raw_response.list, parent_tenant_id="acme")
    assert [t.id for t in children.items] == ["acme-eu"]
    tenant, raw = fetch(client.tenants.with_raw_response.retrieve, "acme-eu")
    assert raw == tenants[1] and tenant.parent_tenant_id == "acme"
    users = walk(client.tenants.with_raw_response.list_users, "acme", limit=2, next_cursor=paging_b)
    assert records(users, "items")[0] == {
        "tenant_id": "acme",
        "user_id": "user-ada",
        "type": "user",
        "profile": {"role": "member"},
    }
    assert {u["user_id"] for u in records(users, "items")} <= set(workspace.user_ids)
    templates = walk(client.tenants.templates.with_raw_response.list, "acme", limit=2, next_cursor=paging_b)
    assert sizes(templates, "items") == [2, 1]
    assert all(t["published_at"].endswith("Z") and "routing" in t["data"] for t in records(templates, "items"))
    mine = walk(client.users.tenants.with_raw_response.list, "user-ada", limit=2, next_cursor=paging_b)
    assert [a["tenant_id"] for a in records(mine, "items")] == ["acme", "acme-eu", "globex"]


# --- paging C and D ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["automations", "journeys"])
def test_templates_page_by_top_level_cursor(client: Courier, kind: str) -> None:
    resource = getattr(client, kind)
    pages = walk(resource.with_raw_response.list, next_cursor=paging_c)
    assert sizes(pages, "templates") == [2, 1]
    assert "cursor" in pages[0][1] and "cursor" not in pages[-1][1]  # absent, not null, on the last page
    assert all({"createdAt", "updatedAt"} <= set(t) for t in records(pages, "templates"))
    drafts = walk(resource.with_raw_response.list, version="draft", next_cursor=paging_c)
    assert [t["version"] for t in records(drafts, "templates")] == ["draft"] * 4


@pytest.mark.parametrize("kind", ["automations", "journeys"])
def test_runs_filter_and_page(client: Courier, workspace: Workspace, kind: str) -> None:
    runs_resource = getattr(client, kind).runs
    everything = walk(runs_resource.with_raw_response.list, limit="50", next_cursor=paging_d)
    runs = records(everything, "runs")
    assert len(runs) == 30 and sizes(everything, "runs") == [30]
    assert "next_cursor" not in everything[0][1]
    created = [r["created_at"] for r in runs]
    assert created == sorted(created, reverse=True) and len(set(created)) == len(created)
    assert created[-1] > "2025-09-28"  # 95-day retention before 2026-01-01
    default_page, _ = fetch(runs_resource.with_raw_response.list)
    assert len(default_page.runs) == 20 and default_page.next_cursor
    paged = walk(runs_resource.with_raw_response.list, limit="7", next_cursor=paging_d)
    assert sizes(paged, "runs") == [7, 7, 7, 7, 2] and records(paged, "runs") == runs
    if kind == "journeys":
        assert "prev_cursor" not in paged[0][1] and "prev_cursor" in paged[1][1]
        back, _ = fetch(runs_resource.with_raw_response.list, limit="7", cursor=paged[2][0].prev_cursor)
        assert [r.run_id for r in back.runs] == [r["run_id"] for r in paged[1][1]["runs"]]
    # start_date/end_date: inclusive bounds on created_at; a date alone is UTC midnight (end: the whole day).
    since = walk(runs_resource.with_raw_response.list, start_date="2025-12-01", limit="5", next_cursor=paging_d)
    assert records(since, "runs") == [r for r in runs if r["created_at"] >= "2025-12-01"]
    window = walk(
        runs_resource.with_raw_response.list,
        start_date=runs[4]["created_at"],
        end_date=runs[1]["created_at"],
        next_cursor=paging_d,
    )
    assert records(window, "runs") == runs[1:5]
    day = runs[10]["created_at"][:10]
    until_day = walk(runs_resource.with_raw_response.list, end_date=day, limit="50", next_cursor=paging_d)
    assert records(until_day, "runs") == [r for r in runs if r["created_at"][:10] <= day]
    clamped, _ = fetch(runs_resource.with_raw_response.list, limit="500")
    assert len(clamped.runs) == 30
    run_id = runs[0]["run_id"]
    steps, _ = fetch(runs_resource.with_raw_response.list_steps, run_id)
    assert steps.steps and all(step.created_at for step in steps.steps)
    if kind == "journeys":
        run, raw = fetch(runs_resource.with_raw_response.retrieve, run_id)
        assert {k: v for k, v in raw["run"].items() if k != "updated_at"} == runs[0] and run.run.updated_at
        with pytest.raises(NotFoundError):
            client.journeys.runs.retrieve(workspace.handle("/automations/runs", {})[1]["runs"][0]["run_id"])


# --- journey versions and templates, notification versions -------------------------------------------------


def test_journey_versions_templates_and_run_steps(client: Courier, workspace: Workspace) -> None:
    versions: dict[str, list[str]] = {}
    for journey in workspace.automation_templates["journeys"]:
        # list_versions documents no cursor parameter, but its response carries one: sent as an extra parameter.
        pages = [fetch(client.journeys.with_raw_response.list_versions, journey["id"])]
        while paging_a(pages[-1][0]):
            cursor = pages[-1][0].paging.cursor
            pages.append(
                fetch(client.journeys.with_raw_response.list_versions, journey["id"], extra_query={"cursor": cursor})
            )
        versions[journey["id"]] = [v["version"] for v in records(pages, "results")]
        assert all(isinstance(v["created"], int) and isinstance(v["published"], int) for v in records(pages, "results"))
        templates = walk(client.journeys.templates.with_raw_response.list, journey["id"], limit=2, next_cursor=paging_a)
        assert all(t["id"].startswith("nt_") and isinstance(t["created"], int) for t in records(templates, "results"))
        whole, _ = fetch(client.journeys.templates.with_raw_response.list, journey["id"], limit=100)
        assert [t.id for t in whole.results] == [t["id"] for t in records(templates, "results")]
    assert list(versions.values()) == [["v3", "v2", "v1"], ["v1"], ["v2", "v1"], []]  # the last is draft-only
    run_id = workspace.automation_runs["journeys"][0]["run_id"]
    steps, raw = fetch(client.journeys.runs.with_raw_response.list_steps, run_id)
    assert [step.node_id for step in steps.steps] == [f"node_{k + 1}" for k in range(len(raw["steps"]))]


def test_notification_versions(client: Courier) -> None:
    for template in records(walk(client.notifications.with_raw_response.list, next_cursor=paging_a), "results"):
        pages = walk(
            client.notifications.with_raw_response.list_versions, template["id"], limit=2, next_cursor=paging_a
        )
        versions = [v["version"] for v in records(pages, "versions")]
        assert versions[0] == "draft" and re.fullmatch(r"published:v\d{3}", versions[1])
        assert all(re.fullmatch(r"v\d{3}", version) for version in versions[2:])
        assert [int(v[-3:]) for v in versions[1:]] == list(range(len(versions) - 1, 0, -1))
        whole, _ = fetch(client.notifications.with_raw_response.list_versions, template["id"])
        assert [v.version for v in whole.versions] == versions and not whole.paging.more


# --- preferences ---------------------------------------------------------------------------------------------


def test_workspace_preferences_sections_topics_and_logs(client: Courier, workspace: Workspace) -> None:
    sections, raw = fetch(client.workspace_preferences.with_raw_response.list)
    assert [s.name for s in sections.results] == ["Account", "Product"]
    for section in raw["results"]:
        topics, topics_raw = fetch(client.workspace_preferences.topics.with_raw_response.list, section["id"])
        assert topics_raw["results"] == section["topics"] and len(topics.results) == 2
    everything = walk(client.workspace_preferences.with_raw_response.list_logs, limit=100, next_cursor=paging_a)
    logs = records(everything, "items")
    assert len(logs) == 30 and sizes(everything, "items") == [30]
    timestamps = [entry["timestamp"] for entry in logs]
    assert timestamps == sorted(timestamps, reverse=True)
    default_page, _ = fetch(client.workspace_preferences.with_raw_response.list_logs)
    assert len(default_page.items) == 25 and default_page.paging.more
    for since, bound in (
        ("2025-12-01", "2025-12-01T00:00:00.000Z"),
        ("2025-11-15T12:30:00Z", "2025-11-15T12:30:00.000Z"),
    ):
        pages = walk(
            client.workspace_preferences.with_raw_response.list_logs, since=since, limit=4, next_cursor=paging_a
        )
        assert records(pages, "items") == [entry for entry in logs if entry["timestamp"] >= bound]
        assert 0 < len(records(pages, "items")) < 30
    # Inclusive: since = the exact timestamp of an entry keeps that entry.
    pivot = logs[10]["timestamp"]
    inclusive, _ = fetch(client.workspace_preferences.with_raw_response.list_logs, since=pivot, limit=100)
    assert [e.id for e in inclusive.items] == [entry["id"] for entry in logs[:11]]
    # A user's preferences are their latest logged change per topic, outside any tenant.
    user_id = "user-ada"
    latest: dict[str, dict[str, Any]] = {}
    for entry in reversed(logs):
        if entry["user_id"] == user_id and "tenant_id" not in entry:
            latest[entry["topic_id"]] = entry
    preferences, _ = fetch(client.users.preferences.with_raw_response.retrieve, user_id)
    assert {p.topic_id: p.status for p in preferences.items} == {t: e["status"] for t, e in latest.items()}
    assert preferences.paging.more is False
    topic_id = raw["results"][0]["topics"][0]["id"]
    topic, _ = fetch(client.users.preferences.with_raw_response.retrieve_topic, topic_id, user_id=user_id)
    assert topic.topic.topic_id == topic_id and topic.topic.status == "REQUIRED"


def test_digest_instances_of_every_schedule_the_topics_name(client: Courier, workspace: Workspace) -> None:
    sections, _ = fetch(client.workspace_preferences.with_raw_response.list)
    named: dict[str, list[str]] = {}
    for section in sections.results:
        for topic in section.topics:
            for schedule in topic.digest.schedules if topic.digest else []:
                named.setdefault(schedule.schedule_id, []).append(topic.name)
    assert sorted(named.values()) == [["Billing"], ["Billing", "Product updates"], ["Product updates"]]
    assert [s for s in named if s.startswith("sch/")] == [s for s, topics in named.items() if len(topics) == 2]
    for schedule_id in named:
        # The SDK percent-encodes the schedule id as one path segment: sch/<uuid> goes as sch%2F<uuid>.
        pages = walk(
            client.digests.schedules.with_raw_response.list_instances, schedule_id, limit=2, next_cursor=paging_b
        )
        items = records(pages, "items")
        assert len(pages) >= 2 and len({item["user_id"] for item in items}) == len(items)
        assert {item["user_id"] for item in items} <= set(workspace.user_ids)
        whole, raw = fetch(client.digests.schedules.with_raw_response.list_instances, schedule_id)
        assert raw["items"] == items and not whole.has_more
        assert raw["url"] == f"/digests/schedules/{quote(schedule_id, safe='')}/instances"


# --- users --------------------------------------------------------------------------------------------------


def test_profiles_and_tokens(client: Courier, workspace: Workspace) -> None:
    assert set(message_data.RECIPIENTS) <= set(workspace.user_ids)
    profile, raw = fetch(client.profiles.with_raw_response.retrieve, "user-ada")
    assert raw["profile"] == {
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "locale": "en-US",
        "plan": "free",
        "phone_number": "+15550000000",
    }
    assert profile.preferences is not None
    tokens, raw = fetch(client.users.tokens.with_raw_response.list, "user-ada")
    assert [t["expiry_date"] for t in raw["tokens"]][1:] == [False, None]
    assert isinstance(raw["tokens"][0]["expiry_date"], str)
    assert [t.provider_key for t in tokens.tokens] == ["firebase-fcm", "apn", "expo"]
    for user_id in workspace.user_ids:
        fetch(client.users.tokens.with_raw_response.list, user_id)
        fetch(client.profiles.with_raw_response.retrieve, user_id)


# --- errors and determinism ---------------------------------------------------------------------------------


def test_errors(client: Courier, workspace: Workspace) -> None:
    for call in (
        lambda: client.brands.retrieve("NOPE"),
        lambda: client.lists.subscriptions.list("no.such.list"),
        lambda: client.tenants.list_users("no-such-tenant"),
        lambda: client.profiles.retrieve("user-nobody"),
        lambda: client.users.tokens.list("user-nobody"),
        lambda: client.journeys.runs.retrieve("no-such-run"),
        lambda: client.journeys.list_versions("no-such-journey"),
        lambda: client.journeys.templates.list("no-such-journey"),
        lambda: client.notifications.list_versions("NOPE"),
        lambda: client.digests.schedules.list_instances("sch_01nosuchschedule"),
        lambda: client.digests.schedules.list_instances("sch/00000000-0000-4000-8000-000000000000"),
    ):
        with pytest.raises(NotFoundError) as raised:
            call()
        assert raised.value.body == NOT_FOUND
    for call in (
        lambda: client.brands.list(cursor="not base64!"),
        lambda: client.brands.list(cursor=encode_cursor("/lists", "newsletter.weekly")),
        lambda: client.tenants.list(limit=101),
        lambda: client.tenants.list(limit=0),
        lambda: client.workspace_preferences.list_logs(since="yesterday"),
        lambda: client.workspace_preferences.list_logs(tenant_id="acme"),
        lambda: client.automations.runs.list(start_date="2025-02-30"),
        lambda: client.automations.list(version="latest"),
        lambda: client.notifications.list_versions(MESSAGE_TEMPLATES[0][1], limit=11),
        lambda: client.journeys.templates.list(client.journeys.list().templates[0].id, limit=101),
        lambda: client.digests.schedules.list_instances(next(iter(workspace.digest_schedules)), limit=0),
        lambda: client.digests.schedules.list_instances(next(iter(workspace.digest_schedules)), limit=101),
    ):
        with pytest.raises(BadRequestError) as bad:
            call()
        assert bad.value.body["type"] == "invalid_request_error"


def test_dates_accepted_by_since_and_start_date() -> None:
    midnight = 1_764_547_200_000  # 2025-12-01T00:00:00Z
    assert parse_instant("2025-12-01", "since") == midnight
    assert parse_instant("2025-12-01", "end_date", upper=True) == midnight + 86_400_000 - 1
    assert parse_instant("2025-12-01T00:00:00Z", "since") == midnight
    assert parse_instant("2025-12-01T01:00:00.250+01:00", "since") == midnight + 250
    assert parse_instant("2025-12-01T00:00", "since") == midnight  # no zone: UTC
    assert parse_instant("2025-12-01T00:00:00.0000001Z", "since") == midnight + 1  # a lower bound rounds up
    assert parse_instant("2025-12-01T00:00:00.0009Z", "end_date", upper=True) == midnight  # an upper one down
    for bad in ("2025-13-01", "2025-02-29", "1764547200000", "2025-12-01T24:00:00Z", "2025-12-01 00:00:00"):
        with pytest.raises(Exception, match="Invalid since"):
            parse_instant(bad, "since")


def test_workspace_is_deterministic_and_demo_is_realistic() -> None:
    demo = Workspace("demo")
    assert demo.object_counts() == Workspace("demo", 0).object_counts()
    for path in ("/brands", "/notifications", "/tenants", "/automations/runs", "/preferences/logs"):
        assert demo.handle(path, {}) == Workspace("demo").handle(path, {})
        assert demo.handle(path, {}) != Workspace("demo", seed=1).handle(path, {})
    counts = demo.object_counts()
    assert counts["brands"] == 5 and counts["notifications"] == 12 and counts["lists"] == 6
    assert counts["audiences"] == 4 and counts["tenants"] == 8 and counts["audit_events"] == 40
    assert counts["automation_runs"] == counts["journey_runs"] == 150 and counts["preference_logs"] == 200
    memberships: dict[str, int] = dict.fromkeys(demo.user_ids, 0)
    for lst in _all(demo, "/lists", "items"):
        subs = _all(demo, f"/lists/{lst['id']}/subscriptions", "items")
        assert 5 <= len(subs) <= 60
        for sub in subs:
            memberships[sub["recipientId"]] += 1
    for tenant in _all(demo, "/tenants", "items", limit="100"):
        for association in _all(demo, f"/tenants/{tenant['id']}/users", "items", limit="100"):
            memberships[association["user_id"]] += 1
    assert sum(1 for n in memberships.values() if n >= 2) > len(demo.user_ids) // 2
    assert demo.handle("/messages", {}) is None and demo.handle("/messages/1-abc/history", {}) is None
    assert demo.route_template("/lists/newsletter.weekly/subscriptions") == "/lists/{id}/subscriptions"


def _strict(model: Any, body: Any) -> Any:
    parsed = pydantic.TypeAdapter(model).validate_json(json.dumps(body), strict=True)
    unknown = _extras(parsed, set()) - ALLOWED_EXTRAS
    assert not unknown, f"fields the SDK models do not declare: {sorted(unknown)}"
    return parsed


def test_every_demo_route_matches_the_sdk_models() -> None:
    """The demo workspace, in-process: every page of every route, every object, strictly against the SDK."""
    demo = Workspace("demo")
    seen: set[str] = set()

    def check(path: str, model: Any, key: str | None = None, **params: str) -> list[dict[str, Any]]:
        seen.add(demo.route_template(path) or path)
        if key is None:
            status, body = demo.handle(path, {name: [value] for name, value in params.items()})
            assert status == 200, (path, body)
            _strict(model, body)
            return [body]
        found: list[dict[str, Any]] = []
        query = {name: [value] for name, value in params.items()}
        while True:
            status, body = demo.handle(path, query)
            assert status == 200, (path, body)
            _strict(model, body)
            found.extend(body[key])
            cursor = body.get("paging", {}).get("cursor") or body.get("cursor") or body.get("next_cursor")
            if not cursor:
                return found
            query["cursor"] = [cursor]

    for brand in check("/brands", sdk.BrandListResponse, "results"):
        check(f"/brands/{brand['id']}", sdk.Brand)
    for template in check("/notifications", sdk.NotificationListResponse, "results"):
        check(f"/notifications/{template['id']}/versions", sdk.NotificationTemplateVersionListResponse, "versions")
    for lst in check("/lists", sdk.ListListResponse, "items"):
        check(f"/lists/{lst['id']}", sdk.SubscriptionList)
        check(f"/lists/{lst['id']}/subscriptions", sdk_lists.SubscriptionListResponse, "items")
    for audience in check("/audiences", sdk.AudienceListResponse, "items"):
        check(f"/audiences/{audience['id']}", sdk.Audience)
        check(f"/audiences/{audience['id']}/members", sdk.AudienceListMembersResponse, "items")
    tenants = check("/tenants", sdk.TenantListResponse, "items", limit="3")
    for tenant in tenants:
        check(f"/tenants/{tenant['id']}", sdk.Tenant)
        check(f"/tenants/{tenant['id']}/users", sdk.TenantListUsersResponse, "items", limit="5")
        for template in check(f"/tenants/{tenant['id']}/templates", sdk_tenants.TemplateListResponse, "items"):
            check(f"/tenants/{tenant['id']}/templates/{template['id']}", sdk.BaseTemplateTenantAssociation)
    for event in check("/audit-events", sdk.AuditEventListResponse, "results"):
        check(f"/audit-events/{event['auditEventId']}", sdk.AuditEvent)
    for version in ("published", "draft"):
        check("/automations", sdk.AutomationTemplateListResponse, "templates", version=version)
        check("/journeys", sdk.JourneysListResponse, "templates", version=version)
    for journey in check("/journeys", sdk.JourneysListResponse, "templates", version="draft"):
        check(f"/journeys/{journey['id']}/versions", sdk.JourneyVersionsListResponse, "results")
        check(f"/journeys/{journey['id']}/templates", sdk.JourneyTemplateListResponse, "results", limit="2")
    for run in check("/automations/runs", sdk.AutomationRunListResponse, "runs", limit="50"):
        check(f"/automations/runs/{run['run_id']}/steps", sdk.AutomationRunStepsResponse)
    for run in check("/journeys/runs", sdk.JourneyRunListResponse, "runs", limit="50"):
        check(f"/journeys/runs/{run['run_id']}", sdk.JourneyRunResponse)
        check(f"/journeys/runs/{run['run_id']}/steps", sdk.JourneyRunStepsResponse)
    topic_ids: list[str] = []
    schedule_ids: set[str] = set()
    for section in check("/preferences/sections", sdk.WorkspacePreferenceListResponse)[0]["results"]:
        check(f"/preferences/sections/{section['id']}", sdk.WorkspacePreferenceGetResponse)
        for topic in check(f"/preferences/sections/{section['id']}/topics", sdk.WorkspacePreferenceTopicListResponse)[
            0
        ]["results"]:
            check(
                f"/preferences/sections/{section['id']}/topics/{topic['id']}", sdk.WorkspacePreferenceTopicGetResponse
            )
            topic_ids.append(topic["id"])
            schedule_ids.update(s["schedule_id"] for s in topic.get("digest", {}).get("schedules", []))
    assert len(schedule_ids) == 5 and sum(s.startswith("sch/") for s in schedule_ids) == 2
    for schedule_id in schedule_ids:
        check(f"/digests/schedules/{quote(schedule_id, safe='')}/instances", sdk.DigestInstanceListResponse, "items")
    assert len(check("/preferences/logs", sdk.PreferenceLogsListResponse, "items")) == 200
    for provider in check("/providers", sdk.ProviderListResponse, "results"):
        check(f"/providers/{provider['id']}", sdk.Provider)
    check("/routing-strategies", sdk.RoutingStrategyListResponse, "results")
    for broadcast in check("/broadcasts", sdk.BroadcastListResponse, "results"):
        check(f"/broadcasts/{broadcast['id']}", sdk.Broadcast)
    for user_id in demo.user_ids:
        check(f"/profiles/{user_id}", sdk.ProfileRetrieveResponse)
        check(f"/profiles/{user_id}/lists", sdk_profiles.ListRetrieveResponse, "results")
        for token in check(f"/users/{user_id}/tokens", sdk_users.TokenListResponse)[0]["tokens"]:
            check(f"/users/{user_id}/tokens/{token['token']}", sdk_users.TokenRetrieveResponse)
        check(f"/users/{user_id}/tenants", sdk_users.TenantListResponse, "items")
        for tenant in tenants[:3]:
            check(f"/users/{user_id}/preferences", sdk_users.PreferenceRetrieveResponse, tenant_id=tenant["id"])
        check(f"/users/{user_id}/preferences", sdk_users.PreferenceRetrieveResponse)
        for topic_id in topic_ids:
            check(f"/users/{user_id}/preferences/{topic_id}", sdk_users.PreferenceRetrieveTopicResponse)
    assert seen == {template for template, _ in ROUTES}


def _all(workspace: Workspace, path: str, key: str, **params: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    query = {name: [value] for name, value in params.items()}
    while True:
        status, body = workspace.handle(path, query)
        assert status == 200
        found.extend(body[key])
        cursor = body["paging"]["cursor"] if "paging" in body else body.get("cursor")
        if not cursor:
            return found
        query["cursor"] = [cursor]
