"""Messages: paging through `GET /messages` and reading it incrementally with `enqueued_after`."""

from __future__ import annotations

import pytest
import responses
from airbyte_cdk.models import SyncMode

from unit_tests.builders import DAY_MS, config, ids, message, page, queries, serve, state

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in epoch ms


def query_strings(api: responses.RequestsMock) -> list[str]:
    return [call.request.url.partition("?")[2] for call in api.calls]


def test_full_refresh_follows_cursors_until_more_is_false_asking_for_100_a_page(api, run_read):
    serve(api, "/messages", page([message("m3", T0 + 3), message("m2", T0 + 2)], cursor="c1"))
    serve(api, "/messages", page([message("m1", T0 + 1)], cursor="c2"), cursor="c1")
    serve(api, "/messages", page([message("m0", T0)], cursor="c3", more=False), cursor="c2")

    output = run_read(config())

    assert ids(output) == ["m3", "m2", "m1", "m0"]
    assert query_strings(api) == ["limit=100", "limit=100&cursor=c1", "limit=100&cursor=c2"]
    assert not output.errors


@pytest.mark.parametrize(
    "paging",
    [
        pytest.param({"cursor": None, "more": True}, id="null-cursor"),
        pytest.param({"more": True}, id="absent-cursor"),
        pytest.param({"cursor": "", "more": True}, id="empty-cursor"),
        pytest.param({"cursor": None, "more": False}, id="null-cursor-more-false"),
        pytest.param({}, id="empty-paging"),
    ],
)
def test_pagination_stops_without_a_usable_cursor(api, run_read, paging):
    serve(api, "/messages", {"paging": paging, "results": [message("m1")]})

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert len(api.calls) == 1  # page 1 is never requested again


def test_first_incremental_sync_without_start_date_sends_no_enqueued_after(api, run_read):
    serve(api, "/messages", page([message("m2", T0 + 2), message("m1", T0 + 1)]))

    output = run_read(config(), SyncMode.incremental)

    assert queries(api, "/messages") == [{}]
    assert ids(output) == ["m2", "m1"]
    assert output.most_recent_state.stream_state.__dict__ == {"enqueued": str(T0 + 2)}


def test_start_date_is_sent_as_enqueued_after_in_epoch_ms(api, run_read):
    serve(api, "/messages", page([message("m1", T0 + 5)]), enqueued_after=str(T0))

    output = run_read(config(start_date="2026-01-01"), SyncMode.incremental)

    assert queries(api, "/messages") == [{"enqueued_after": str(T0)}]
    assert output.most_recent_state.stream_state.__dict__ == {"enqueued": str(T0 + 5)}


def test_start_date_with_time_is_sent_to_the_second(api, run_read):
    serve(api, "/messages", page([]), enqueued_after=str(T0 + 3_723_000))

    run_read(config(start_date="2026-01-01T01:02:03Z"), SyncMode.incremental)

    assert queries(api, "/messages") == [{"enqueued_after": str(T0 + 3_723_000)}]


def test_messages_resume_from_saved_state_minus_lookback_days(api, run_read):
    saved = T0 + 10 * DAY_MS
    serve(
        api,
        "/messages",
        page([message("new", saved + 5), message("recent", saved - 5)]),
        enqueued_after=str(saved - 2 * DAY_MS),
    )

    output = run_read(config(lookback_days=2), SyncMode.incremental, state(saved))

    assert queries(api, "/messages") == [{"enqueued_after": str(saved - 2 * DAY_MS)}]
    assert ids(output) == ["new", "recent"]  # the lookback window is re-emitted; destinations dedupe on id
    assert output.most_recent_state.stream_state.__dict__ == {"enqueued": str(saved + 5)}


def test_default_lookback_is_one_day(api, run_read):
    saved = T0 + 10 * DAY_MS
    serve(api, "/messages", page([]), enqueued_after=str(saved - DAY_MS))

    run_read(config(), SyncMode.incremental, state(saved))

    assert queries(api, "/messages") == [{"enqueued_after": str(saved - DAY_MS)}]


def test_lookback_zero_resumes_exactly_at_saved_state(api, run_read):
    saved = T0 + 10 * DAY_MS
    serve(api, "/messages", page([message("at-state", saved)]), enqueued_after=str(saved))

    output = run_read(config(lookback_days=0), SyncMode.incremental, state(saved))

    assert queries(api, "/messages") == [{"enqueued_after": str(saved)}]
    assert ids(output) == ["at-state"]  # enqueued_after is inclusive: the message at the state is kept


def test_start_date_floors_the_lookback(api, run_read):
    saved = T0 + DAY_MS // 2  # state - 1 day would fall before start_date
    serve(api, "/messages", page([]), enqueued_after=str(T0))

    run_read(config(start_date="2026-01-01"), SyncMode.incremental, state(saved))

    assert queries(api, "/messages") == [{"enqueued_after": str(T0)}]


def test_sync_with_no_new_records_keeps_the_saved_state(api, run_read):
    saved = T0 + 10 * DAY_MS
    serve(api, "/messages", page([]), enqueued_after=str(saved - DAY_MS))

    output = run_read(config(), SyncMode.incremental, state(saved))

    assert output.most_recent_state.stream_state.__dict__ == {"enqueued": str(saved)}


def test_state_is_the_max_enqueued_even_when_only_older_records_are_re_read(api, run_read):
    saved = T0 + 10 * DAY_MS
    serve(api, "/messages", page([message("old", saved - 1_000)]), enqueued_after=str(saved - DAY_MS))

    output = run_read(config(), SyncMode.incremental, state(saved))

    assert ids(output) == ["old"]
    assert output.most_recent_state.stream_state.__dict__ == {"enqueued": str(saved)}


def test_if_courier_ignored_enqueued_after_paging_stops_after_the_first_page_ending_before_it(api, run_read):
    saved = T0 + 10 * DAY_MS
    lowest = saved - DAY_MS  # the saved cursor minus the default lookback
    after = {"enqueued_after": str(lowest)}
    serve(api, "/messages", page([message("new", saved + 5), message("recent", saved - 5)], cursor="c2"), **after)
    serve(
        api,
        "/messages",
        page([message("lowest", lowest), message("old", lowest - 1)], cursor="c3"),
        **after,
        cursor="c2",
    )

    output = run_read(config(), SyncMode.incremental, state(saved))

    assert queries(api, "/messages") == [
        {"enqueued_after": str(lowest)},
        {"enqueued_after": str(lowest), "cursor": "c2"},
    ]  # not page 3
    assert ids(output) == ["new", "recent", "lowest"]  # what the filter would have left
    assert output.most_recent_state.stream_state.__dict__ == {"enqueued": str(saved + 5)}


def test_full_refresh_with_start_date_filters_on_the_server_too(api, run_read):
    serve(api, "/messages", page([message("m1", T0 + 1)]), enqueued_after=str(T0))

    output = run_read(config(start_date="2026-01-01"))

    assert ids(output) == ["m1"]


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        pytest.param([message("m1"), message("m2")], ["m1", "m2"], id="list"),
        pytest.param(message("m1"), ["m1"], id="one-object"),
        pytest.param([], [], id="empty-list"),
        pytest.param(None, [], id="null"),
    ],
)
def test_records_are_the_list_or_lone_object_under_results_and_nothing_else(api, run_read, waits, results, expected):
    serve(api, "/messages", {"paging": {"more": False}, "results": results, "items": [message("other")]})

    output = run_read(config())

    assert ids(output) == expected
    assert not output.errors and waits == [] and len(api.calls) == 1  # the envelope is there: nothing retried
