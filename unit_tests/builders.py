"""Builders for Courier-shaped test data: each takes only what a test varies."""

from __future__ import annotations

import socket
from collections.abc import Callable
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import responses
from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.sources.utils.schema_helpers import ResourceSchemaLoader
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput
from responses import matchers

from courier_emulator.data import MessageLog
from courier_emulator.workspace import Workspace

BASE_URL = "https://api.courier.com"
MESSAGES_URL = f"{BASE_URL}/messages"
# Long and distinctive, so a leak is unmistakable in any output.
API_KEY = "pk_test_CANARY_unit_7f3c9a1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a"
DAY_MS = 86_400_000


def config(**overrides: Any) -> dict[str, Any]:
    return {"api_key": API_KEY, **overrides}


def message(id: str, enqueued: int = 1_767_225_600_000, **fields: Any) -> dict[str, Any]:
    """One `GET /messages` result (reference section C); `fields` override the delivered defaults."""
    return {
        "id": id,
        "status": "DELIVERED",
        "enqueued": enqueued,
        "sent": enqueued + 1_000,
        "delivered": enqueued + 4_000,
        "opened": None,
        "clicked": None,
        "recipient": "user-1",
        "event": "order-shipped",
        "notification": "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4",
        "error": None,
        "reason": None,
        **fields,
    }


def page(
    records: list[dict[str, Any]], cursor: str | None = None, more: bool | None = None, key: str = "results"
) -> dict[str, Any]:
    """A paging-style-A body; `more` defaults to whether a cursor is given."""
    return {"paging": {"cursor": cursor, "more": cursor is not None if more is None else more}, key: records}


Body = Callable[[list[dict[str, Any]], str | None], dict[str, Any]]  # (records, next cursor) -> one page's body


def paging_a(key: str) -> Body:
    """`page` for an endpoint whose records are under `key` (`items` on lists, audiences and their children)."""
    return lambda records, cursor: page(records, cursor, key=key)


def has_more_page(items: list[dict[str, Any]], cursor: str | None = None, path: str = "/tenants") -> dict[str, Any]:
    """A paging-style-B body (tenants and their users and templates): `has_more` while a cursor is given."""
    next_url = f"{path}?cursor={cursor}&limit=100" if cursor else None
    return {
        "items": items,
        "has_more": cursor is not None,
        "cursor": cursor,
        "next_url": next_url,
        "url": path,
        "type": "list",
    }


def templates_page(templates: list[dict[str, Any]], cursor: str | None = None) -> dict[str, Any]:
    """A paging-style-C body (automations, journeys): a cursor only while there is more."""
    return {"templates": templates} | ({"cursor": cursor} if cursor else {})


def runs_page(runs: list[dict[str, Any]], next_cursor: str | None = None) -> dict[str, Any]:
    """A paging-style-D body (automation and journey runs): `next_cursor` only while there is more."""
    return {"runs": runs} | ({"next_cursor": next_cursor} if next_cursor else {})


def error(message: str = "Unauthorized", type_: str = "authentication_error") -> dict[str, str]:
    """Courier's error body."""
    return {"message": message, "type": type_}


def refused_key(couriers_message: str | None) -> str:
    """The config error a 401 or 403 ends in (manifest `filter_auth`), quoting Courier's message."""
    return (
        f'Courier refused the API key ("{couriers_message or "no message"}"). The key is wrong, revoked or missing, '
        "belongs to the other environment (test and production keys differ), or, less often, has no access to "
        "this data. Copy an API key from Settings > API Keys in Courier, for the workspace and environment you "
        "want to sync, into api_key."
    )


def catalog(
    sync_mode: SyncMode = SyncMode.full_refresh, streams: tuple[str, ...] = ("messages",)
) -> ConfiguredAirbyteCatalog:
    builder = CatalogBuilder()
    for stream in streams:
        builder.with_stream(stream, sync_mode)
    return builder.build()


def state(enqueued: int | str) -> list[AirbyteStateMessage]:
    """Saved messages state as the CDK emits it: the max `enqueued`, as a string of epoch ms."""
    return stream_state("messages", {"enqueued": str(enqueued)})


def stream_state(stream: str, blob: dict[str, Any]) -> list[AirbyteStateMessage]:
    """One stream's saved state, as the CDK emits it."""
    return [
        AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name=stream), stream_state=AirbyteStateBlob(**blob)
            ),
        )
    ]


def final_state(output: EntrypointOutput, stream: str) -> dict[str, Any]:
    """The last state the read emitted for one stream."""
    blobs = [
        m.state.stream.stream_state.__dict__
        for m in output.state_messages
        if m.state.stream.stream_descriptor.name == stream
    ]
    return blobs[-1]


def ids(output: EntrypointOutput) -> list[str]:
    """Emitted message ids, in order."""
    return [record.record.data["id"] for record in output.records]


def records(output: EntrypointOutput, stream: str) -> list[dict[str, Any]]:
    """One stream's emitted record data, in the order emitted."""
    return [m.record.data for m in output.records if m.record.stream == stream]


def keys(output: EntrypointOutput, stream: str, *fields: str) -> list[tuple[Any, ...]]:
    """One stream's emitted records as tuples of the given fields, in the order emitted."""
    return [tuple(data.get(field) for field in fields) for data in records(output, stream)]


def stream_error(output: EntrypointOutput) -> AirbyteErrorTraceMessage:
    """The stream's own error; the CDK ends a failed read with a generic summary after it."""
    (error,) = [m.trace.error for m in output.errors if m.trace.error.stream_descriptor is not None]
    return error


# Where Courier (and the emulator) serves each stream: a top-level list's path and records key ...
LIST_ENDPOINTS: dict[str, tuple[str, str]] = {
    "brands": ("/brands", "results"),
    "notifications": ("/notifications", "results"),
    "lists": ("/lists", "items"),
    "audiences": ("/audiences", "items"),
    "tenants": ("/tenants", "items"),
    "audit_events": ("/audit-events", "results"),
    "automations": ("/automations", "templates"),
    "automation_runs": ("/automations/runs", "runs"),
    "journeys": ("/journeys", "templates"),
    "journey_runs": ("/journeys/runs", "runs"),
    "preference_sections": ("/preferences/sections", "results"),
    "preference_logs": ("/preferences/logs", "items"),
    "providers": ("/providers", "results"),
    "routing_strategies": ("/routing-strategies", "results"),
    "broadcasts": ("/broadcasts", "results"),
}
# ... and a child's: (parent stream, the parent field naming it, path with {}, records key (None: the whole body),
# the key the connector adds). The user streams' parent is every user id the workspace's lists, audiences and
# tenants name.
CHILD_ENDPOINTS: dict[str, tuple[str, str, str, str | None, str]] = {
    "list_subscriptions": ("lists", "id", "/lists/{}/subscriptions", "items", "list_id"),
    "audience_members": ("audiences", "id", "/audiences/{}/members", "items", "audience_id"),
    "tenant_users": ("tenants", "id", "/tenants/{}/users", "items", "tenant_id"),
    "tenant_templates": ("tenants", "id", "/tenants/{}/templates", "items", "tenant_id"),
    "preference_topics": ("preference_sections", "id", "/preferences/sections/{}/topics", "results", "section_id"),
    "profiles": ("users", "user_id", "/profiles/{}", None, "user_id"),
    "user_tokens": ("users", "user_id", "/users/{}/tokens", "tokens", "user_id"),
    "user_preferences": ("users", "user_id", "/users/{}/preferences", "items", "user_id"),
}
# ... and the children `integration_tests/test_cli_streams.py` does not read (the installed CLI it runs need not
# have them; `integration_tests/test_new_streams.py` reads them in-process). The parent of digest_instances is each
# digest schedule the preference topics name.
MORE_CHILD_ENDPOINTS: dict[str, tuple[str, str, str, str | None, str]] = {
    "notification_versions": ("notifications", "id", "/notifications/{}/versions", "versions", "notification_id"),
    "journey_versions": ("journeys", "id", "/journeys/{}/versions", "results", "template_id"),
    "journey_templates": ("journeys", "id", "/journeys/{}/templates", "results", "template_id"),
    "journey_run_steps": ("journey_runs", "run_id", "/journeys/runs/{}/steps", "steps", "run_id"),
    "digest_instances": ("digest_schedules", "schedule_id", "/digests/schedules/{}/instances", "items", "schedule_id"),
}
MESSAGE_CHILDREN: dict[str, str] = {"message_history": "history", "message_content": "output"}  # -> /messages/{id}/...


@cache
def small_workspace() -> Workspace:
    """The emulator's `small` workspace; its shapes are checked against Courier's SDK by the fidelity test."""
    return Workspace("small")


def sample(stream: str, **fields: Any) -> dict[str, Any]:
    """A real-shaped record of the stream as Courier sends it (no parent key), with `fields` overriding."""
    if stream in MESSAGE_CHILDREN:
        log = MessageLog()
        entries = log.history(0) if stream == "message_history" else log.output(0)
        return {**entries[0], **fields}
    if stream in LIST_ENDPOINTS:
        path, key = LIST_ENDPOINTS[stream]
    else:
        parent, parent_field, template, key, _ = {**CHILD_ENDPOINTS, **MORE_CHILD_ENDPOINTS}[stream]
        if parent == "users":
            parent_record = {"user_id": small_workspace().user_ids[0]}
        elif parent == "digest_schedules":
            parent_record = {"schedule_id": next(iter(small_workspace().digest_schedules))}
        else:
            parent_record = sample(parent)
        path = template.format(quote(parent_record[parent_field], safe=""))
    _, body = small_workspace().handle(path, {})
    return {**(body if key is None else body[key][0]), **fields}


def unresolvable(monkeypatch: Any, host: str, loopback_only: bool = False) -> list[str]:
    """Makes `host` fail its DNS lookup at once, as a mistyped name, without asking any resolver; with
    `loopback_only`, looking up any other name than 127.0.0.1 fails the test. Returns the failed lookups, in order."""
    real_getaddrinfo, failed = socket.getaddrinfo, []

    def getaddrinfo(name: Any, *args: Any, **kwargs: Any) -> Any:
        if name == host:
            failed.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if loopback_only and name != "127.0.0.1":
            raise AssertionError(f"a test looked up {name}")
        return real_getaddrinfo(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return failed


# The parameters the manifest sends on every request to a path, whatever the page or state: `serve` expects them,
# `queries` checks each request has them and leaves them out.
ALWAYS_SENT = {"/messages": {"limit": "100"}}


def serve(api: responses.RequestsMock, path: str, body: Any, status: int = 200, **query: str) -> None:
    """Courier answers `body` to GET `path` with exactly this query string and the path's `ALWAYS_SENT` (no other
    query matches)."""
    query = {**ALWAYS_SENT.get(path, {}), **query}
    api.get(
        f"{BASE_URL}{path}", json=body, status=status, match=[matchers.query_param_matcher(query, strict_match=True)]
    )


def queries(api: responses.RequestsMock, path: str) -> list[dict[str, str]]:
    """The query parameters of each request made to exactly `path`, in the order made, without the path's
    `ALWAYS_SENT`, which each must have once (no parameter may be sent twice)."""
    pairs = [parse_qsl(urlsplit(call.request.url).query) for call in api.calls if _path(call) == path]
    made = [dict(sent) for sent in pairs]
    assert [len(sent) for sent in pairs] == [len(query) for query in made], pairs  # no parameter sent twice
    always = ALWAYS_SENT.get(path, {})
    assert all(query.items() >= always.items() for query in made), made
    return [{key: value for key, value in query.items() if key not in always} for query in made]


def paths(api: responses.RequestsMock) -> list[str]:
    """The path of each request made, in the order made."""
    return [_path(call) for call in api.calls]


def _path(call: Any) -> str:
    return urlsplit(call.request.url).path


@cache
def schema(stream: str) -> dict[str, Any]:
    """The stream's JSON schema as the connector declares it (shared definitions resolved)."""
    return ResourceSchemaLoader("source_courier").get_schema(stream)
