"""Journey versions, journey templates, journey run steps, notification versions and digest instances, read
in-process from the emulator's `small` workspace: each stream emits exactly the emulator's records, each once.

The expected records come from the emulator's own workspace, walked here page by page without the connector,
through the same parents the connector reads (journeys as `GET /journeys` lists them: published ones only).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import quote

import pytest
from airbyte_cdk.models import SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import read

from courier_emulator.fixtures import FIXTURE_API_KEY
from courier_emulator.workspace import Workspace
from source_courier import SourceCourier

STREAMS = ("notification_versions", "journey_versions", "journey_templates", "journey_run_steps", "digest_instances")


def _next_cursor(body: dict[str, Any]) -> str | None:
    """The cursor of the next page in any of Courier's four envelopes, or None on the last page."""
    if "paging" in body:
        return body["paging"]["cursor"] if body["paging"]["more"] else None
    if "has_more" in body:
        return body["cursor"] if body["has_more"] else None
    return body.get("next_cursor") or body.get("cursor")


def walk(workspace: Workspace, path: str, key: str) -> list[dict[str, Any]]:
    """Every record of a list, page by page to the last."""
    found: list[dict[str, Any]] = []
    query: dict[str, list[str]] = {}
    while True:
        status, body = workspace.handle(path, query)
        assert status == 200, (path, body)
        found += body[key]
        cursor = _next_cursor(body)
        if cursor is None:
            return found
        query = {"cursor": [cursor]}


def children(workspace: Workspace, parents: list[str], path: str, key: str, added: str) -> list[dict[str, Any]]:
    """Each parent's records (its id one percent-encoded path segment), with the parent key the connector adds."""
    return [
        {**record, added: parent}
        for parent in parents
        for record in walk(workspace, path.format(quote(parent, safe="")), key)
    ]


def schedule_ids(workspace: Workspace) -> list[str]:
    """Each digest schedule the preference topics name, once, in the order first named."""
    topics = [
        topic
        for section in walk(workspace, "/preferences/sections", "results")
        for topic in walk(workspace, f"/preferences/sections/{section['id']}/topics", "results")
    ]
    named = [
        schedule["schedule_id"] for topic in topics for schedule in (topic.get("digest") or {}).get("schedules", [])
    ]
    return list(dict.fromkeys(named))


def expected_records(workspace: Workspace) -> dict[str, list[dict[str, Any]]]:
    journeys = [journey["id"] for journey in walk(workspace, "/journeys", "templates")]
    notifications = [template["id"] for template in walk(workspace, "/notifications", "results")]
    runs = [run["run_id"] for run in walk(workspace, "/journeys/runs", "runs")]
    expected = {
        "notification_versions": children(
            workspace, notifications, "/notifications/{}/versions", "versions", "notification_id"
        ),
        "journey_versions": children(workspace, journeys, "/journeys/{}/versions", "results", "template_id"),
        "journey_templates": children(workspace, journeys, "/journeys/{}/templates", "results", "template_id"),
        "journey_run_steps": children(workspace, runs, "/journeys/runs/{}/steps", "steps", "run_id"),
        "digest_instances": children(
            workspace, schedule_ids(workspace), "/digests/schedules/{}/instances", "items", "schedule_id"
        ),
    }
    return {stream: [as_emitted(record) for record in found] for stream, found in expected.items()}


def as_emitted(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the CDK emits it: top-level fields that are null are left out."""
    return {key: value for key, value in record.items() if value is not None}


def _sorted(found: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(sorted(record.items())) for record in found)


@pytest.fixture
def courier(courier_emulator_factory):
    return courier_emulator_factory(workspace="small")


def test_each_new_stream_emits_exactly_the_emulators_records(courier):
    workspace = Workspace("small")
    expected = expected_records(workspace)
    config = {"api_key": FIXTURE_API_KEY, "base_url": courier.base_url}
    builder = CatalogBuilder()
    for stream in STREAMS:
        builder.with_stream(stream, SyncMode.full_refresh)
    catalog = builder.build()

    output = read(SourceCourier(config=config, catalog=catalog), config, catalog)

    assert output.errors == []
    emitted: dict[str, list[dict[str, Any]]] = {stream: [] for stream in STREAMS}
    for message in output.records:
        emitted[message.record.stream].append(message.record.data)
    for stream in STREAMS:
        assert expected[stream], f"the emulator serves no {stream}: nothing to compare"
        assert _sorted(emitted[stream]) == _sorted(expected[stream]), stream
    # The oracle agrees with the emulator's own counts, so neither side walks the data wrong. A draft-only
    # journey is not in GET /journeys (published journeys only), so its templates are not read.
    counts = workspace.object_counts()
    (draft_only,) = [journey["id"] for journey in workspace.automation_templates["journeys"] if journey["draft_only"]]
    assert {stream: len(emitted[stream]) for stream in STREAMS if stream in counts} == {
        "notification_versions": counts["notification_versions"],
        "journey_versions": counts["journey_versions"],
        "journey_templates": counts["journey_templates"] - len(workspace.journey_notification_templates[draft_only]),
        "digest_instances": counts["digest_instances"],
    }


def test_each_digest_schedule_is_requested_once_a_legacy_one_percent_encoded(courier):
    workspace = Workspace("small")
    schedules = schedule_ids(workspace)
    named = Counter(
        schedule["schedule_id"]
        for topic in workspace.topics.values()
        for schedule in (topic.get("digest") or {}).get("schedules", [])
    )
    assert len(schedules) == 3 and any(count > 1 for count in named.values())  # a schedule two topics name
    legacy = [schedule for schedule in schedules if schedule.startswith("sch/")]
    assert legacy, "the workspace has a legacy sch/<uuid> schedule"
    config = {"api_key": FIXTURE_API_KEY, "base_url": courier.base_url}
    catalog = CatalogBuilder().with_stream("digest_instances", SyncMode.full_refresh).build()

    output = read(SourceCourier(config=config, catalog=catalog), config, catalog)

    assert output.errors == []
    requested = Counter(request["path"] for request in courier.requests() if request["path"].startswith("/digests/"))
    assert requested == {f"/digests/schedules/{quote(schedule, safe='')}/instances": 1 for schedule in schedules}
    assert f"/digests/schedules/sch%2F{legacy[0].removeprefix('sch/')}/instances" in requested
