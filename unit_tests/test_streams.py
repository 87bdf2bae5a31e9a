"""Every stream as discover declares it, and each top-level list paged to its end through its real envelope."""

from __future__ import annotations

import json

import jsonschema
import pytest
from airbyte_cdk.models import AirbyteMessageSerializer

from courier_emulator.workspace import PROVIDER_SECRET_MARKER
from source_courier import SourceCourier
from unit_tests.builders import (
    Body,
    config,
    has_more_page,
    keys,
    page,
    paging_a,
    queries,
    records,
    runs_page,
    sample,
    schema,
    serve,
    templates_page,
)

FULL = ["full_refresh"]
INCREMENTAL = ["full_refresh", "incremental"]

# name -> (primary key, sync modes, cursor field): the stream table.
CATALOG: dict[str, tuple[list[list[str]] | None, list[str], list[str] | None]] = {
    "messages": ([["id"]], INCREMENTAL, ["enqueued"]),
    "message_history": ([["message_id"], ["type"], ["ts"]], INCREMENTAL, ["enqueued"]),
    "message_content": ([["message_id"], ["channel_id"]], INCREMENTAL, ["enqueued"]),
    "brands": ([["id"]], FULL, None),
    "notifications": ([["id"]], FULL, None),
    "notification_versions": ([["notification_id"], ["version"]], FULL, None),
    "lists": ([["id"]], FULL, None),
    "list_subscriptions": ([["list_id"], ["recipientId"]], FULL, None),
    "audiences": ([["id"]], FULL, None),
    "audience_members": ([["audience_id"], ["member_id"]], FULL, None),
    "tenants": ([["id"]], FULL, None),
    "tenant_users": ([["tenant_id"], ["user_id"]], FULL, None),
    "tenant_templates": ([["tenant_id"], ["id"]], FULL, None),
    "audit_events": ([["auditEventId"]], FULL, None),
    "automations": ([["id"]], FULL, None),
    "automation_runs": ([["run_id"]], INCREMENTAL, ["created_at"]),
    "journeys": ([["id"]], FULL, None),
    "journey_versions": ([["template_id"], ["version"]], FULL, None),
    "journey_templates": ([["template_id"], ["id"]], FULL, None),
    "journey_runs": ([["run_id"]], INCREMENTAL, ["created_at"]),
    "journey_run_steps": (None, FULL, None),  # nothing identifies a step (no step id; node_id is optional)
    "preference_sections": ([["id"]], FULL, None),
    "preference_topics": ([["section_id"], ["id"]], FULL, None),
    "digest_instances": ([["schedule_id"], ["digest_instance_id"]], FULL, None),
    "preference_logs": ([["id"]], INCREMENTAL, ["timestamp"]),
    "providers": ([["id"]], FULL, None),
    "routing_strategies": ([["id"]], FULL, None),
    "broadcasts": ([["id"]], FULL, None),
    "profiles": ([["user_id"]], FULL, None),
    "user_tokens": ([["user_id"], ["token"]], FULL, None),
    "user_preferences": ([["user_id"], ["topic_id"]], FULL, None),
}


def test_discover_lists_every_stream_with_its_primary_key_sync_modes_and_cursor(run_discover, api):
    output = run_discover(config())

    streams = output.catalog.catalog.streams
    assert [stream.name for stream in streams] == list(CATALOG)
    for stream in streams:
        primary_key, modes, cursor = CATALOG[stream.name]
        assert stream.source_defined_primary_key == primary_key, stream.name
        assert [mode.value for mode in stream.supported_sync_modes] == modes, stream.name
        assert stream.default_cursor_field == cursor, stream.name
        assert stream.source_defined_cursor == (cursor is not None or None), stream.name
    assert len(api.calls) == 0


def test_every_stream_has_a_description_linking_couriers_api_reference():
    manifest = SourceCourier(config=config()).resolved_manifest

    descriptions = {stream["name"]: stream.get("description", "") for stream in manifest["streams"]}

    assert set(descriptions) == set(CATALOG)
    assert all("https://www.courier.com/docs/" in text for text in descriptions.values()), descriptions


# stream -> (path, the body of a page, the query every page carries, the primary key field)
TOP_LEVEL: dict[str, tuple[str, Body, dict[str, str], str]] = {
    "brands": ("/brands", paging_a("results"), {}, "id"),
    "notifications": ("/notifications", paging_a("results"), {}, "id"),
    "lists": ("/lists", paging_a("items"), {}, "id"),
    "audiences": ("/audiences", paging_a("items"), {}, "id"),
    "audit_events": ("/audit-events", paging_a("results"), {}, "auditEventId"),
    "providers": ("/providers", paging_a("results"), {}, "id"),
    "routing_strategies": ("/routing-strategies", paging_a("results"), {"limit": "100"}, "id"),
    "broadcasts": ("/broadcasts", paging_a("results"), {"limit": "100"}, "id"),
    "tenants": ("/tenants", has_more_page, {"limit": "100"}, "id"),
    "automations": ("/automations", templates_page, {}, "id"),
    "journeys": ("/journeys", templates_page, {}, "id"),
}


@pytest.mark.parametrize("stream", [pytest.param(stream, id=stream) for stream in TOP_LEVEL])
def test_top_level_stream_follows_its_cursor_to_the_last_page(api, run_read, stream):
    path, body, query, key = TOP_LEVEL[stream]
    serve(api, path, body([sample(stream, **{key: "r1"}), sample(stream, **{key: "r2"})], "c1"), **query)
    serve(api, path, body([sample(stream, **{key: "r3"})], None), **query, cursor="c1")

    output = run_read(config(), streams=(stream,))

    assert keys(output, stream, key) == [("r1",), ("r2",), ("r3",)]
    assert queries(api, path) == [query, {**query, "cursor": "c1"}]
    for record in records(output, stream):
        jsonschema.validate(record, schema(stream))
    assert not output.errors


EPOCH = "1970-01-01T00:00:00.000Z"  # start_date's floor when neither config nor state sets one


def test_run_streams_page_by_next_cursor_fifty_at_a_time(api, run_read):
    serve(api, "/journeys/runs", runs_page([sample("journey_runs", run_id="r1")], "n1"), limit="50", start_date=EPOCH)
    serve(
        api,
        "/journeys/runs",
        runs_page([sample("journey_runs", run_id="r2")]),
        limit="50",
        start_date=EPOCH,
        cursor="n1",
    )

    output = run_read(config(), streams=("journey_runs",))

    assert keys(output, "journey_runs", "run_id") == [("r1",), ("r2",)]
    assert queries(api, "/journeys/runs") == [
        {"start_date": EPOCH, "limit": "50"},
        {"start_date": EPOCH, "limit": "50", "cursor": "n1"},
    ]


def test_preference_sections_are_one_unpaged_request(api, run_read):
    serve(api, "/preferences/sections", {"results": [sample("preference_sections", id="s1")]})

    output = run_read(config(), streams=("preference_sections",))

    assert keys(output, "preference_sections", "id") == [("s1",)]
    assert queries(api, "/preferences/sections") == [{}]


def test_providers_never_emit_their_settings(api, run_read):
    provider = sample("providers", id="p1")
    assert PROVIDER_SECRET_MARKER in json.dumps(provider["settings"])  # the sample carries a credential to drop
    serve(api, "/providers", page([provider]))

    output = run_read(config(), streams=("providers",))

    (emitted,) = records(output, "providers")
    assert emitted == {key: value for key, value in provider.items() if key != "settings" and value is not None}
    assert not any(PROVIDER_SECRET_MARKER in json.dumps(AirbyteMessageSerializer.dump(m)) for m in output._messages)
