"""The records a sync must emit, walked from the emulator's own objects (`Workspace`, `MessageLog`) page by page,
independently of the connector. `test_cli_streams.py` and `test_runtimes.py` compare every stream's output with it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from courier_emulator.data import MessageLog
from courier_emulator.workspace import Workspace
from integration_tests.test_new_streams import STREAMS as NEW_STREAMS
from integration_tests.test_new_streams import _next_cursor
from integration_tests.test_new_streams import expected_records as new_streams_records
from unit_tests.builders import CHILD_ENDPOINTS, LIST_ENDPOINTS, MESSAGE_CHILDREN

# The 26 streams the routes of `unit_tests/builders.py` describe (test_cli_streams.py reads these); with the five
# streams test_new_streams.py walks, every stream the connector declares.
ALL_STREAMS = ("messages", *MESSAGE_CHILDREN, *LIST_ENDPOINTS, *CHILD_ENDPOINTS)
EVERY_STREAM = (*ALL_STREAMS, *NEW_STREAMS)
INCREMENTAL = ("messages", *MESSAGE_CHILDREN, "automation_runs", "journey_runs", "preference_logs")


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


def message_children(log: MessageLog, indexes: range) -> dict[str, list[dict[str, Any]]]:
    """message_history and message_content of these messages, as emitted: each entry with its message's keys."""
    return {
        stream: [
            as_emitted({**entry, "message_id": log.message_id(i), "enqueued": log.enqueued(i)})
            for i in indexes
            for entry in entries(i)
        ]
        for stream, entries in (("message_history", log.history), ("message_content", log.output))
    }


def expected_records(workspace: Workspace, log: MessageLog) -> dict[str, list[dict[str, Any]]]:
    """Every stream's records (the five new streams' too), as a full read of all of them emits them."""
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
    expected["messages"] = [log.message(i) for i in range(log.count)]
    emitted = {stream: [as_emitted(record) for record in records] for stream, records in expected.items()}
    return emitted | message_children(log, range(log.count)) | new_streams_records(workspace)


def newest(workspace: Workspace, path: str, key: str, field: str) -> str:
    """The newest value of an immutable stream's cursor field, e.g. the last run's `created_at`."""
    return max(record[field] for record in walk(workspace, path, key))
