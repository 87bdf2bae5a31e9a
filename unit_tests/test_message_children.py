"""message_history and message_content: one request per message, incremental by following the messages stream."""

from __future__ import annotations

import jsonschema
import pytest
from airbyte_cdk.models import SyncMode

from unit_tests.builders import (
    DAY_MS,
    MESSAGE_CHILDREN,
    config,
    error,
    final_state,
    keys,
    message,
    page,
    queries,
    records,
    sample,
    schema,
    serve,
    stream_state,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch ms
OWN_KEY = {"message_history": "type", "message_content": "channel_id"}  # besides message_id
STREAMS = [pytest.param(stream, id=stream) for stream in MESSAGE_CHILDREN]


def _serve_messages(api, *messages, **query):
    serve(api, "/messages", page(list(messages)), **query)


@pytest.mark.parametrize("stream", STREAMS)
def test_each_message_is_requested_once_and_its_records_carry_message_id_and_enqueued(api, run_read, stream):
    endpoint, own_key = MESSAGE_CHILDREN[stream], OWN_KEY[stream]
    _serve_messages(api, message("m2", T0 + 2), message("m1", T0 + 1))
    serve(
        api,
        f"/messages/m2/{endpoint}",
        {"results": [sample(stream, **{own_key: "x"}), sample(stream, **{own_key: "y"})]},
    )
    serve(api, f"/messages/m1/{endpoint}", {"results": [sample(stream, **{own_key: "z"})]})

    output = run_read(config(), streams=(stream,))

    assert sorted(keys(output, stream, "message_id", "enqueued", own_key)) == [
        ("m1", T0 + 1, "z"),
        ("m2", T0 + 2, "x"),
        ("m2", T0 + 2, "y"),
    ]
    assert queries(api, f"/messages/m1/{endpoint}") == [{}] and queries(api, f"/messages/m2/{endpoint}") == [{}]
    assert all(type(record["enqueued"]) is int for record in records(output, stream))
    for record in records(output, stream):
        jsonschema.validate(record, schema(stream))


@pytest.mark.parametrize("stream", STREAMS)
def test_incremental_state_is_one_global_cursor_with_the_messages_cursor_as_parent_state(api, run_read, stream):
    endpoint = MESSAGE_CHILDREN[stream]
    _serve_messages(api, message("m2", T0 + 2), message("m1", T0 + 1))
    for message_id in ("m1", "m2"):
        serve(api, f"/messages/{message_id}/{endpoint}", {"results": [sample(stream)]})

    output = run_read(config(), SyncMode.incremental, streams=(stream,))

    state = final_state(output, stream)
    assert isinstance(state.pop("lookback_window"), int)  # the CDK's measure of the sync's duration, in seconds
    assert state == {
        "use_global_cursor": True,
        "state": {"enqueued": str(T0 + 2)},
        "parent_state": {"messages": {"enqueued": str(T0 + 2)}},
    }


@pytest.mark.parametrize("stream", STREAMS)
def test_incremental_resume_reads_only_messages_from_the_saved_parent_state_minus_lookback(api, run_read, stream):
    endpoint = MESSAGE_CHILDREN[stream]
    saved = T0 + 10 * DAY_MS
    previous = {
        "use_global_cursor": True,
        "state": {"enqueued": str(saved)},
        "lookback_window": 3,
        "parent_state": {"messages": {"enqueued": str(saved)}},
    }
    _serve_messages(api, message("new", saved + 5), message("recent", saved - 5), enqueued_after=str(saved - DAY_MS))
    serve(api, f"/messages/new/{endpoint}", {"results": [sample(stream)]})
    serve(api, f"/messages/recent/{endpoint}", {"results": [sample(stream)]})

    output = run_read(config(), SyncMode.incremental, stream_state(stream, previous), streams=(stream,))

    assert queries(api, "/messages") == [{"enqueued_after": str(saved - DAY_MS)}]
    assert sorted(key for (key,) in keys(output, stream, "message_id")) == ["new", "recent"]
    assert final_state(output, stream)["parent_state"] == {"messages": {"enqueued": str(saved + 5)}}


@pytest.mark.parametrize("stream", STREAMS)
def test_a_message_gone_from_courier_is_skipped_with_a_log_line(api, run_read, stream):
    endpoint = MESSAGE_CHILDREN[stream]
    _serve_messages(api, message("kept", T0 + 2), message("expired", T0 + 1))
    serve(api, f"/messages/expired/{endpoint}", error("Not Found", "invalid_request_error"), status=404)
    serve(api, f"/messages/kept/{endpoint}", {"results": [sample(stream)]})

    output = run_read(config(), streams=(stream,))

    assert keys(output, stream, "message_id") == [("kept",)]
    assert (
        f"Skipped https://api.courier.com/messages/expired/{endpoint}: Courier answered 404 Not Found, so its "
        "parent was deleted during the sync."
    ) in [entry.log.message for entry in output.logs]
    assert not output.errors


def test_a_message_not_rendered_yet_has_no_content(api, run_read):
    _serve_messages(api, message("m1", T0, status="ENQUEUED"))
    serve(api, "/messages/m1/output", {"results": []})

    output = run_read(config(), streams=("message_content",))

    assert records(output, "message_content") == []
    assert not output.errors


@pytest.mark.parametrize("stream", STREAMS)
def test_a_message_id_of_digits_stays_a_string_and_enqueued_an_integer(api, run_read, stream):
    endpoint = MESSAGE_CHILDREN[stream]
    _serve_messages(api, message("12345", T0))
    serve(api, f"/messages/12345/{endpoint}", {"results": [sample(stream)]})

    output = run_read(config(), streams=(stream,))

    assert [(record["message_id"], record["enqueued"]) for record in records(output, stream)] == [("12345", T0)]
    assert type(records(output, stream)[0]["enqueued"]) is int
