"""Bad input, generated: every wrong config is refused before any request, naming the fix, and odd states end
in a clear error or a safe fallback. Each command runs through `source_courier.run.run`, as the CLI does."""

from __future__ import annotations

import gc
import io
import json
import logging
import sys
import tempfile
from calendar import monthrange
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
import pytest
import responses
from airbyte_cdk.logger import AirbyteLogFormatter
from airbyte_cdk.models import (
    AirbyteMessage,
    AirbyteMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    Status,
    SyncMode,
    Type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from source_courier import presentation, run
from source_courier.components import START_DATE_FORMATS
from source_courier.source import SAVED_CURSORS, STATE_SHAPE  # its command is the README's (test_cli)
from unit_tests.builders import API_KEY, DAY_MS, catalog, message, page, serve

SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
SPEC_FIELDS = {"api_key", "start_date", "lookback_days", "base_url", "num_workers", "requests_per_second"}
KEY_EMPTY = "api_key is empty. Copy an API key from Settings > API Keys in Courier and paste it into api_key."
KEY_SPLIT = (
    "api_key contains whitespace inside it, so it is not a Courier API key. Copy the key again from "
    "Settings > API Keys in Courier, as one unbroken string."
)
URL_FIX = (
    "Use an https:// URL such as https://api.courier.com (the default: remove base_url to use it), "
    "or http:// only to 127.0.0.1, [::1] or localhost for a local test server."
)
# What each field must be, as a spec violation (checked first, by the CLI's entrypoint) says it.
MUST_BE = {
    "api_key": "text",
    "start_date": "text such as 2024-01-31",
    "lookback_days": "a whole number from 0 to 30",
    "base_url": "text such as https://api.courier.com",
    "num_workers": "a whole number from 2 to 20",
    "requests_per_second": "a whole number of at least 1",
    "connection_retries": "a whole number from 0 to 8",
}
NEWEST = 1_767_225_600_000  # the one message Courier holds in the state tests
WHITESPACE = " \t\n\r\x0b\x0c\u00a0\u2003\u3000"


@dataclass
class Run:
    exit_code: int
    messages: list[AirbyteMessage]
    requests: list[str]
    logs: list[AirbyteMessage]  # what the CLI prints as LOG messages from the loggers

    def of(self, type_: Type) -> list[AirbyteMessage]:
        return [m for m in self.messages if m.type == type_]

    @property
    def errors(self) -> list[Any]:
        return [m.trace.error for m in self.of(Type.TRACE) if m.trace.error is not None]


@contextmanager
def _files(config: Any, state: Any, streams: tuple[str, ...]) -> Iterator[tuple[Path, list[str]]]:
    """The files a command reads; a `str` is written as is (a file that is not JSON), anything else as JSON."""
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        selected = catalog(SyncMode.incremental, streams)
        written = {"config": config, "catalog": ConfiguredAirbyteCatalogSerializer.dump(selected)}
        if state is not None:
            written["state"] = state
        for name, content in written.items():
            (tmp / f"{name}.json").write_text(content if isinstance(content, str) else json.dumps(content))
        yield tmp, [arg for name in written for arg in (f"--{name}", str(tmp / f"{name}.json"))]


def cli(
    command: str,
    config: Any,
    state: Any = None,
    api: responses.RequestsMock | None = None,
    streams: tuple[str, ...] = ("messages",),
) -> Run:
    """Runs `source-courier <command>` in-process: stdout parsed line by line (each must be an Airbyte message),
    the exit code, and every request made. An uncaught error is printed as the CDK's excepthook prints it (exit 1).
    With no `api`, nothing is served and any request fails."""
    logs = io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(AirbyteLogFormatter())
    logging.getLogger("").addHandler(handler)
    stdout = io.StringIO()
    with _files(config, state, streams) as (tmp, files), contextmanager(_mock_unless(api))() as courier:
        args = [command, "--config", files[1]] + (files[2:] if command == "read" else [])
        try:
            with (
                mock.patch.object(sys, "argv", ["source-courier", *args]),
                mock.patch.object(presentation, "PRINT_BUFFER", nullcontext()),  # the CDK skips it under pytest too
                redirect_stdout(stdout),
            ):
                try:
                    run.run()  # an uncaught error it prints itself, then exits 1
                    exit_code = 0
                except SystemExit as exit_:
                    exit_code = int(exit_.code or 0)
        finally:
            logging.getLogger("").removeHandler(handler)
            gc.unfreeze()  # run() freezes the collector's view for the process; a test process goes on
        printed = stdout.getvalue().replace(str(tmp), "<tmp>")
        requests = [call.request.url for call in courier.calls]
    for text in (printed, logs.getvalue()):
        assert API_KEY not in text
    messages = [AirbyteMessageSerializer.load(orjson.loads(line)) for line in printed.splitlines()]  # no bare text
    logged = [AirbyteMessageSerializer.load(orjson.loads(line)) for line in logs.getvalue().splitlines()]
    return Run(exit_code, messages, requests, logged)


def _mock_unless(api: responses.RequestsMock | None) -> Any:
    def _courier() -> Iterator[responses.RequestsMock]:
        if api is not None:
            yield api
        else:
            with responses.RequestsMock(assert_all_requests_are_fired=False) as nothing_served:
                yield nothing_served

    return _courier


def assert_refused_everywhere(config: dict[str, Any], expected: str) -> None:
    """check: one FAILED status quoting `expected`; discover and read: one config_error trace, exit 1; no request."""
    check = cli("check", config)
    assert check.exit_code == 0
    assert [(m.connectionStatus.status, m.connectionStatus.message) for m in check.of(Type.CONNECTION_STATUS)] == [
        (Status.FAILED, expected)
    ]
    # The connector's own validators raise a traced error, which the CDK also emits; spec violations are only reported.
    traced = [] if is_spec_violation(expected) else [("config_error", expected)]
    assert [(e.failure_type.value, e.message) for e in check.errors] == traced
    assert check.requests == []
    for command in ("discover", "read"):
        run = cli(command, config)
        assert run.exit_code == 1
        assert [(e.failure_type.value, e.message) for e in run.errors] == [("config_error", expected)]
        assert [m.type for m in run.messages if m.type not in (Type.LOG, Type.TRACE)] == []
        assert run.requests == []


# Valid values for the fields a bad config does not get wrong.
valid_key = st.sampled_from([API_KEY, f"  {API_KEY}\n", f"\t{API_KEY}\u00a0"])  # outer whitespace is trimmed
valid_fields = st.fixed_dictionaries(
    {},
    optional={
        "start_date": st.sampled_from(["2024-01-31", "2024-01-31T00:00:00Z", ""]),
        "lookback_days": st.integers(0, 30),
        "base_url": st.sampled_from(["https://api.courier.com", "https://proxy.example.com/v1/", "http://[::1]:8080"]),
        "num_workers": st.integers(2, 20),
        "requests_per_second": st.integers(1, 10**6),
    },
)


@st.composite
def with_valid_fields(draw: st.DrawFn, bad: st.SearchStrategy[tuple[dict[str, Any], str]]) -> tuple[dict, str]:
    wrong, expected = draw(bad)
    return {"api_key": draw(valid_key), **draw(valid_fields), **wrong}, expected


def spec_violation(field: str, value: Any) -> str:
    """The message naming the field, what it must be and the value it got (a secret's only described)."""
    got = {bool: "true or false", int: "a number", list: "a list", dict: "an object"}.get(type(value), "null")
    return f"{field} must be {MUST_BE[field]} (got {got if field == 'api_key' else json.dumps(value)})."


def is_spec_violation(message: str) -> bool:
    return message.split(" ")[0] in MUST_BE and " must be " in message and "(got " in message


# api_key: empty, split by whitespace, or not a string. A non-string key is still a secret: described, not quoted.
empty_keys = st.text(WHITESPACE, max_size=4).map(lambda key: ({"api_key": key}, KEY_EMPTY))
split_keys = st.builds(
    lambda at, gap: ({"api_key": f"{API_KEY[:at]}{gap}{API_KEY[at:]}"}, KEY_SPLIT),
    st.integers(1, len(API_KEY) - 1),
    st.text(WHITESPACE, min_size=1, max_size=3),
)
# Masked wherever its text occurs, even a key of 5 whose digit is also in every timestamp: the messages stay JSON.
non_string_keys = st.one_of(
    st.integers(1, 10**30), st.sampled_from([True, False, None, [API_KEY], {"key": API_KEY}])
).map(lambda key: ({"api_key": key}, spec_violation("api_key", key)))


@SETTINGS
@given(with_valid_fields(st.one_of(empty_keys, split_keys, non_string_keys)))
def test_bad_api_key_is_refused_before_any_request(case):
    assert_refused_everywhere(*case)


def _start_date_error(value: str) -> str:
    return (
        f"start_date {value!r} is not a date Courier can filter on. Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ in UTC, "
        "e.g. 2024-01-31 or 2024-01-31T00:00:00Z, or remove start_date to read everything Courier still retains."
    )


@st.composite
def impossible_dates(draw: st.DrawFn) -> str:
    """A date in the right shape that names no moment: day 0 or past the month's end, month 0 or over 12, year 0,
    or a time past 23:59:59."""
    year, month = draw(st.integers(0, 9999)), draw(st.integers(0, 99))
    last_day = monthrange(year, month)[1] if year and 1 <= month <= 12 else 0
    day = draw(st.one_of(st.just(0), st.integers(last_day + 1, 99))) if last_day else draw(st.integers(0, 99))
    if last_day and draw(st.booleans()):  # a real day at an impossible time instead
        day = draw(st.integers(1, last_day))
        hour, minute, second = draw(
            st.sampled_from([(st.integers(24, 99), 0, 0), (0, st.integers(60, 99), 0), (0, 0, st.integers(60, 99))])
        )
        parts = [draw(p) if isinstance(p, st.SearchStrategy) else p for p in (hour, minute, second)]
        return f"{year:04d}-{month:02d}-{day:02d}T{parts[0]:02d}:{parts[1]:02d}:{parts[2]:02d}Z"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _date_shaped(value: str) -> bool:
    return any(shape.fullmatch(value) for shape in START_DATE_FORMATS.values())


misshapen_dates = st.one_of(
    st.sampled_from(
        [
            "2024-1-5",
            "2024/01/05",
            "05-01-2024",
            "20240105",
            "2024-01-05 10:00:00",
            "2024-01-05T10:00:00",
            "2024-01-05T10:00:00+02:00",
            "2024-01-05T10:00:00.000Z",
            "2024-01-05t10:00:00z",
            "２０２４-01-05",  # full-width digits
            " 2024-01-05",
        ]
    ),
    st.text(max_size=25).filter(lambda value: value != "" and not _date_shaped(value)),
)
bad_start_dates = st.one_of(
    st.one_of(impossible_dates(), misshapen_dates).map(lambda value: ({"start_date": value}, _start_date_error(value))),
    st.one_of(st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)).map(
        lambda value: ({"start_date": value}, spec_violation("start_date", value))
    ),
)


@SETTINGS
@given(with_valid_fields(bad_start_dates))
def test_impossible_misshapen_or_mistyped_start_date_is_refused_before_any_request(case):
    assert_refused_everywhere(*case)


BOUNDS = {"lookback_days": (0, 30), "num_workers": (2, 20), "requests_per_second": (1, None)}


@st.composite
def bad_integers(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """An integer field below its minimum (negative included), above its maximum (huge included), or not an integer."""
    field = draw(st.sampled_from(sorted(BOUNDS)))
    low, high = BOUNDS[field]
    out_of_range = [st.integers(-(10**30), low - 1)] + ([st.integers(high + 1, 10**30)] if high is not None else [])
    not_integers = st.one_of(
        st.text(max_size=5),
        st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: not v.is_integer()),
        st.booleans(),
        st.none(),
        st.lists(st.integers(0, 9), max_size=2),
    )
    value = draw(st.one_of(*out_of_range, not_integers))
    return {field: value}, spec_violation(field, value)


@SETTINGS
@given(with_valid_fields(bad_integers()))
def test_out_of_range_or_mistyped_integer_setting_is_refused_before_any_request(case):
    assert_refused_everywhere(*case)


hosts = st.from_regex(r"[a-z][a-z0-9-]{0,12}(\.[a-z]{2,6}){1,2}", fullmatch=True)  # never localhost: it has a dot
paths = st.sampled_from(["", "/", "/v1", "/v1/"])
secrets = st.from_regex(r"[A-Za-z0-9]{12,20}", fullmatch=True)


def _unencrypted(url: str) -> tuple[dict[str, Any], str]:
    return {
        "base_url": url
    }, f"base_url {url!r} would send the API key unencrypted or over an unsupported scheme. {URL_FIX}"


def _unusable(url: str) -> tuple[dict[str, Any], str]:
    return {"base_url": url}, f"base_url {url!r} is not a usable URL. {URL_FIX}"


ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o))).filter(lambda h: h != "127.0.0.1")
bad_base_urls = st.one_of(
    st.builds(lambda host, path: _unencrypted(f"http://{host}{path}"), st.one_of(hosts, ipv4), paths),
    st.builds(
        lambda scheme, host: _unencrypted(f"{scheme}://{host}"),
        st.from_regex(r"[a-z][a-z0-9]{1,6}", fullmatch=True).filter(lambda s: s not in ("http", "https")),
        st.one_of(hosts, st.sampled_from(["127.0.0.1", "localhost", "[::1]"])),
    ),
    st.builds(lambda host, path: _unusable(f"{host}{path}"), hosts, paths),  # no scheme
    st.builds(
        lambda scheme, host, port: _unusable(f"{scheme}://{host}:{port}"),
        st.sampled_from(["http", "https"]),
        st.one_of(hosts, st.just("127.0.0.1")),
        st.one_of(st.integers(65536, 10**8).map(str), st.from_regex(r"[a-z]{1,5}", fullmatch=True)),
    ),
    st.sampled_from(["https://", "https:///v1", "http://:8080", "https://[::1"]).map(_unusable),
    st.builds(
        lambda user, password, host: (
            {"base_url": f"https://{user}:{password}@{host}"},
            f"base_url must not contain a user name or password. {URL_FIX}",
        ),
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
        secrets,
        hosts,
    ),
    st.one_of(st.integers(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)).map(
        lambda value: ({"base_url": value}, spec_violation("base_url", value))
    ),
)


@SETTINGS
@given(with_valid_fields(bad_base_urls))
def test_malformed_or_non_https_remote_base_url_is_refused_before_any_request(case):
    config, expected = case
    assert_refused_everywhere(config, expected)
    if "@" in str(config["base_url"]):  # the password is not echoed
        assert config["base_url"].split(":")[2].split("@")[0] not in expected


@st.composite
def several_mistakes(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    """Up to one schema error plus wrong api_key, base_url and start_date: the first in that order is reported."""
    chosen = draw(
        st.lists(st.sampled_from(["schema", "api_key", "base_url", "start_date"]), min_size=2, max_size=4, unique=True)
    )
    found = {
        "schema": bad_integers(),
        "api_key": st.one_of(empty_keys, split_keys),
        "base_url": bad_base_urls.filter(lambda case: not is_spec_violation(case[1])),
        "start_date": bad_start_dates.filter(lambda case: not is_spec_violation(case[1])),
    }
    mistakes = {kind: draw(found[kind]) for kind in chosen}
    config = {"api_key": API_KEY, **draw(valid_fields)}
    for wrong, _ in mistakes.values():
        config.update(wrong)
    first = next(kind for kind in found if kind in mistakes)
    return config, mistakes[first][1]


@SETTINGS
@given(several_mistakes())
def test_with_several_mistakes_the_first_is_reported_before_any_request(case):
    assert_refused_everywhere(*case)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=5,
)


@settings(SETTINGS, max_examples=8)
@given(
    extra=st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda k: k not in SPEC_FIELDS), json_values, max_size=4
    )
)
def test_unknown_config_keys_are_ignored_and_the_read_works(extra):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        serve(api, "/messages", page([message("m1")]))

        run = cli("read", {**extra, "api_key": API_KEY}, api=api)

    assert run.exit_code == 0
    assert [m.record.data["id"] for m in run.of(Type.RECORD)] == ["m1"]
    assert run.errors == []


def _stream_state(blob: Any, stream: str = "messages") -> list[dict[str, Any]]:
    return [{"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": blob}}]


def _could_not_start(reason: str) -> str:
    return f"source-courier could not start: {reason}"


def _state_file(problem: str) -> str:
    return f"The state file {problem} {STATE_SHAPE}"


def _unusable_state(stream: str, problem: str) -> str:
    return _could_not_start(
        f"the saved state of stream {stream} cannot be used: {problem}. Clear the stream's data in Airbyte (a reset) "
        "to read it again from start_date, or correct the state file."
    )


@pytest.mark.parametrize(
    "state, expected",
    [
        pytest.param(
            {"messages": {"enqueued": str(NEWEST)}},
            _state_file("<tmp>/state.json holds a JSON object, not a list of state messages."),
            id="legacy-dict-per-stream-form",
        ),
        pytest.param(  # the case: one bare STATE message instead of a one-element list
            {"type": "STATE", "state": _stream_state({"enqueued": str(NEWEST)})[0]},
            _state_file("<tmp>/state.json holds a single state message, not a list of state messages."),
            id="bare-state-message",
        ),
        pytest.param(
            _stream_state({"enqueued": str(NEWEST)})[0],
            _state_file("<tmp>/state.json holds a single state message, not a list of state messages."),
            id="bare-state-of-a-message",
        ),
        pytest.param(
            {"foo": 1}, _state_file("<tmp>/state.json holds a JSON object, not a list of state messages."), id="foo"
        ),
        pytest.param(
            "{not json",
            _state_file(
                "<tmp>/state.json cannot be read as JSON (Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1))."
            ),
            id="not-json",
        ),
        pytest.param(
            "garbage",
            _state_file("<tmp>/state.json cannot be read as JSON (Expecting value: line 1 column 1 (char 0))."),
            id="garbage-string",
        ),
        pytest.param(
            '"abc"',
            _state_file("<tmp>/state.json holds a JSON string, not a list of state messages."),
            id="json-string",
        ),
        pytest.param(
            5, _state_file("<tmp>/state.json holds a JSON number, not a list of state messages."), id="json-number"
        ),
        pytest.param(
            [5], _state_file("<tmp>/state.json holds a list, but not of Airbyte state messages."), id="list-of-numbers"
        ),
        pytest.param(
            [{}],
            _state_file("<tmp>/state.json holds a list, but not of Airbyte state messages."),
            id="empty-state-message",
        ),
        pytest.param(
            _stream_state({"enqueued": str(NEWEST)}, stream="mesages"),
            _state_file("names no stream of source-courier (it names mesages)."),
            id="unknown-stream",
        ),
        *(
            pytest.param(
                _stream_state({"enqueued": value}),
                _unusable_state("messages", f"enqueued {value!r} is not a time in epoch milliseconds"),
                id=id_,
            )
            for value, id_ in [("abc", "non-numeric"), ("", "empty"), (None, "null"), ("9" * 20, "beyond-any-date")]
        ),
        pytest.param(  # a child stream's cursor, two levels down its state
            _stream_state(
                {
                    "use_global_cursor": True,
                    "state": {"enqueued": "1"},
                    "parent_state": {"messages": {"enqueued": "x"}},
                },
                stream="message_history",
            ),
            _unusable_state("message_history", "enqueued 'x' is not a time in epoch milliseconds"),
            id="child-parent-state",
        ),
        pytest.param(
            _stream_state({"created_at": "yesterday"}, stream="automation_runs"),
            _unusable_state("automation_runs", "created_at 'yesterday' is not an ISO-8601 time"),
            id="runs-created-at",
        ),
    ],
)
def test_unreadable_state_or_saved_cursor_fails_the_read_with_a_config_error_naming_the_fix_before_any_request(
    state, expected
):
    run = cli("read", {"api_key": API_KEY}, state=state)

    assert run.exit_code == 1
    assert [(e.failure_type.value, e.message) for e in run.errors] == [("config_error", expected)]
    assert run.requests == []


@pytest.mark.parametrize(
    "state",
    [
        pytest.param("null", id="null-file"),
        pytest.param([], id="empty-list"),
        # The archived 0.1.0 connector was full refresh only: whatever a platform kept for it carries no cursor.
        pytest.param([{"type": "LEGACY", "data": {"messages": {"enqueued": str(NEWEST)}}}], id="legacy-type"),
        pytest.param(_stream_state({}), id="empty-blob"),
        pytest.param(_stream_state({"updated": "1"}), id="other-cursor-field"),
        # A stream of the connector beside an unknown one: the unknown one's state is ignored.
        pytest.param(
            _stream_state({"enqueued": str(NEWEST)}, stream="no_such_stream") + _stream_state({}), id="unknown-stream"
        ),
        pytest.param(_stream_state({"enqueued": "-5"}), id="before-1970"),
    ],
)
def test_state_without_a_usable_messages_cursor_falls_back_to_a_full_read(state):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        serve(api, "/messages", page([message("m1", NEWEST)]))  # no enqueued_after

        run = cli("read", {"api_key": API_KEY}, state=state, api=api)

    assert run.exit_code == 0
    assert [m.record.data["id"] for m in run.of(Type.RECORD)] == ["m1"]
    final = run.of(Type.STATE)[-1].state.stream.stream_state.__dict__
    assert final == {"enqueued": str(NEWEST), **({"updated": "1"} if "updated" in str(state) else {})}  # kept as given
    assert run.errors == []


def test_global_state_with_shared_state_fails_the_read_with_a_config_error_before_any_request():
    state = [
        {
            "type": "GLOBAL",
            "global": {
                "shared_state": {},
                "stream_states": [{"stream_descriptor": {"name": "messages"}, "stream_state": {"enqueued": "1"}}],
            },
        }
    ]

    run = cli("read", {"api_key": API_KEY}, state=state)

    assert run.exit_code == 1
    ((failure_type, message),) = [(e.failure_type.value, e.message) for e in run.errors]
    assert failure_type == "config_error"
    assert message.startswith(_could_not_start("Received a GLOBAL AirbyteStateMessage that contains a shared_state."))
    assert run.requests == []


@SETTINGS
@given(
    saved=st.integers(1_262_304_000_000, NEWEST),  # 2010 to 2026: far older than Courier's retention, up to now
    lookback_days=st.integers(0, 30),
    as_number=st.booleans(),
)
def test_state_older_than_retention_resumes_at_state_minus_lookback(saved, lookback_days, as_number):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        serve(api, "/messages", page([message("m1", NEWEST)]), enqueued_after=str(saved - lookback_days * DAY_MS))

        run = cli(
            "read",
            {"api_key": API_KEY, "lookback_days": lookback_days},
            state=_stream_state({"enqueued": saved if as_number else str(saved)}),
            api=api,
        )

    assert run.exit_code == 0
    assert [m.record.data["id"] for m in run.of(Type.RECORD)] == ["m1"]
    assert run.of(Type.STATE)[-1].state.stream.stream_state.__dict__ == {"enqueued": str(NEWEST)}


@settings(SETTINGS, max_examples=5)
@given(saved=st.integers(3_786_912_000_000, 4_102_444_799_999), lookback_days=st.integers(0, 30))  # 2090 to 2099
def test_future_state_reads_nothing_sends_no_request_and_is_kept(saved, lookback_days):
    run = cli(
        "read", {"api_key": API_KEY, "lookback_days": lookback_days}, state=_stream_state({"enqueued": str(saved)})
    )

    assert run.exit_code == 0
    assert run.of(Type.RECORD) == [] and run.errors == [] and run.requests == []
    assert [m.state.stream.stream_state.__dict__ for m in run.of(Type.STATE)] == [{"enqueued": str(saved)}]


@pytest.mark.parametrize(
    "wrong, expected",
    [
        # num_workers is read for the CDK's thread pool before validation: these crashed with the CDK's own words.
        *(
            pytest.param({"num_workers": value}, spec_violation("num_workers", value), id=f"num-workers-{id_}")
            for value, id_ in [(0, "zero"), (-3, "negative"), ("x", "text"), (True, "true")]
        ),
        # A hidden field, declared for check's config_overrides: checked like the others.
        pytest.param(
            {"connection_retries": 9},
            "connection_retries must be a whole number from 0 to 8 (got 9).",
            id="connection-retries-9",
        ),
        # A key whose text is also part of the messages' JSON (every timestamp holds a 5) broke their JSON.
        pytest.param({"api_key": 5}, "api_key must be text (got a number).", id="key-5"),
        # Whitespace inside the host passed urlsplit, then failed in requests as a stream error.
        pytest.param(*_unusable("https://exa mple.com"), id="space-in-host"),
    ],
)
def test_inputs_that_once_escaped_validation_are_refused_before_any_request(wrong, expected):
    assert_refused_everywhere({"api_key": API_KEY, **wrong}, expected)


def test_every_cursor_field_the_connector_declares_is_checked_when_resumed():
    discover = cli("discover", {"api_key": API_KEY})

    (catalog,) = [message.catalog for message in discover.of(Type.CATALOG)]
    declared = {field for stream in catalog.streams for field in stream.default_cursor_field or []}
    assert declared == set(SAVED_CURSORS) == {"enqueued", "created_at", "timestamp"}


def _stream_names() -> str:
    (catalog,) = [message.catalog for message in cli("discover", {"api_key": API_KEY}).of(Type.CATALOG)]
    return ", ".join(stream.name for stream in catalog.streams)


def test_a_catalog_naming_no_stream_of_the_connector_ends_in_a_config_error_naming_it_before_any_request():
    run = cli("read", {"api_key": API_KEY}, streams=("mesages",))

    assert run.exit_code == 1
    assert [(e.failure_type.value, e.message) for e in run.errors] == [
        (
            "config_error",
            f"The catalog names no stream of source-courier (it names mesages). Its streams are {_stream_names()}: "
            "run discover for a catalog of them, or in Airbyte refresh the source schema.",
        )
    ]
    assert run.requests == []


def test_an_unknown_stream_beside_a_known_one_is_a_warning_naming_both_and_the_known_one_is_read():
    with responses.RequestsMock(assert_all_requests_are_fired=True) as api:
        serve(api, "/messages", page([message("m1")]))

        run = cli("read", {"api_key": API_KEY}, api=api, streams=("messages", "mesages"))

    assert run.exit_code == 0
    assert [m.record.data["id"] for m in run.of(Type.RECORD)] == ["m1"]
    assert [m.log.message for m in run.logs if m.log.level.value == "WARN"] == [
        "The catalog names streams source-courier does not have, so they are not read: mesages. "
        f"Its streams: {_stream_names()}."
    ]
    assert run.errors == []
