"""components.py on its own: each of its three classes built by the CDK's factory from the manifest's own
definitions (references resolved and $parameters propagated, as the source does), fed responses directly; and
the manifest's key trimming, built the same way.

What the removed classes did is now the manifest's CDK components, tested through the whole connector: the
envelope check (test_error_handling), records at a key (test_messages), parent keys kept as strings
(test_child_streams, test_message_children), a deleted parent skipped (test_child_streams, test_user_streams)
and each parent's pages requested per reader (test_parent_requests)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from importlib import resources
from typing import Any

import pytest
import requests
import yaml
from airbyte_cdk.sources.declarative.models import declarative_component_schema as models
from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import ManifestComponentTransformer
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.sources.types import StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_courier import components
from source_courier.components import CourierConfigField, CourierErrorHandler, GuardedCursorPagination
from unit_tests.builders import page

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)
MANIFEST: dict[str, Any] = ManifestComponentTransformer().propagate_types_and_parameters(
    "",
    ManifestReferenceResolver().preprocess_manifest(
        yaml.safe_load((resources.files("source_courier") / "manifest.yaml").read_text())
    ),
    {},
)
DEFINITIONS: dict[str, Any] = MANIFEST["definitions"]
FACTORY = ModelToComponentFactory()
PAGINATORS = ["paginator_paging_cursor", "paginator_has_more", "paginator_top_level_cursor", "paginator_next_cursor"]
PAGING_ERROR_END = (
    "This is a problem on Courier's side: retry the sync later, and contact Courier support if it persists."
)


def response(
    body: Any = None,
    headers: dict[str, str] | None = None,
    url: str = "https://api.courier.com/messages?cursor=c1",
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


# --- GuardedCursorPagination -------------------------------------------------------------------------------


def guarded(paginator: str = "paginator_paging_cursor", **overrides: Any) -> GuardedCursorPagination:
    """The strategy of one of the manifest's paginators (default: paging style A), as the source builds it."""
    definition = {**DEFINITIONS[paginator]["pagination_strategy"], **overrides}
    strategy = FACTORY.create_component(models.CustomPaginationStrategy, definition, config={})
    assert isinstance(strategy, GuardedCursorPagination)
    return strategy


def slice_of(partition: str) -> StreamSlice:
    return StreamSlice(partition={"p": partition}, cursor_slice={})


def walk(
    strategy: GuardedCursorPagination, pages: list[tuple[str | None, int]], partition: str = "p", last: Any = None
) -> list[Any]:
    """Feeds (cursor returned, records on the page) pairs, from the page after `last` (None: page 1); returns
    the tokens it hands back."""
    tokens: list[Any] = []
    for cursor, size in pages:
        token = strategy.next_page_token(
            response(page([{}] * size, cursor=cursor)),
            last_page_size=size,
            last_record=None,
            last_page_token_value=last,
            stream_slice=slice_of(partition),
        )
        tokens.append(token)
        last = token
    return tokens


def test_the_manifest_guards_every_paging_style_with_50_empty_pages_and_1000_remembered_cursors():
    for paginator in PAGINATORS:
        strategy = guarded(paginator)
        assert (strategy.max_consecutive_empty_pages, strategy.remembered_cursors) == (50, 1000), paginator


def test_guard_passes_fresh_cursors_through_and_stops_on_none():
    assert walk(guarded(), [("a", 10), ("b", 10), (None, 3)]) == ["a", "b", None]


def test_guard_fails_on_a_cursor_seen_earlier_in_the_partition_naming_the_endpoint():
    with pytest.raises(AirbyteTracedException) as raised:
        walk(guarded(), [("a", 10), ("b", 10), ("a", 10)])

    assert raised.value.message == (
        "Courier returned a page cursor it had already returned while paging GET /messages (3 pages in), so "
        f"paging further would loop forever. {PAGING_ERROR_END}"
    )
    assert raised.value.failure_type.value == "system_error"


def test_guard_catches_a_loop_longer_than_the_cursors_it_remembers_at_page_15():
    strategy = guarded(remembered_cursors=3)
    loop = [(cursor, 10) for cursor in "abcdefg"] * 10  # a loop of 7 cursors, more than the 3 remembered

    with pytest.raises(AirbyteTracedException) as raised:
        walk(strategy, loop)

    # Checkpoints at pages 1, 2, 4, 8: the cursor of page 8 ("a") comes back at page 15.
    assert "already returned while paging GET /messages (15 pages in)" in raised.value.message


def test_guard_memory_stays_flat_over_a_long_chain():
    strategy = guarded(remembered_cursors=5)
    assert walk(strategy, [(f"c{n}", 10) for n in range(1000)])[-1] == "c999"

    (chain,) = strategy._chains.by_slice.values()
    assert (list(chain["recent"]), chain["pages"], chain["checkpoint"], chain["next"]) == (
        ["c995", "c996", "c997", "c998", "c999"],
        1000,
        "c511",
        1024,
    )


def test_guard_forgets_a_finished_partition():
    strategy = guarded()
    walk(strategy, [("a", 10), (None, 10)])

    assert strategy._chains.by_slice == {}


def test_guard_forgets_cursors_when_a_partition_starts_over_at_page_one():
    strategy = guarded()
    assert walk(strategy, [("a", 10), ("b", 10)]) == ["a", "b"]
    assert walk(strategy, [("a", 10), ("b", 10)]) == ["a", "b"]  # a second read of the same partition


def test_guard_keeps_partitions_apart():
    strategy = guarded()
    assert walk(strategy, [("a", 10)], partition="one") == ["a"]
    assert walk(strategy, [("a", 10), ("b", 10)], partition="two", last="x") == ["a", "b"]


def test_guard_keeps_threads_apart_and_restarts_a_partition_it_has_not_seen_on_this_thread():
    strategy = guarded()
    walk(strategy, [("a", 10), ("b", 10)])
    other_thread: list[Any] = []
    thread = threading.Thread(target=lambda: other_thread.extend(walk(strategy, [("a", 10)], last="z")))
    thread.start()
    thread.join(5)

    assert other_thread == ["a"]  # the same partition mid-chain on another thread: a fresh chain, no repeat
    with pytest.raises(AirbyteTracedException, match=r"\(3 pages in\)"):
        walk(strategy, [("a", 10)], last="b")  # on this thread "a" is still a repeat


def test_guard_counts_only_consecutive_empty_pages():
    pages = [("a", 0), ("b", 0), ("c", 1), ("d", 0), ("e", 0)]  # never 3 empty pages in a row
    assert walk(guarded(max_consecutive_empty_pages=3), pages) == ["a", "b", "c", "d", "e"]
    with pytest.raises(AirbyteTracedException) as raised:
        walk(guarded(max_consecutive_empty_pages=3), [("a", 0), ("b", 0), ("c", 0)])

    assert raised.value.message == (
        "Courier returned 3 empty pages in a row, each with a new cursor, while paging GET /messages; stopping "
        f"instead of paging without end. {PAGING_ERROR_END}"
    )


def test_the_manifest_fails_at_the_50th_empty_page_in_a_row_not_the_49th():
    assert walk(guarded(), [(f"c{n}", 0) for n in range(49)])[-1] == "c48"
    with pytest.raises(AirbyteTracedException, match="50 empty pages in a row"):
        walk(guarded(), [(f"c{n}", 0) for n in range(50)])


@pytest.mark.parametrize(
    "overrides",
    [{"max_consecutive_empty_pages": 0}, {"cursor_path": []}],
    ids=["empty-page-limit-below-one", "no-cursor-path"],
)
def test_guard_refuses_a_setting_it_cannot_work_with(overrides):
    with pytest.raises(ValueError):
        guarded(**overrides)


@pytest.mark.parametrize(
    ("paginator", "body", "expected"),
    [
        pytest.param("paginator_paging_cursor", {"paging": {"cursor": "c2", "more": True}}, "c2", id="A-more"),
        pytest.param("paginator_paging_cursor", {"paging": {"cursor": "c2", "more": False}}, None, id="A-more-false"),
        pytest.param("paginator_paging_cursor", {"paging": {"cursor": None, "more": True}}, None, id="A-null-cursor"),
        pytest.param("paginator_paging_cursor", {"paging": {"cursor": "", "more": True}}, None, id="A-empty-cursor"),
        pytest.param("paginator_paging_cursor", {"paging": {"cursor": "c2"}}, None, id="A-no-more-key"),
        pytest.param("paginator_paging_cursor", {"results": []}, None, id="A-no-paging"),
        pytest.param("paginator_has_more", {"items": [], "has_more": True, "cursor": "c2"}, "c2", id="B-has-more"),
        pytest.param("paginator_has_more", {"has_more": False, "cursor": "c2"}, None, id="B-has-more-false"),
        pytest.param("paginator_has_more", {"has_more": True, "cursor": None}, None, id="B-null-cursor"),
        pytest.param("paginator_top_level_cursor", {"templates": [], "cursor": "c2"}, "c2", id="C-cursor"),
        pytest.param("paginator_top_level_cursor", {"templates": []}, None, id="C-no-cursor"),
        pytest.param("paginator_next_cursor", {"runs": [], "next_cursor": "n2"}, "n2", id="D-next-cursor"),
        pytest.param("paginator_next_cursor", {"runs": [], "next_cursor": None}, None, id="D-null-next-cursor"),
        pytest.param("paginator_next_cursor", {"runs": [], "cursor": "c2"}, None, id="D-other-key"),
    ],
)
def test_each_paging_style_follows_its_cursor_only_while_its_page_says_more(paginator, body, expected):
    token = guarded(paginator).next_page_token(response(body), last_page_size=0, last_record=None)

    assert token == expected


@pytest.mark.parametrize(
    ("paginator", "page_size"),
    [
        ("paginator_paging_cursor", None),
        ("paginator_has_more", 100),
        ("paginator_top_level_cursor", None),
        ("paginator_next_cursor", 50),
    ],
)
def test_each_paging_style_asks_for_its_documented_page_size(paginator, page_size):
    assert guarded(paginator).get_page_size() == page_size


# --- CourierErrorHandler -----------------------------------------------------------------------------------


def handler(stream: str = "messages") -> CourierErrorHandler:
    """The error handler of one stream's requester, with that stream's $parameters, as the source builds it."""
    definition = DEFINITIONS[f"{stream}_stream"]["retriever"]["requester"]["error_handler"]
    built = FACTORY.create_component(models.CustomErrorHandler, definition, config={})
    assert isinstance(built, CourierErrorHandler)
    return built


def rate_limited(retry_after: str | None = None) -> requests.Response:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    return response({"message": "Too many requests", "type": "rate_limit_error"}, headers=headers, status=429)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(components, "_utcnow", lambda: NOW)


def test_the_manifest_handler_retries_30_times_within_600_seconds_and_is_its_own_backoff_strategy():
    for stream in ("messages", "list_subscriptions", "tenants"):
        built = handler(stream)
        assert (built.max_retries, built.max_time, built.max_wait_seconds) == (30, 600, 600), stream
        assert built.backoff_strategies == [built] and built.backoff_strategies[0] is built


@pytest.mark.parametrize(
    "header, expected",
    [
        pytest.param("30", 30.0, id="seconds"),
        pytest.param(" 1.5 ", 1.5, id="fractional-seconds"),
        pytest.param(format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0, id="http-date"),
        pytest.param("Mon, 23 Nov 2026 12:02:00 GMT", 120.0, id="http-date-literal"),
        pytest.param("Mon, 23 Nov 2026 12:02:00", 120.0, id="http-date-without-zone-is-gmt"),
        pytest.param("100000", 600.0, id="seconds-capped"),
        pytest.param(format_datetime(NOW + timedelta(days=1), usegmt=True), 600.0, id="http-date-capped"),
        pytest.param(format_datetime(NOW - timedelta(seconds=5), usegmt=True), 2.0, id="http-date-past-exponential"),
        pytest.param("0", 2.0, id="zero-exponential"),
        pytest.param("-3", 2.0, id="negative-exponential"),
        pytest.param("soon", 2.0, id="garbage-exponential"),
        pytest.param("nan", 2.0, id="nan-exponential"),
        pytest.param("inf", 2.0, id="infinity-exponential"),
    ],
)
def test_a_429_waits_for_retry_after_in_seconds_or_as_an_http_date(frozen_now, header, expected):
    assert handler().backoff_time(rate_limited(header), attempt_count=1) == expected


@pytest.mark.parametrize(
    "attempt, expected",
    [
        pytest.param(0, 1.0, id="no-attempt-yet"),
        pytest.param(1, 2.0, id="first-retry"),
        pytest.param(3, 8.0, id="third-retry"),
        pytest.param(9, 512.0, id="below-cap"),
        pytest.param(10, 600.0, id="capped"),
        pytest.param(21, 600.0, id="after-twenty-short-retry-afters"),
        pytest.param(10_000, 600.0, id="no-overflow"),
    ],
)
def test_a_429_without_a_usable_retry_after_waits_two_to_the_attempt_capped_at_600(attempt, expected):
    assert handler().backoff_time(rate_limited(), attempt_count=attempt) == expected
    assert handler().backoff_time(rate_limited("soon"), attempt_count=attempt) == expected


def test_the_wait_cap_is_the_handlers_max_wait_seconds():
    definition = {**DEFINITIONS["messages_stream"]["retriever"]["requester"]["error_handler"], "max_wait_seconds": 30}
    capped = FACTORY.create_component(models.CustomErrorHandler, definition, config={})

    assert capped.backoff_time(rate_limited("100"), attempt_count=1) == 30.0
    assert capped.backoff_time(rate_limited(), attempt_count=6) == 30.0
    assert capped.backoff_time(rate_limited(), attempt_count=4) == 16.0


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(response({"message": "Internal error"}, status=500, headers={"Retry-After": "30"}), id="http-500"),
        pytest.param(response({"message": "Unavailable"}, status=503, headers={"Retry-After": "30"}), id="http-503"),
        pytest.param(response({"message": "Conflict"}, status=409), id="http-409"),
        pytest.param(response({"results": []}), id="http-200"),
        pytest.param(response(raw=b"<html>Bad gateway</html>", headers={"Retry-After": "30"}), id="http-200-html"),
        pytest.param(requests.ConnectionError("connection reset"), id="connection-error"),
        pytest.param(requests.ReadTimeout("read timed out"), id="read-timeout"),
        pytest.param(None, id="nothing"),
    ],
)
def test_anything_but_a_429_gets_no_wait_so_the_cdk_backs_off_itself_and_logs_no_rate_limit(answer):
    assert handler().backoff_time(answer, attempt_count=3) is None


def test_a_retried_409_ends_as_transient_where_the_cdk_alone_would_say_system_error():
    conflict = response({"message": "Conflict", "type": "api_error"}, status=409)
    plain = DefaultErrorHandler(config={}, parameters={}, response_filters=handler().response_filters)

    resolution = handler().interpret_response(conflict)

    assert plain.interpret_response(conflict).failure_type.value == "system_error"  # what the class changes
    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.RETRY, "transient_error")
    assert resolution.error_message == (
        "Courier did not answer https://api.courier.com/messages successfully (a timeout, conflict or server "
        "error); retried with backoff. Try the sync again later."
    )


@pytest.mark.parametrize(
    ("stream", "body", "key"),
    [
        pytest.param("messages", b'{"paging": {"more": false}, "items": []}', "results", id="records-key"),
        pytest.param("tenants", b'{"items": []}', "has_more", id="envelope-key"),
    ],
)
def test_a_200_without_the_envelope_is_retried_as_transient_naming_url_and_key(stream, body, key):
    resolution = handler(stream).interpret_response(response(raw=body, url="https://api.courier.com/x?cursor=c1"))

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.RETRY, "transient_error")
    assert resolution.error_message == (
        f"Courier answered https://api.courier.com/x with a body that is not JSON or lacks the '{key}' key (an "
        "error page or an unexpected envelope); retried, then stopped so nothing is silently skipped. Check "
        "base_url, then try again later."
    )


@pytest.mark.parametrize(
    ("stream", "body"),
    [
        pytest.param("messages", {"results": []}, id="records-key"),
        pytest.param("tenants", {"has_more": False}, id="envelope-key-without-records"),
        pytest.param("profiles", {"profile": {}, "preferences": {}}, id="whole-body-record"),
    ],
)
def test_a_200_with_the_envelope_is_a_success(stream, body):
    assert handler(stream).interpret_response(response(body)).response_action == ResponseAction.SUCCESS


def test_a_429_is_rate_limited_as_transient():
    resolution = handler().interpret_response(rate_limited("7"))

    assert (resolution.response_action, resolution.failure_type.value) == (
        ResponseAction.RATE_LIMITED,
        "transient_error",
    )
    assert resolution.error_message == (
        "Courier is rate limiting requests to https://api.courier.com/messages (429); waiting before retrying."
    )


def test_a_network_failure_is_retried_as_transient():
    resolution = handler().interpret_response(requests.ConnectionError("connection reset"))

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.RETRY, "transient_error")


def test_a_failed_response_keeps_its_failure_type():
    resolution = handler().interpret_response(response({"message": "Unauthorized"}, status=401))

    assert (resolution.response_action, resolution.failure_type.value) == (ResponseAction.FAIL, "config_error")


def test_a_404_fails_a_top_level_stream_but_only_skips_a_childs_deleted_parent():
    not_found = response({"message": "Not Found", "type": "invalid_request_error"}, status=404)
    not_found.url = "https://api.courier.com/lists/gone/subscriptions"

    top_level = handler("messages").interpret_response(not_found)
    child = handler("list_subscriptions").interpret_response(not_found)

    assert (top_level.response_action, top_level.failure_type.value) == (ResponseAction.FAIL, "system_error")
    assert child.response_action == ResponseAction.IGNORE
    assert child.error_message == (
        "Skipped https://api.courier.com/lists/gone/subscriptions: Courier answered 404 Not Found, so its parent "
        "was deleted during the sync."
    )


def test_a_child_handles_everything_but_404_as_its_parent_does():
    for answer in (response({"message": "x"}, status=401), response({"message": "x"}, status=503), response({})):
        child = handler("list_subscriptions").interpret_response(answer)
        top_level = handler("lists").interpret_response(answer)
        assert (child.response_action, child.failure_type) == (top_level.response_action, top_level.failure_type)


def test_a_wait_cap_that_is_not_positive_is_refused():
    definition = {**DEFINITIONS["messages_stream"]["retriever"]["requester"]["error_handler"], "max_wait_seconds": 0}

    with pytest.raises(ValueError, match="max_wait_seconds must be positive"):
        FACTORY.create_component(models.CustomErrorHandler, definition, config={})


# --- CourierConfigField and the key's trimming -------------------------------------------------------------


def config_field(name: str) -> CourierConfigField:
    """The spec's validation of one config field, as the source builds it."""
    (validation,) = [
        found["validation_strategy"]
        for found in MANIFEST["spec"]["config_normalization_rules"]["validations"]
        if found["field_path"] == [name]
    ]
    built = FACTORY.create_component(models.CustomValidationStrategy, validation, config={})
    assert isinstance(built, CourierConfigField) and built.field == name
    return built


def refusal(name: str, value: Any) -> str:
    with pytest.raises(AirbyteTracedException) as raised:
        config_field(name).validate(value)
    assert raised.value.failure_type.value == "config_error"
    assert raised.value.internal_message == raised.value.message
    return str(raised.value.message)


BASE_URL_FIX = (
    "Use an https:// URL such as https://api.courier.com (the default: remove base_url to use it), or http:// "
    "only to 127.0.0.1, [::1] or localhost for a local test server."
)
START_DATE_FIX = (
    "is not a date Courier can filter on. Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ in UTC, e.g. 2024-01-31 or "
    "2024-01-31T00:00:00Z, or remove start_date to read everything Courier still retains."
)


def test_the_spec_validates_exactly_api_key_base_url_and_start_date():
    validations = MANIFEST["spec"]["config_normalization_rules"]["validations"]

    assert [found["field_path"] for found in validations] == [["api_key"], ["base_url"], ["start_date"]]


def test_a_config_field_without_rules_is_refused():
    with pytest.raises(ValueError, match="CourierConfigField has rules for"):
        CourierConfigField(field="num_workers")


@pytest.mark.parametrize("value", ["pk_live_abc", "dk_2f3a", "{"], ids=["live", "short", "punctuation"])
def test_api_key_validation_accepts_one_token(value):
    config_field("api_key").validate(value)


@pytest.mark.parametrize("value", ["", None, 42], ids=["empty", "null", "number"])
def test_an_empty_or_non_string_api_key_is_refused_as_empty(value):
    assert refusal("api_key", value) == (
        "api_key is empty. Copy an API key from Settings > API Keys in Courier and paste it into api_key."
    )


@pytest.mark.parametrize(
    "value", ["pk live", "pk\tlive", "pk\nlive", "pk\u00a0live"], ids=["space", "tab", "nl", "nbsp"]
)
def test_an_api_key_with_whitespace_inside_is_refused(value):
    assert refusal("api_key", value) == (
        "api_key contains whitespace inside it, so it is not a Courier API key. Copy the key again from Settings > "
        "API Keys in Courier, as one unbroken string."
    )


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
    config_field("base_url").validate(value)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("http://api.courier.com", "would send the API key unencrypted or over an unsupported scheme."),
        ("http://127.0.0.2", "would send the API key unencrypted or over an unsupported scheme."),
        ("http://localhost.evil.com", "would send the API key unencrypted or over an unsupported scheme."),
        ("ws://localhost", "would send the API key unencrypted or over an unsupported scheme."),
        (" ", "is not a usable URL."),
        ("https://", "is not a usable URL."),
        ("https://api.courier.com:99999", "is not a usable URL."),
        ("https://api courier.com", "is not a usable URL."),
        (7, "is not a usable URL."),
    ],
)
def test_base_url_validation_refuses_naming_the_url_and_the_fix(value, problem):
    assert refusal("base_url", value) == f"base_url {value!r} {problem} {BASE_URL_FIX}"


def test_a_base_url_with_credentials_is_refused_without_echoing_them():
    message = refusal("base_url", "https://user:s3cret@api.courier.com")

    assert message == f"base_url must not contain a user name or password. {BASE_URL_FIX}"


@pytest.mark.parametrize("value", ["2024-02-29", "2024-01-31T23:59:59Z", ""], ids=["date", "date-time", "cleared"])
def test_start_date_validation_accepts_the_two_documented_forms_or_nothing(value):
    config_field("start_date").validate(value)


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-29",
        "2024-13-01",
        "2024-01-31T24:00:00Z",
        "2024-01-31 00:00:00",
        "2024-1-5",
        "31/01/2024",
        " ",
        20240131,
    ],
)
def test_start_date_validation_refuses_naming_the_value_and_both_forms(value):
    assert refusal("start_date", value) == f"start_date {value!r} {START_DATE_FIX}"


def transformations() -> list[Any]:
    rules = MANIFEST["spec"]["config_normalization_rules"]["transformations"]
    return [FACTORY.create_component(models.ConfigAddFields, rule, config={}) for rule in rules]


def key_trimmer() -> Any:
    return transformations()[0]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"api_key": "k"}, {"api_key": "k", "start_date": "", "base_url": ""}),
        ({"api_key": "k", "start_date": 5, "base_url": None}, {"api_key": "k", "start_date": 5, "base_url": None}),
    ],
    ids=["absent", "present"],
)
def test_an_absent_optional_field_is_added_empty_so_its_validator_finds_it(config, expected):
    for transformation in transformations()[1:]:
        transformation.transform(config)

    assert config == expected


def test_the_key_is_trimmed_of_surrounding_whitespace_and_nothing_else_changes():
    config = {"api_key": " \tpk_live_abc\u00a0\n", "other": " x ", "start_date": " 2024-01-31"}

    key_trimmer().transform(config)

    assert config == {"api_key": "pk_live_abc", "other": " x ", "start_date": " 2024-01-31"}


@pytest.mark.parametrize("config", [{"api_key": 42}, {"api_key": None}, {}], ids=["number", "null", "absent"])
def test_a_key_that_is_not_a_string_is_left_for_the_spec_to_reject(config):
    expected = dict(config)

    key_trimmer().transform(config)

    assert config == expected
