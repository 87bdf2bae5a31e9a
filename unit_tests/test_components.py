"""components.py on its own: each custom component, before and after, without the CDK around it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from importlib import resources
from typing import Any

import pytest
import requests
import yaml
from airbyte_cdk.sources.declarative.requesters.error_handlers.http_response_filter import HttpResponseFilter
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_courier import components
from source_courier.components import (
    ApiKeyIsOneToken,
    CourierStartDate,
    GuardedCursorPagination,
    HttpsOrLoopbackUrl,
    RecordsAtKey,
    RetryAfterBackoffStrategy,
    TransientRetriesErrorHandler,
    TrimApiKey,
)
from unit_tests.builders import page

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


def response(
    body: Any = None,
    headers: dict[str, str] | None = None,
    url: str = "https://api.courier.com/messages?x=1",
    status: int = 200,
    raw: bytes | None = None,
) -> requests.Response:
    result = requests.Response()
    result.status_code = status
    result._content = requests.compat.json.dumps(body).encode() if raw is None else raw
    result.headers.update(headers or {})
    result.request = requests.Request("GET", url).prepare()
    result.url = url
    return result


def guarded(max_empty: int = 50) -> GuardedCursorPagination:
    """The manifest's paging-style-A strategy."""
    manifest = yaml.safe_load((resources.files("source_courier") / "manifest.yaml").read_text())
    paths = manifest["definitions"]["paginator_paging_cursor"]["pagination_strategy"]
    return GuardedCursorPagination(
        cursor_path=paths["cursor_path"],
        more_path=paths["more_path"],
        parameters={},
        max_consecutive_empty_pages=max_empty,
    )


def walk(strategy: GuardedCursorPagination, pages: list[tuple[str | None, int]], partition: str = "p") -> list[Any]:
    """Feeds (cursor returned, records on the page) pairs; returns the tokens it hands back."""
    tokens: list[Any] = []
    last = None
    for cursor, size in pages:
        token = strategy.next_page_token(
            response(page([{}] * size, cursor=cursor)),
            last_page_size=size,
            last_record=None,
            last_page_token_value=last,
            stream_slice=StreamSlice(partition={"p": partition}, cursor_slice={}),
        )
        tokens.append(token)
        last = token
    return tokens


def test_guard_passes_fresh_cursors_through_and_stops_on_none():
    assert walk(guarded(), [("a", 10), ("b", 10), (None, 3)]) == ["a", "b", None]


def test_guard_fails_on_a_cursor_seen_earlier_in_the_partition():
    with pytest.raises(AirbyteTracedException) as raised:
        walk(guarded(), [("a", 10), ("b", 10), ("a", 10)])

    assert "already returned while paging GET /messages (3 pages in)" in raised.value.message
    assert raised.value.failure_type.value == "system_error"


def test_guard_catches_a_loop_longer_than_the_cursors_it_remembers():
    strategy = guarded()
    strategy.remembered_cursors = 3
    loop = [(cursor, 10) for cursor in "abcdefg"] * 10  # a loop of 7 cursors, more than the 3 remembered

    with pytest.raises(AirbyteTracedException) as raised:
        walk(strategy, loop)

    # Checkpoints at pages 1, 2, 4, 8: the cursor of page 8 ("a") comes back at page 15.
    assert "already returned while paging GET /messages (15 pages in)" in raised.value.message


def test_guard_memory_stays_flat_over_a_long_chain():
    strategy = guarded()
    strategy.remembered_cursors = 5
    assert walk(strategy, [(f"c{n}", 10) for n in range(1000)])[-1] == "c999"

    (chain,) = strategy._chains.by_slice.values()
    assert (len(chain.recent), chain.pages, chain.checkpoint) == (5, 1000, "c511")


def test_guard_forgets_cursors_when_a_partition_starts_over():
    strategy = guarded()
    assert walk(strategy, [("a", 10), ("b", 10)]) == ["a", "b"]
    assert walk(strategy, [("a", 10), ("b", 10)]) == ["a", "b"]  # a second read of the same partition


def test_guard_keeps_partitions_apart():
    strategy = guarded()
    assert walk(strategy, [("a", 10)], partition="one") == ["a"]
    assert walk(strategy, [("a", 10)], partition="two") == ["a"]


def test_guard_counts_only_consecutive_empty_pages():
    assert walk(guarded(max_empty=3), [("a", 0), ("b", 0), ("c", 1), ("d", 0), ("e", 0)]) == ["a", "b", "c", "d", "e"]
    with pytest.raises(AirbyteTracedException, match="3 empty pages in a row"):
        walk(guarded(max_empty=3), [("a", 0), ("b", 0), ("c", 0)])


def test_guard_refuses_a_limit_below_one():
    with pytest.raises(ValueError):
        guarded(max_empty=0)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"paging": {"cursor": "c2", "more": True}, "results": []}, "c2", id="more"),
        pytest.param({"paging": {"cursor": "c2", "more": False}, "results": []}, None, id="more-false"),
        pytest.param({"paging": {"cursor": None, "more": True}, "results": []}, None, id="null-cursor"),
        pytest.param({"paging": {"cursor": "", "more": True}, "results": []}, None, id="empty-cursor"),
        pytest.param({"paging": {"cursor": "c2"}, "results": []}, None, id="no-more-key"),
        pytest.param({"results": []}, None, id="no-paging"),
    ],
)
def test_style_a_follows_the_cursor_only_while_more_is_true(body, expected):
    token = guarded().next_page_token(response(body), last_page_size=0, last_record=None)

    assert token == expected


def test_a_style_without_a_more_flag_follows_any_cursor():
    runs = GuardedCursorPagination(cursor_path=["next_cursor"], parameters={}, page_size=50)

    assert runs.next_page_token(response({"runs": [], "next_cursor": "n2"}), 0, None) == "n2"
    assert runs.next_page_token(response({"runs": [], "next_cursor": None}), 0, None) is None
    assert runs.get_page_size() == 50


def handler(**parameters: str) -> TransientRetriesErrorHandler:
    """Fails a 401 as a config error; a 200 must hold the stream's envelope key (`results` by default)."""
    filters = [
        HttpResponseFilter(config={}, parameters={}, http_codes={401}, action="FAIL", failure_type="config_error"),
        HttpResponseFilter(config={}, parameters={}, http_codes={503}, action="RETRY"),
    ]
    parameters = {"records_key": "results", **parameters}
    return TransientRetriesErrorHandler(config={}, parameters=parameters, response_filters=filters)


def raw_response(body: bytes, status: int = 200) -> requests.Response:
    return response(raw=body, status=status, url="https://api.courier.com/messages?cursor=c1")


@pytest.mark.parametrize(
    "body", [b"<html>Bad gateway</html>", b'{"paging": {"more": false}, "resu', b'{"paging": {}}', b"[]", b"null"]
)
def test_a_200_without_the_envelope_is_retried_as_transient_naming_url_and_key(body):
    resolution = handler().interpret_response(raw_response(body))

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.RETRY, "transient_error")
    assert resolution.error_message.startswith(
        "Courier answered https://api.courier.com/messages?cursor=c1 with a body that is not JSON or lacks the "
        "'results' key"
    )


def test_the_envelope_key_can_differ_from_the_records_key():
    has_more = handler(records_key="items", envelope_key="has_more")

    assert has_more.interpret_response(raw_response(b'{"has_more": false}')).response_action == ResponseAction.SUCCESS
    assert has_more.interpret_response(raw_response(b'{"items": []}')).response_action == ResponseAction.RETRY


def test_a_status_filter_decides_before_the_envelope_check():
    resolution = handler().interpret_response(raw_response(b"<html>unavailable</html>", status=503))

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.RETRY, "transient_error")
    assert "lacks the" not in (resolution.error_message or "")


def test_a_failed_response_keeps_its_failure_type():
    unauthorized = response({"message": "Unauthorized"})
    unauthorized.status_code = 401

    resolution = handler().interpret_response(unauthorized)

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.FAIL, "config_error")


def test_a_good_response_is_a_success():
    assert handler().interpret_response(response({"results": []})).response_action == ResponseAction.SUCCESS


def extractor(records_key: str) -> RecordsAtKey:
    return RecordsAtKey(field_name="{{ parameters.records_key }}", config={}, parameters={"records_key": records_key})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"items": [{"id": "a"}, {"id": "b"}], "paging": {}}, [{"id": "a"}, {"id": "b"}], id="list"),
        pytest.param({"items": {"id": "a"}}, [{"id": "a"}], id="one-object"),
        pytest.param({"items": []}, [], id="empty"),
        pytest.param({"items": None}, [], id="null"),
        pytest.param({"results": [{"id": "a"}]}, [], id="other-key"),
    ],
)
def test_records_at_key_yields_the_list_under_the_records_key(body, expected):
    assert list(extractor("items").extract_records(response(body))) == expected


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(components, "_utcnow", lambda: NOW)


@pytest.mark.parametrize(
    "header, expected",
    [
        pytest.param("30", 30.0, id="seconds"),
        pytest.param(" 1.5 ", 1.5, id="fractional-seconds"),
        pytest.param(format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0, id="http-date"),
        pytest.param("Mon, 23 Nov 2026 12:02:00 GMT", 120.0, id="http-date-literal"),
        pytest.param("100000", 600.0, id="seconds-capped"),
        pytest.param(format_datetime(NOW + timedelta(days=1), usegmt=True), 600.0, id="http-date-capped"),
        pytest.param(format_datetime(NOW - timedelta(seconds=5), usegmt=True), 2.0, id="http-date-past-exponential"),
        pytest.param("0", 2.0, id="zero-exponential"),
        pytest.param("soon", 2.0, id="garbage-exponential"),
        pytest.param("nan", 2.0, id="nan-exponential"),
    ],
)
def test_retry_after_reads_seconds_or_http_date(frozen_now, header, expected):
    strategy = RetryAfterBackoffStrategy(parameters={})

    assert strategy.backoff_time(response(headers={"Retry-After": header}), attempt_count=1) == expected


@pytest.mark.parametrize(
    "attempt, expected",
    [
        pytest.param(1, 2.0, id="first-retry"),
        pytest.param(3, 8.0, id="third-retry"),
        pytest.param(9, 512.0, id="below-cap"),
        pytest.param(10, 600.0, id="capped"),
        pytest.param(21, 600.0, id="after-twenty-short-retry-afters"),
        pytest.param(10_000, 600.0, id="no-overflow"),
    ],
)
def test_without_retry_after_waits_two_to_the_attempt_capped(attempt, expected):
    strategy = RetryAfterBackoffStrategy(parameters={})

    assert strategy.backoff_time(response(), attempt_count=attempt) == expected  # no header
    assert strategy.backoff_time(response(headers={"Retry-After": "soon"}), attempt_count=attempt) == expected
    assert strategy.backoff_time(requests.ConnectionError("reset"), attempt_count=attempt) == expected


def test_trim_api_key_strips_surrounding_whitespace_only():
    config = {"api_key": " \tpk_live_abc\n", "other": " x "}

    TrimApiKey().transform(config)

    assert config == {"api_key": "pk_live_abc", "other": " x "}


def test_trim_api_key_leaves_a_non_string_for_the_spec_to_reject():
    config: dict[str, Any] = {"api_key": 42}

    TrimApiKey().transform(config)

    assert config == {"api_key": 42}


@pytest.mark.parametrize("value", ["pk_live_abc", "dk_2f3a"], ids=["live", "short"])
def test_api_key_validation_accepts_one_token(value):
    ApiKeyIsOneToken().validate(value)


@pytest.mark.parametrize("value", ["", "pk live", "pk\tlive", 42], ids=["empty", "space", "tab", "number"])
def test_api_key_validation_refuses_with_a_config_error(value):
    with pytest.raises(AirbyteTracedException) as raised:
        ApiKeyIsOneToken().validate(value)
    assert raised.value.failure_type.value == "config_error"
    assert "Settings > API Keys" in raised.value.message


@pytest.mark.parametrize(
    "value",
    [
        "https://api.courier.com",
        "https://proxy.example.com:8443/courier",
        "http://127.0.0.1:1",
        "http://localhost",
        "http://[::1]:9",
        "",  # a cleared optional field: the default applies
    ],
)
def test_base_url_validation_accepts_https_and_loopback_http(value):
    HttpsOrLoopbackUrl().validate(value)


@pytest.mark.parametrize(
    "value",
    [
        "http://api.courier.com",
        "http://127.0.0.2",
        "http://localhost.evil.com",
        "ws://localhost",
        " ",
        "https://",
        7,
        "https://a:b@api.courier.com",
    ],
)
def test_base_url_validation_refuses_with_a_config_error(value):
    with pytest.raises(AirbyteTracedException) as raised:
        HttpsOrLoopbackUrl().validate(value)
    assert raised.value.failure_type.value == "config_error"
    assert "https://api.courier.com" in raised.value.message


@pytest.mark.parametrize("value", ["2024-02-29", "2024-01-31T23:59:59Z", ""], ids=["date", "date-time", "cleared"])
def test_start_date_validation_accepts_the_two_documented_forms_or_nothing(value):
    CourierStartDate().validate(value)


@pytest.mark.parametrize(
    "value", ["2023-02-29", "2024-13-01", "2024-01-31T24:00:00Z", "2024-01-31 00:00:00", "31/01/2024", " ", 20240131]
)
def test_start_date_validation_refuses_with_a_config_error(value):
    with pytest.raises(AirbyteTracedException) as raised:
        CourierStartDate().validate(value)
    assert raised.value.failure_type.value == "config_error"
    assert "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ" in raised.value.message
