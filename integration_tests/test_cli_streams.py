"""Every stream, read by the installed CLI from the emulator's `small` workspace, record for record.

The expected records come from the emulator's own objects (`Workspace("small")`, `MessageLog`), walked page by page
independently of the connector (`workspace_oracle.py`): each stream must emit exactly those, each once, with the
parent keys added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from courier_emulator.data import MessageLog
from courier_emulator.server import RunningEmulator, route_template, run_in_thread
from courier_emulator.workspace import PROVIDER_SECRET_MARKER, Workspace
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, cli, discovered_catalog, error_traces, of_type
from integration_tests.workspace_oracle import ALL_STREAMS, INCREMENTAL, as_emitted, expected_records, walk
from unit_tests.builders import CHILD_ENDPOINTS, LIST_ENDPOINTS

MESSAGES = 25
# How many times a full read of every stream requests each page of a stream: once for the stream itself, and once
# more for each stream that reads it as a parent or grandparent (the CDK reads a parent again for each child
# stream). The user streams (profiles, user_tokens, user_preferences) each read list_subscriptions,
# audience_members and tenant_users, which read lists, audiences and tenants.
READS_PER_PAGE = {
    "messages": 3,  # messages, message_history, message_content
    "lists": 5,  # lists, list_subscriptions, and the 3 user streams
    "list_subscriptions": 4,  # itself and the 3 user streams
    "audiences": 5,
    "audience_members": 4,
    "tenants": 6,  # tenants, tenant_users, tenant_templates, and the 3 user streams
    "tenant_users": 4,
    "preference_sections": 2,  # preference_sections, preference_topics
}
# The stream each route serves.
OWNERS = {
    "/messages": "messages",
    "/messages/{id}/history": "message_history",
    "/messages/{id}/output": "message_content",
    **{path: stream for stream, (path, _) in LIST_ENDPOINTS.items()},
    **{path.format("{id}"): stream for stream, (_, _, path, _, _) in CHILD_ENDPOINTS.items()},
}


# --- running the CLI ---------------------------------------------------------------------------------------------


@pytest.fixture
def workspace() -> Workspace:
    return Workspace("small")


@pytest.fixture
def courier(workspace: Workspace) -> Iterator[RunningEmulator]:
    with run_in_thread(api_key=API_KEY, messages=MESSAGES, workspace=workspace) as emulator:
        yield emulator


def read(tmp_path: Any, config: dict[str, Any], streams: tuple[str, ...], mode: str, state: Any = None) -> dict:
    files: dict[str, Any] = {"catalog": discovered_catalog(tmp_path, config, streams, mode)}
    if state is not None:
        files["state"] = state
    code, messages = cli(tmp_path, "read", config, **files)
    assert code == 0 and error_traces(messages) == []
    emitted: dict[str, list[dict[str, Any]]] = {stream: [] for stream in streams}
    for record in of_type(messages, "RECORD"):
        emitted[record["stream"]].append(record["data"])
    states = {state["stream"]["stream_descriptor"]["name"]: state for state in of_type(messages, "STATE")}
    return {"records": emitted, "states": states}


def _sorted(records: list[dict[str, Any]]) -> list[str]:
    return sorted(repr(sorted(record.items())) for record in records)


# --- the tests -----------------------------------------------------------------------------------------------------


def test_full_refresh_of_every_stream_emits_exactly_the_emulators_records(tmp_path, courier, workspace):
    expected = expected_records(workspace, MessageLog(MESSAGES))
    counts = workspace.object_counts()

    result = read(tmp_path, cli_runner.config(courier.base_url), ALL_STREAMS, "full_refresh")

    emitted = result["records"]
    for stream in ALL_STREAMS:
        assert _sorted(emitted[stream]) == _sorted(expected[stream]), stream
    # The oracle agrees with the emulator's own counts, so neither side is walking the data wrong. The last
    # automation and journey template is a draft only, and Courier lists published versions by default.
    sizes = {stream: len(records) for stream, records in emitted.items()}
    counts |= {"automations": counts["automations"] - 1, "journeys": counts["journeys"] - 1}
    assert {stream: sizes[stream] for stream in set(counts) & set(sizes)} == {
        stream: counts[stream] for stream in set(counts) & set(sizes)
    }
    assert sizes["messages"] == MESSAGES and sizes["user_tokens"] == counts["tokens"]
    assert sizes["profiles"] == len({record["user_id"] for record in expected["profiles"]})
    assert all(count > 0 for count in sizes.values()), sizes
    # Each page of a stream once per stream that reads it (READS_PER_PAGE), and every route's pages requested.
    requested = Counter((request["path"], repr(sorted(request["query"].items()))) for request in courier.requests())
    owners = {url: OWNERS[route_template(url[0], workspace)] for url in requested}
    assert dict(requested) == {url: READS_PER_PAGE.get(owner, 1) for url, owner in owners.items()}
    assert set(owners.values()) == set(ALL_STREAMS)
    assert (requested[("/lists", "[]")], requested[("/messages", "[('limit', '100')]")]) == (5, 3)


def test_each_user_is_requested_once_per_user_stream(tmp_path, courier, workspace):
    expected_users = len(expected_records(workspace, MessageLog(MESSAGES))["profiles"])

    read(tmp_path, cli_runner.config(courier.base_url), ("profiles", "user_tokens", "user_preferences"), "full_refresh")

    requested = Counter(request["path"] for request in courier.requests())
    user_paths = [path for path in requested if path.startswith(("/profiles/", "/users/"))]
    assert len(user_paths) == 3 * expected_users
    assert {requested[path] for path in user_paths} == {1}


def test_provider_settings_never_leave_the_connector(tmp_path, courier):
    code, messages = cli(
        tmp_path,
        "read",
        cli_runner.config(courier.base_url),
        catalog=discovered_catalog(tmp_path, cli_runner.config(courier.base_url), ("providers",), "full_refresh"),
    )

    assert code == 0
    assert of_type(messages, "RECORD") and all("settings" not in r["data"] for r in of_type(messages, "RECORD"))
    assert PROVIDER_SECRET_MARKER not in cli_runner.OUTPUTS[-2] + cli_runner.OUTPUTS[-1]  # stdout and stderr


def test_incremental_resume_reads_only_what_is_new_on_every_incremental_stream(tmp_path, courier, workspace):
    config = cli_runner.config(courier.base_url, lookback_days=0)
    first = read(tmp_path, config, INCREMENTAL, "incremental")
    everything = expected_records(workspace, MessageLog(MESSAGES))
    for stream in INCREMENTAL:  # a first incremental sync has no state: it reads everything, as a full refresh
        assert _sorted(first["records"][stream]) == _sorted(everything[stream]), stream
    newest_run = {
        stream: max(run["created_at"] for run in walk(workspace, LIST_ENDPOINTS[stream][0], "runs"))
        for stream in ("automation_runs", "journey_runs")
    }
    assert {stream: first["states"][stream]["stream"]["stream_state"] for stream in newest_run} == {
        stream: {"created_at": value} for stream, value in newest_run.items()
    }
    moved = courier.advance(new_messages=5, advance_statuses=True)
    courier.reset_requests()

    second = read(tmp_path, config, INCREMENTAL, "incremental", state=list(first["states"].values()))

    log = MessageLog(MESSAGES)
    log.advance(5, True)  # the same time step, taken by the oracle
    assert moved["count"] == log.count == MESSAGES + 5
    # lookback_days 0: the 5 new messages and the newest old one (enqueued_after is inclusive).
    reread = [log.message(i) for i in range(6)]
    assert _sorted(second["records"]["messages"]) == _sorted([as_emitted(m) for m in reread])
    for stream, entries in (("message_history", log.history), ("message_content", log.output)):
        expected = [
            as_emitted({**e, "message_id": m["id"], "enqueued": m["enqueued"]})
            for i, m in enumerate(reread)
            for e in entries(i)
        ]
        assert _sorted(second["records"][stream]) == _sorted(expected), stream
    # Runs and preference changes are immutable: only the records at the saved timestamp come again (inclusive).
    for stream in ("automation_runs", "journey_runs"):
        assert [run["created_at"] for run in second["records"][stream]] == [newest_run[stream]]
    newest_log = max(entry["timestamp"] for entry in walk(workspace, "/preferences/logs", "items"))
    assert [entry["timestamp"] for entry in second["records"]["preference_logs"]] == [newest_log]
    assert second["states"]["messages"]["stream"]["stream_state"] == {"enqueued": str(moved["newest_enqueued"])}
