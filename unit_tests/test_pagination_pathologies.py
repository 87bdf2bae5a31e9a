"""Courier's paging gone wrong, in each of its four paging styles: every case ends after a bounded number of
requests, with every record of the pages read or a clear error naming the endpoint. (`test_messages.py` has
the messages-only cases: a null, absent or empty cursor.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from unit_tests.builders import (
    config,
    has_more_page,
    keys,
    message,
    page,
    queries,
    runs_page,
    sample,
    serve,
    stream_error,
    templates_page,
)

EPOCH = "1970-01-01T00:00:00.000Z"


class Style:
    """One paging style, on one stream that uses it: its path, a page's body, the query every page carries."""

    def __init__(self, stream: str, path: str, body: Callable[..., dict[str, Any]], query: dict[str, str], key: str):
        self.stream, self.path, self.body, self.query, self.key = stream, path, body, query, key

    def record(self, id_: str) -> dict[str, Any]:
        return message(id_) if self.stream == "messages" else sample(self.stream, **{self.key: id_})

    def serve(self, api, ids: list[str], next_cursor: str | None, cursor: str | None = None) -> None:
        """The page answered to `cursor` (page 1 if None): these records, then `next_cursor` (None: the last)."""
        extra = {"cursor": cursor} if cursor else {}
        serve(api, self.path, self.body([self.record(id_) for id_ in ids], next_cursor), **self.query, **extra)

    def cursors(self, api) -> list[str | None]:
        return [query.get("cursor") for query in queries(api, self.path)]


STYLES = [
    pytest.param(Style("messages", "/messages", page, {}, "id"), id="A-paging-messages"),
    pytest.param(Style("tenants", "/tenants", has_more_page, {"limit": "100"}, "id"), id="B-has-more-tenants"),
    pytest.param(Style("automations", "/automations", templates_page, {}, "id"), id="C-cursor-automations"),
    pytest.param(
        Style("journey_runs", "/journeys/runs", runs_page, {"limit": "50", "start_date": EPOCH}, "run_id"),
        id="D-next-cursor-journey-runs",
    ),
]


@pytest.mark.parametrize("style", STYLES)
def test_a_cursor_answered_with_itself_fails_after_two_requests(api, run_read, style):
    style.serve(api, ["r1"], "c1")
    style.serve(api, ["r2"], "c1", cursor="c1")  # the same cursor again

    output = run_read(config(), streams=(style.stream,))

    assert keys(output, style.stream, style.key) == [("r1",), ("r2",)]
    assert style.cursors(api) == [None, "c1"]
    error = stream_error(output)
    assert f"already returned while paging GET {style.path}" in error.message
    assert error.failure_type.value == "system_error"


@pytest.mark.parametrize("style", STYLES)
def test_a_cycle_of_two_cursors_fails_instead_of_looping(api, run_read, style):
    style.serve(api, ["r1"], "a")
    style.serve(api, ["r2"], "b", cursor="a")
    style.serve(api, ["r3"], "a", cursor="b")  # back to a

    output = run_read(config(), streams=(style.stream,))

    assert keys(output, style.stream, style.key) == [("r1",), ("r2",), ("r3",)]
    assert style.cursors(api) == [None, "a", "b"]
    assert f"already returned while paging GET {style.path}" in stream_error(output).message


@pytest.mark.parametrize("style", STYLES)
def test_an_empty_page_with_a_new_cursor_is_followed(api, run_read, style):
    style.serve(api, [], "c1")
    style.serve(api, ["r1"], None, cursor="c1")

    output = run_read(config(), streams=(style.stream,))

    assert keys(output, style.stream, style.key) == [("r1",)]
    assert style.cursors(api) == [None, "c1"]
    assert not output.errors


@pytest.mark.parametrize("style", STYLES)
def test_fifty_empty_pages_with_fresh_cursors_fail_naming_the_endpoint(api, run_read, style):
    style.serve(api, [], "c1")
    for n in range(1, 50):
        style.serve(api, [], f"c{n + 1}", cursor=f"c{n}")

    output = run_read(config(), streams=(style.stream,))

    assert style.cursors(api) == [None, *(f"c{n}" for n in range(1, 50))]  # 50 requests, then it stops
    error = stream_error(output)
    assert "50 empty pages in a row" in error.message and f"GET {style.path}" in error.message
    assert keys(output, style.stream, style.key) == []
