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
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.cursor_pagination_strategy import (
    CursorPaginationStrategy,
)
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_courier import components
from source_courier.components import (
    ApiKeyIsOneToken,
    CourierStartDate,
    GuardedCursorPagination,
    HttpsOrLoopbackUrl,
    RetryAfterBackoffStrategy,
    TransientRetriesErrorHandler,
    TrimApiKey,
)
from unit_tests.builders import page

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


def response(
    body: Any = None, headers: dict[str, str] | None = None, url: str = "https://api.courier.com/messages?x=1"
) -> requests.Response:
    result = requests.Response()
    result.status_code = 200
    result._content = requests.compat.json.dumps(body).encode()
    result.headers.update(headers or {})
    result.request = requests.Request("GET", url).prepare()
    result.url = url
    return result


def guarded(max_empty: int = 50) -> GuardedCursorPagination:
    """The guard around the manifest's own paging-style-A cursor expressions."""
    manifest = yaml.safe_load((resources.files("source_courier") / "manifest.yaml").read_text())
    delegate = manifest["definitions"]["paginator_paging_cursor"]["pagination_strategy"]["delegate"]
    strategy = CursorPaginationStrategy(
        cursor_value=delegate["cursor_value"], stop_condition=delegate["stop_condition"], config={}, parameters={}
    )
    return GuardedCursorPagination(delegate=strategy, parameters={}, max_consecutive_empty_pages=max_empty)


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


def handler() -> TransientRetriesErrorHandler:
    """Retries a 200 without `results`, fails a 401 as a config error."""
    filters = [
        HttpResponseFilter(config={}, parameters={}, http_codes={401}, action="FAIL", failure_type="config_error"),
        HttpResponseFilter(config={}, parameters={}, predicate="{{ 'results' not in response }}", action="RETRY"),
    ]
    return TransientRetriesErrorHandler(config={}, parameters={}, response_filters=filters)


def test_a_retried_200_stays_transient():
    resolution = handler().interpret_response(response({"paging": {}}))

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.RETRY, "transient_error")


def test_a_failed_response_keeps_its_failure_type():
    unauthorized = response({"message": "Unauthorized"})
    unauthorized.status_code = 401

    resolution = handler().interpret_response(unauthorized)

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.FAIL, "config_error")


def test_a_good_response_is_a_success():
    assert handler().interpret_response(response({"results": []})).response_action == ResponseAction.SUCCESS


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
        pytest.param(format_datetime(NOW - timedelta(seconds=5), usegmt=True), None, id="http-date-past"),
        pytest.param("0", None, id="zero"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("nan", None, id="nan"),
    ],
)
def test_retry_after_reads_seconds_or_http_date(frozen_now, header, expected):
    strategy = RetryAfterBackoffStrategy(parameters={})

    assert strategy.backoff_time(response(headers={"Retry-After": header}), attempt_count=1) == expected


def test_retry_after_defers_when_the_header_is_absent_or_there_is_no_response():
    strategy = RetryAfterBackoffStrategy(parameters={})

    assert strategy.backoff_time(response(), attempt_count=1) is None
    assert strategy.backoff_time(requests.ConnectionError("reset"), attempt_count=1) is None


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
