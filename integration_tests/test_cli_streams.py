"""Every stream, read by the installed CLI from the emulator's `small` workspace, record for record.

The expected records come from the emulator's own objects (`Workspace("small")`, `MessageLog`), walked here page by
page independently of the connector: each stream must emit exactly those, each once, with the parent keys added.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

from courier_emulator.data import MessageLog
from courier_emulator.server import RunningEmulator, run_in_thread
from courier_emulator.workspace import PROVIDER_SECRET_MARKER, Workspace
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, cli, discovered_catalog, error_traces, of_type
from unit_tests.builders import CHILD_ENDPOINTS, LIST_ENDPOINTS, MESSAGE_CHILDREN

MESSAGES = 25
ALL_STREAMS = ("messages", *MESSAGE_CHILDREN, *LIST_ENDPOINTS, *CHILD_ENDPOINTS)
INCREMENTAL = ("messages", *MESSAGE_CHILDREN, "automation_runs", "journey_runs", "preference_logs")


# --- the oracle: the emulator's data, walked without the connector ------------------------------------------------


def _next_cursor(body: dict[str, Any]) -> str | None:
    """The cursor of the next page in any of Courier's four envelopes, or None on the last page."""
    if "paging" in body:
        return body["paging"]["cursor"] if body["paging"]["more"] else None
    if "has_more" in body:
        return body["cursor"] if body["has_more"] else None
    return body.get("next_cursor") or body.get("cursor")


def walk(workspace: Workspace, path: str, key: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    query: dict[str, list[str]] = {}
    while True:
        status, body = workspace.handle(path, query)
        assert status == 200, (path, body)
        if key is None:
            return [body]
        found += body[key]
        cursor = _next_cursor(body)
        if cursor is None:
            return found
        query = {"cursor": [cursor]}


def as_emitted(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the CDK prints it: top-level fields that are null are left out."""
    return {key: value for key, value in record.items() if value is not None}


def expected_records(workspace: Workspace, log: MessageLog) -> dict[str, list[dict[str, Any]]]:
    expected = {stream: walk(workspace, path, key) for stream, (path, key) in LIST_ENDPOINTS.items()}
    expected["providers"] = [{k: v for k, v in p.items() if k != "settings"} for p in expected["providers"]]
    subscribers = [
        s for lst in expected["lists"] for s in walk(workspace, f"/lists/{lst['id']}/subscriptions", "items")
    ]
    members = [m for a in expected["audiences"] for m in walk(workspace, f"/audiences/{a['id']}/members", "items")]
    tenant_users = [u for t in expected["tenants"] for u in walk(workspace, f"/tenants/{t['id']}/users", "items")]
    user_ids = dict.fromkeys(
        [s["recipientId"] for s in subscribers]
        + [m["member_id"] for m in members]
        + [u["user_id"] for u in tenant_users]
    )
    expected["users"] = [{"user_id": user_id} for user_id in user_ids]
    for stream, (parent, parent_field, path, key, added) in CHILD_ENDPOINTS.items():
        expected[stream] = [
            {**record, added: parent_record[parent_field]}
            for parent_record in expected[parent]
            for record in walk(workspace, path.format(quote(parent_record[parent_field], safe="")), key)
        ]
    del expected["users"]
    messages = [log.message(i) for i in range(log.count)]
    expected["messages"] = messages
    for stream, entries in (("message_history", log.history), ("message_content", log.output)):
        expected[stream] = [
            {**entry, "message_id": message["id"], "enqueued": message["enqueued"]}
            for i, message in enumerate(messages)
            for entry in entries(i)
        ]
    return {stream: [as_emitted(record) for record in records] for stream, records in expected.items()}


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
    # Each page once, although the CDK reads a parent again for every child stream that uses it (SharedPages):
    # lists, for example, are read by lists, list_subscriptions and, through it, all three user streams.
    requested = Counter((request["path"], repr(sorted(request["query"].items()))) for request in courier.requests())
    assert [request for request, times in requested.items() if times > 1] == []
    assert requested[("/lists", "[]")] == 1


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
