"""Automation runs, journey runs and preference logs: incremental on an ISO-8601 field that Courier filters on."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import SyncMode

from unit_tests.builders import config, final_state, keys, page, queries, runs_page, sample, serve, stream_state

# stream -> (path, the server-side filter, the query on every page, cursor field, id field, body of one page)
STREAMS = {
    "automation_runs": ("/automations/runs", "start_date", {"limit": "50"}, "created_at", "run_id", runs_page),
    "journey_runs": ("/journeys/runs", "start_date", {"limit": "50"}, "created_at", "run_id", runs_page),
    "preference_logs": (
        "/preferences/logs",
        "since",
        {"limit": "100"},
        "timestamp",
        "id",
        lambda records, cursor=None: page(records, cursor, key="items"),
    ),
}
PARAMS = [pytest.param(stream, id=stream) for stream in STREAMS]


def _record(stream: str, id_: str, at: str) -> dict:
    _, _, _, cursor_field, id_field, _ = STREAMS[stream]
    return sample(stream, **{id_field: id_, cursor_field: at})


@pytest.mark.parametrize("stream", PARAMS)
def test_first_sync_filters_from_start_date_and_saves_the_newest_timestamp(api, run_read, stream):
    path, filter_name, query, cursor_field, id_field, body = STREAMS[stream]
    newest, older = _record(stream, "r2", "2026-01-03T10:00:00.123Z"), _record(stream, "r1", "2026-01-02T09:00:00.000Z")
    serve(api, path, body([newest, older]), **query, **{filter_name: "2026-01-01T00:00:00.000Z"})

    output = run_read(config(start_date="2026-01-01"), SyncMode.incremental, streams=(stream,))

    assert keys(output, stream, id_field) == [("r2",), ("r1",)]
    assert final_state(output, stream) == {cursor_field: "2026-01-03T10:00:00.123Z"}


@pytest.mark.parametrize("stream", PARAMS)
def test_resume_filters_from_the_saved_timestamp_exactly_with_no_lookback(api, run_read, stream):
    path, filter_name, query, cursor_field, id_field, body = STREAMS[stream]
    saved = "2026-01-03T10:00:00.123Z"
    serve(api, path, body([_record(stream, "r3", "2026-01-04T08:00:00.000Z")]), **query, **{filter_name: saved})

    output = run_read(
        config(start_date="2026-01-01", lookback_days=7),
        SyncMode.incremental,
        stream_state(stream, {cursor_field: saved}),
        streams=(stream,),
    )

    assert queries(api, path) == [{**query, filter_name: saved}]  # lookback_days is for messages only
    assert final_state(output, stream) == {cursor_field: "2026-01-04T08:00:00.000Z"}


@pytest.mark.parametrize("stream", PARAMS)
def test_a_sync_with_nothing_new_keeps_the_saved_timestamp(api, run_read, stream):
    path, filter_name, query, cursor_field, _, body = STREAMS[stream]
    saved = "2026-01-03T10:00:00.123Z"
    serve(api, path, body([]), **query, **{filter_name: saved})

    output = run_read(config(), SyncMode.incremental, stream_state(stream, {cursor_field: saved}), streams=(stream,))

    assert final_state(output, stream) == {cursor_field: saved}


@pytest.mark.parametrize(
    "written, saved",
    [
        pytest.param("2026-01-03T10:00:00Z", "2026-01-03T10:00:00.000Z", id="no-fraction"),
        pytest.param("2026-01-03T10:00:00.5+00:00", "2026-01-03T10:00:00.500Z", id="utc-offset"),
        # Truncated, not rounded: the inclusive filter then reads this record again rather than skip it.
        pytest.param("2026-01-03T10:00:00.123456Z", "2026-01-03T10:00:00.123Z", id="microseconds"),
    ],
)
def test_utc_timestamps_in_any_iso_form_are_saved_as_utc_milliseconds(api, run_read, written, saved):
    serve(
        api, "/automations/runs", runs_page([_record("automation_runs", "r1", written)]), limit="50", start_date=EPOCH
    )

    output = run_read(config(), SyncMode.incremental, streams=("automation_runs",))

    assert keys(output, "automation_runs", "created_at") == [(written,)]  # the record keeps Courier's own form
    assert final_state(output, "automation_runs") == {"created_at": saved}


def test_a_non_utc_timestamp_is_emitted_but_never_moves_the_state(api, run_read):
    # The reference documents UTC only. Saved as is, 12:00+02:00 would become 12:00Z, skipping two hours of runs.
    runs = [
        _record("automation_runs", "r2", "2026-01-03T12:00:00+02:00"),
        _record("automation_runs", "r1", "2026-01-03T09:00:00Z"),
    ]
    serve(api, "/automations/runs", runs_page(runs), limit="50", start_date=EPOCH)

    output = run_read(config(), SyncMode.incremental, streams=("automation_runs",))

    assert keys(output, "automation_runs", "run_id") == [("r2",), ("r1",)]
    assert final_state(output, "automation_runs") == {"created_at": "2026-01-03T09:00:00.000Z"}
    assert output.is_in_logs("Could not find cursor field `created_at` in record for stream automation_runs")


EPOCH = "1970-01-01T00:00:00.000Z"


def test_full_refresh_of_runs_follows_next_cursor_and_sends_the_start_date_floor(api, run_read):
    serve(
        api,
        "/automations/runs",
        runs_page([_record("automation_runs", "r2", "2026-01-02T00:00:00Z")], "n1"),
        limit="50",
        start_date=EPOCH,
    )
    serve(
        api,
        "/automations/runs",
        runs_page([_record("automation_runs", "r1", "2026-01-01T00:00:00Z")]),
        limit="50",
        start_date=EPOCH,
        cursor="n1",
    )

    output = run_read(config(), streams=("automation_runs",))

    assert keys(output, "automation_runs", "run_id") == [("r2",), ("r1",)]


@pytest.mark.parametrize("stream", PARAMS)
def test_if_courier_ignored_the_filter_paging_stops_after_the_first_page_ending_before_it(api, run_read, stream):
    path, filter_name, query, cursor_field, id_field, body = STREAMS[stream]
    saved = "2026-01-03T10:00:00.123Z"
    filtered = {**query, filter_name: saved}
    new, at_state = _record(stream, "new", "2026-01-04T08:00:00.000Z"), _record(stream, "at", saved)
    older = _record(stream, "older", "2026-01-02T00:00:00.000Z")
    serve(api, path, body([new], "c2"), **filtered)
    serve(api, path, body([at_state, older], "c3"), **filtered, cursor="c2")

    output = run_read(config(), SyncMode.incremental, stream_state(stream, {cursor_field: saved}), streams=(stream,))

    assert queries(api, path) == [filtered, {**filtered, "cursor": "c2"}]  # newest first: page 3 is older still
    assert keys(output, stream, id_field) == [("new",), ("at",)]  # what the filter would have left
    assert final_state(output, stream) == {cursor_field: "2026-01-04T08:00:00.000Z"}
