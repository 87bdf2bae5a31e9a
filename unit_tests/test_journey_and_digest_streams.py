"""Journey versions, journey templates, journey run steps, notification versions and digest instances: each a child
stream carrying its parent's key, skipping a vanished parent, and paging its own way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource
from jsonschema import ValidationError

from unit_tests.builders import (
    BASE_URL,
    Body,
    config,
    error,
    has_more_page,
    keys,
    paging_a,
    paths,
    queries,
    records,
    runs_page,
    sample,
    schema,
    serve,
    stream_error,
    templates_page,
)

EPOCH = "1970-01-01T00:00:00.000Z"  # start_date's floor: journey runs, the parent of run steps, send it
RUNS_QUERY = {"limit": "50", "start_date": EPOCH}
LEGACY = "sch/1d967bc0-53b4-4231-999a-11170db612a6"  # a schedule made in the Preferences Editor: a "/" in its id
LEGACY_SEGMENT = "sch%2F1d967bc0-53b4-4231-999a-11170db612a6"
MANIFEST = Path(__file__).resolve().parents[1] / "source_courier" / "manifest.yaml"


def _steps(records: list[dict[str, Any]], cursor: str | None) -> dict[str, Any]:
    return {"steps": records}


# stream -> (parent stream, parent path, parent body, the query of the parent's page, child path with {},
#            child body, query on every child page, parent key added to records, the child's own key field)
CHILDREN: dict[str, tuple[str, str, Body, dict[str, str], str, Body, dict[str, str], str, str]] = {
    "journey_versions": (
        "journeys",
        "/journeys",
        templates_page,
        {},
        "/journeys/{}/versions",
        paging_a("results"),
        {},
        "template_id",
        "version",
    ),
    "journey_templates": (
        "journeys",
        "/journeys",
        templates_page,
        {},
        "/journeys/{}/templates",
        paging_a("results"),
        {"limit": "100"},
        "template_id",
        "id",
    ),
    "notification_versions": (
        "notifications",
        "/notifications",
        paging_a("results"),
        {},
        "/notifications/{}/versions",
        paging_a("versions"),
        {},  # Courier's page is at most 10 here, its default: no `limit` sent
        "notification_id",
        "version",
    ),
    "journey_run_steps": (
        "journey_runs",
        "/journeys/runs",
        runs_page,
        RUNS_QUERY,
        "/journeys/runs/{}/steps",
        _steps,
        {},
        "run_id",
        "node_id",
    ),
}
PAGED_CHILDREN = [stream for stream in CHILDREN if stream != "journey_run_steps"]


def _serve_parents(api: Any, stream: str, *parent_ids: str) -> None:
    parent, parent_path, parent_body, parent_query, *_ = CHILDREN[stream]
    parent_field = "run_id" if parent == "journey_runs" else "id"
    parents = [sample(parent, **{parent_field: parent_id}) for parent_id in parent_ids]
    serve(api, parent_path, parent_body(parents, None), **parent_query)


@pytest.mark.parametrize("stream", [pytest.param(stream, id=stream) for stream in PAGED_CHILDREN])
def test_child_pages_each_parent_to_its_end_and_carries_the_parent_id_as_a_string(api, run_read, stream):
    *_, child_path, child_body, query, parent_key, own_key = CHILDREN[stream]
    _serve_parents(api, stream, "12345", "p2")  # an id of digits stays a string
    serve(api, child_path.format("12345"), child_body([sample(stream, **{own_key: "a"})], "c1"), **query)
    serve(api, child_path.format("12345"), child_body([sample(stream, **{own_key: "b"})], None), **query, cursor="c1")
    serve(api, child_path.format("p2"), child_body([sample(stream, **{own_key: "c"})], None), **query)

    output = run_read(config(), streams=(stream,))

    # Parents are read concurrently, so only each parent's own pages keep their order.
    assert sorted(keys(output, stream, parent_key, own_key)) == [("12345", "a"), ("12345", "b"), ("p2", "c")]
    assert queries(api, child_path.format("12345")) == [query, {**query, "cursor": "c1"}]
    assert queries(api, child_path.format("p2")) == [query]
    for record in records(output, stream):
        jsonschema.validate(record, schema(stream))
    assert not output.errors


def test_journey_run_steps_are_one_unpaged_request_per_run_carrying_the_run_id(api, run_read):
    _serve_parents(api, "journey_run_steps", "r1", "r2")
    serve(api, "/journeys/runs/r1/steps", {"steps": [sample("journey_run_steps", node_id="n1")]})
    serve(api, "/journeys/runs/r2/steps", {"steps": [sample("journey_run_steps", node_id="n2")]})

    output = run_read(config(), streams=("journey_run_steps",))

    assert sorted(keys(output, "journey_run_steps", "run_id", "node_id")) == [("r1", "n1"), ("r2", "n2")]
    assert sorted(paths(api)) == ["/journeys/runs", "/journeys/runs/r1/steps", "/journeys/runs/r2/steps"]
    for record in records(output, "journey_run_steps"):
        jsonschema.validate(record, schema("journey_run_steps"))
    assert not output.errors


@pytest.mark.parametrize("stream", [pytest.param(stream, id=stream) for stream in CHILDREN])
def test_a_parent_deleted_mid_sync_is_skipped_with_a_log_line(api, run_read, stream):
    *_, child_path, child_body, query, parent_key, own_key = CHILDREN[stream]
    _serve_parents(api, stream, "gone", "kept")
    serve(api, child_path.format("gone"), error("Not Found", "invalid_request_error"), status=404, **query)
    serve(api, child_path.format("kept"), child_body([sample(stream, **{own_key: "a"})], None), **query)

    output = run_read(config(), streams=(stream,))

    assert keys(output, stream, parent_key, own_key) == [("kept", "a")]
    assert (
        f"Skipped {BASE_URL}{child_path.format('gone')}: Courier answered 404 Not Found, so its parent was deleted "
        "during the sync."
    ) in [entry.log.message for entry in output.logs]
    assert not output.errors
    assert len(queries(api, child_path.format("gone"))) == 1  # not retried


def test_a_repeated_journey_versions_cursor_fails_naming_the_endpoint(api, run_read):
    """Courier documents no `cursor` parameter on this endpoint, yet returns one: a cursor it cannot honour
    would come back unchanged."""
    versions = paging_a("results")
    _serve_parents(api, "journey_versions", "j1")
    serve(api, "/journeys/j1/versions", versions([sample("journey_versions", version="v3")], "c1"))
    serve(api, "/journeys/j1/versions", versions([sample("journey_versions", version="v2")], "c1"), cursor="c1")

    output = run_read(config(), streams=("journey_versions",))

    assert keys(output, "journey_versions", "version") == [("v3",), ("v2",)]
    assert queries(api, "/journeys/j1/versions") == [{}, {"cursor": "c1"}]
    failure = stream_error(output)
    assert failure.failure_type.value == "system_error"
    assert "already returned while paging GET /journeys/j1/versions (2 pages in)" in failure.message


# --- digest instances: one partition per schedule the preference topics name ----------------------------------


def _topic(topic_id: str, *schedule_ids: str) -> dict[str, Any]:
    """A preference topic whose digest names these schedules (no digest when none are given)."""
    if not schedule_ids:
        return sample("preference_topics", id=topic_id, digest=None)
    schedules = [{"schedule_id": schedule_id, "frequency": "daily", "time": "09:00"} for schedule_id in schedule_ids]
    digest = {"template_id": "nt_1", "categories": [], "schedules": schedules}
    return sample("preference_topics", id=topic_id, digest=digest)


def _serve_topics(api: Any, topics_by_section: dict[str, list[dict[str, Any]]]) -> None:
    sections = [sample("preference_sections", id=section_id) for section_id in topics_by_section]
    serve(api, "/preferences/sections", {"results": sections})
    for section_id, topics in topics_by_section.items():
        serve(api, f"/preferences/sections/{section_id}/topics", {"results": topics})


def _instances(path: str, *ids: str, cursor: str | None = None) -> dict[str, Any]:
    return has_more_page([sample("digest_instances", digest_instance_id=i) for i in ids], cursor, path=path)


def test_a_schedule_named_by_two_topics_is_requested_once(api, run_read):
    _serve_topics(
        api,
        {
            "s1": [_topic("t1", "sch_a", "sch_shared")],
            "s2": [_topic("t2", "sch_shared"), _topic("t3")],  # t3 has no digest: no schedule
        },
    )
    for schedule_id, instance in (("sch_a", "i1"), ("sch_shared", "i2")):
        path = f"/digests/schedules/{schedule_id}/instances"
        serve(api, path, _instances(path, instance), limit="100")

    output = run_read(config(), streams=("digest_instances",))

    assert sorted(keys(output, "digest_instances", "schedule_id", "digest_instance_id")) == [
        ("sch_a", "i1"),
        ("sch_shared", "i2"),
    ]
    assert sorted(path for path in paths(api) if path.startswith("/digests/")) == [
        "/digests/schedules/sch_a/instances",
        "/digests/schedules/sch_shared/instances",
    ]
    for record in records(output, "digest_instances"):
        jsonschema.validate(record, schema("digest_instances"))
    assert not output.errors


def test_a_legacy_schedule_id_is_requested_as_one_percent_encoded_path_segment(api, run_read):
    _serve_topics(api, {"s1": [_topic("t1", LEGACY)]})
    path = f"/digests/schedules/{LEGACY_SEGMENT}/instances"
    serve(api, path, _instances(path, "i1"), limit="100")

    output = run_read(config(), streams=("digest_instances",))

    urls = [call.request.url for call in api.calls]
    assert [url for url in urls if "/digests/" in url] == [f"{BASE_URL}{path}?limit=100"]  # as sent, byte for byte
    assert keys(output, "digest_instances", "schedule_id", "digest_instance_id") == [(LEGACY, "i1")]  # as named


def test_digest_instances_page_by_has_more_and_cursor_a_hundred_at_a_time(api, run_read):
    _serve_topics(api, {"s1": [_topic("t1", "sch_a")]})
    path = "/digests/schedules/sch_a/instances"
    serve(api, path, _instances(path, "i1", "i2", cursor="c1"), limit="100")
    serve(api, path, _instances(path, "i3", cursor="c2"), limit="100", cursor="c1")
    serve(api, path, _instances(path), limit="100", cursor="c2")  # an empty last page

    output = run_read(config(), streams=("digest_instances",))

    assert keys(output, "digest_instances", "digest_instance_id") == [("i1",), ("i2",), ("i3",)]
    assert queries(api, path) == [{"limit": "100"}, {"limit": "100", "cursor": "c1"}, {"limit": "100", "cursor": "c2"}]
    assert not output.errors


def test_a_schedule_deleted_mid_sync_is_skipped(api, run_read):
    gone, kept = "/digests/schedules/sch_gone/instances", "/digests/schedules/sch_kept/instances"
    _serve_topics(api, {"s1": [_topic("t1", "sch_gone", "sch_kept")]})
    serve(api, gone, error("Not Found", "invalid_request_error"), status=404, limit="100")
    serve(api, kept, _instances(kept, "i1"), limit="100")

    output = run_read(config(), streams=("digest_instances",))

    assert keys(output, "digest_instances", "schedule_id", "digest_instance_id") == [("sch_kept", "i1")]
    assert not output.errors
    assert len(queries(api, gone)) == 1  # not retried


def test_the_cdk_refuses_a_union_of_one_router_so_the_schedules_union_adds_an_empty_list():
    """The union is there to request each schedule once; the CDK wants two routers in it at least."""
    manifest = yaml.safe_load(MANIFEST.read_text())
    union = manifest["definitions"]["digest_instances_stream"]["retriever"]["partition_router"]
    assert union["partition_routers"][1] == {"type": "ListPartitionRouter", "cursor_field": "schedule_id", "values": []}
    del union["partition_routers"][1]

    with pytest.raises(ValidationError) as refused:
        ConcurrentDeclarativeSource(source_config=manifest, config=config()).streams(config())

    assert {
        tuple(reason.absolute_path)[-2:] for reason in _reasons(refused.value) if reason.validator == "minItems"
    } == {("partition_router", "partition_routers")}


def _reasons(error: ValidationError) -> Iterator[ValidationError]:
    """The error and every error beneath it: its cause, and each alternative of an anyOf tried."""
    yield error
    for reason in (error.__cause__, *(error.context or ())):
        if isinstance(reason, ValidationError):
            yield from _reasons(reason)
