"""The installed CLI against the emulator serving faults: each ends in the exact record set, or a clean failure
of the right type, within a bounded time. Faults hit at most `max_in_a_row` times in a row per URL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, HOUR_MS, error_traces, final_state, logs, record_ids

WITHOUT_END = 10**9  # max_in_a_row: the fault never lets up
WAIT = re.compile(r"Retrying in ([0-9.]+) seconds")


@pytest.fixture(scope="module")
def courier() -> Iterator[RunningEmulator]:
    # 30 messages: three pages, so every fault hits page 1, a cursor page and the last page.
    with run_in_thread(api_key=API_KEY, messages=30, spacing_ms=HOUR_MS, workspace=None) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def no_faults_left(courier: RunningEmulator) -> Iterator[None]:
    courier.reset()
    yield
    courier.set_faults([])


def read(tmp_path, courier: RunningEmulator, **overrides: Any) -> tuple[int, list[dict]]:
    return cli_runner.read(tmp_path, cli_runner.config(courier.base_url, **overrides))


def waits(messages: list[dict]) -> list[float]:
    """The retry waits the CDK logged (each includes the 1 s it adds)."""
    return [float(match.group(1)) for line in logs(messages) for match in WAIT.finditer(line)]


def faults_served(courier: RunningEmulator, kind: str) -> int:
    return courier.stats()["faults"].get(kind, 0)


@pytest.mark.parametrize(
    "kind, expected_wait",
    [
        pytest.param("429-seconds", 2.0, id="429-retry-after-seconds"),  # Retry-After: 1, plus the CDK's second
        pytest.param("429-none", 3.0, id="429-without-retry-after"),  # exponential: 2**1 + 1
        pytest.param("500", 3.0, id="500"),
        pytest.param("502", 3.0, id="502"),
        pytest.param("503", 3.0, id="503"),
        pytest.param("drop", 3.0, id="dropped-connection"),
        pytest.param("malformed-json", 3.0, id="malformed-json"),
        pytest.param("html-200", 3.0, id="html-page-200"),
        pytest.param("html-502", 3.0, id="html-page-502"),
        pytest.param("no-envelope", 3.0, id="200-without-results"),
    ],
)
def test_passing_fault_yields_every_message_once_after_waiting(tmp_path, courier, kind, expected_wait):
    courier.set_faults([kind], max_in_a_row=1, retry_after=1)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())  # all 30, each once, newest first
    assert final_state(messages) == {"enqueued": str(courier.log.enqueued(0))}
    assert faults_served(courier, kind) == 3  # one on each page's URL
    assert waits(messages) == [expected_wait] * 3
    assert error_traces(messages) == []


def test_429_with_an_http_date_waits_until_that_date(tmp_path, courier):
    courier.set_faults(["429-http-date"], max_in_a_row=1, retry_after=2)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    # The date is the next whole second + 2 s: 2-3 s away when parsed, plus the CDK's second.
    assert len(waits(messages)) == 3 and all(2.5 < wait <= 4.0 for wait in waits(messages))


def test_two_faults_in_a_row_on_every_url_still_yield_every_message_once(tmp_path, courier):
    courier.set_faults(["503"], max_in_a_row=2)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    assert faults_served(courier, "503") == 6
    assert waits(messages) == [3.0, 5.0] * 3  # exponential backoff per request: 2**1 + 1, 2**2 + 1


def test_more_true_with_a_null_cursor_on_the_last_page_ends_the_read_cleanly(tmp_path, courier):
    courier.set_faults(["null-cursor"], max_in_a_row=WITHOUT_END)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    assert faults_served(courier, "null-cursor") == 1
    assert courier.stats()["requests"] == {"GET /messages": 3}  # page 1 is not requested again


def test_a_response_slower_than_the_timeout_is_retried(tmp_path):
    with run_in_thread(api_key=API_KEY, messages=5, workspace=None) as courier:
        courier.set_faults(["slow"], max_in_a_row=1, slow_seconds=61)  # the connector times out after 60 s

        code, messages = read(tmp_path, courier)

        assert code == 0
        assert record_ids(messages) == list(courier.log.ids())
        assert faults_served(courier, "slow") == 1 and waits(messages) == [3.0]


@pytest.mark.parametrize("kind", ["503", "html-200"], ids=["503", "html-page-200"])
def test_fault_without_end_fails_as_transient_naming_the_endpoint(tmp_path, courier, kind):
    # Retry-After: 1 on every fault keeps the 30 retries to about a minute (2 s each).
    courier.set_faults([kind], max_in_a_row=WITHOUT_END, retry_after=1, retry_after_on_errors=True)

    code, messages = read(tmp_path, courier)

    assert code != 0
    assert record_ids(messages) == []
    error = error_traces(messages)[0]
    assert error["failure_type"] == "transient_error"
    assert f"{courier.base_url}/messages" in error["message"]
    assert courier.stats()["requests"] == {"GET /messages": 31}  # the first try and 30 retries


def test_429_without_end_fails_as_transient(tmp_path, courier):
    courier.set_faults(["429-seconds"], max_in_a_row=WITHOUT_END, retry_after=1)

    code, messages = read(tmp_path, courier)

    assert code != 0
    error = error_traces(messages)[0]
    # The CDK words this failure itself; the URL is in its internal message and the logs.
    assert (error["failure_type"], error["message"]) == ("transient_error", "API rate limit exceeded.")
    assert f"{courier.base_url}/messages" in error["internal_message"]
    assert courier.stats()["requests"] == {"GET /messages": 31}


def test_repeated_cursor_fails_naming_the_endpoint_without_endless_duplicates(tmp_path, courier):
    courier.set_faults(["repeat-cursor"], max_in_a_row=WITHOUT_END)

    code, messages = read(tmp_path, courier)

    assert code != 0
    error = error_traces(messages)[0]
    assert error["failure_type"] == "system_error"
    assert "already returned while paging GET /messages" in error["message"]
    assert courier.stats()["requests"] == {"GET /messages": 2}
    assert len(record_ids(messages)) == 20  # two pages read, then the guard stops


@pytest.mark.parametrize(
    "kind, fix",
    [("401", "Settings > API Keys"), ("403", "Use a key whose workspace and scope allow reading")],
    ids=["401", "403"],
)
def test_auth_failure_is_a_config_error_naming_the_fix_without_retry(tmp_path, courier, kind, fix):
    courier.set_faults([kind], max_in_a_row=WITHOUT_END)

    code, messages = read(tmp_path, courier)

    assert code != 0
    error = error_traces(messages)[0]
    assert error["failure_type"] == "config_error" and fix in error["message"]
    assert courier.stats()["requests"] == {"GET /messages": 1}
    assert waits(messages) == []
