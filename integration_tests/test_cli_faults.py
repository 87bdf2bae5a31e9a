"""The installed CLI against the emulator serving faults: each ends in the exact record set, or a clean failure
of the right type, within a bounded time. Faults hit at most `max_in_a_row` times in a row per URL.

Waits are real: a 429 waits its Retry-After (or 2**attempt s) plus the CDK's second, logged as a rate limit; every
other retried fault takes the CDK's exponential backoff (1, 2, 4, ... s, at most 600 s of waiting per request),
logged as a retryable error. One 429 case and one other stay in the fast tier; the rest wait longer (`slow`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from courier_emulator.faults import FaultPlan
from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, HOUR_MS, error_traces, final_state, logs, record_ids, refused_key

WITHOUT_END = 10**9  # max_in_a_row: the fault never lets up
# The two ways the CDK logs a wait before a retry: our handler's wait for a 429 (plus the CDK's second), and the
# CDK's own backoff for every other retried fault.
RATE_LIMITED = re.compile(
    r"^UserDefinedBackoffException: Rate limit exceeded \(HTTP 429\)\. Retrying in ([0-9.]+) seconds\.$"
)
BACKOFF = re.compile(
    r"^Caught retryable error '.*' after [0-9]+ tries\. Waiting ([0-9.]+) seconds then retrying\.\.\.$", re.S
)
# The CDK's limit on retrying one request: 10 minutes (`max_time`), whatever max_retries says.
MAX_TIME = 600
SEED = 3

slow = pytest.mark.slow


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


def waits(messages: list[dict]) -> list[tuple[str, float]]:
    """Each retry's wait as the CDK logged it: ("429", seconds, the CDK's added second included) or ("backoff",
    seconds)."""
    found = []
    for line in logs(messages):
        for source, pattern in (("429", RATE_LIMITED), ("backoff", BACKOFF)):
            match = pattern.match(line)
            if match:
                found.append((source, float(match.group(1))))
    return found


def faults_served(courier: RunningEmulator, kind: str) -> int:
    return courier.stats()["faults"].get(kind, 0)


@pytest.mark.parametrize(
    "kind, expected_wait",
    [
        pytest.param("429-seconds", ("429", 2.0), id="429-retry-after-seconds"),  # Retry-After: 1, plus the CDK's 1 s
        pytest.param("429-none", ("429", 3.0), id="429-without-retry-after", marks=slow),  # 2**1 + 1
        pytest.param("500", ("backoff", 1.0), id="500"),  # the CDK's first backoff
        pytest.param("502", ("backoff", 1.0), id="502", marks=slow),
        pytest.param("503", ("backoff", 1.0), id="503", marks=slow),
        pytest.param("drop", ("backoff", 1.0), id="dropped-connection", marks=slow),
        pytest.param("malformed-json", ("backoff", 1.0), id="malformed-json", marks=slow),
        pytest.param("html-200", ("backoff", 1.0), id="html-page-200", marks=slow),
        pytest.param("html-502", ("backoff", 1.0), id="html-page-502", marks=slow),
        pytest.param("no-envelope", ("backoff", 1.0), id="200-without-results", marks=slow),
    ],
)
def test_passing_fault_yields_every_message_once_after_waiting(tmp_path, courier, kind, expected_wait):
    courier.set_faults([kind], max_in_a_row=1, retry_after=1)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())  # all 30, each once, newest first
    assert final_state(messages) == {"enqueued": str(courier.log.enqueued(0))}
    assert faults_served(courier, kind) == 3  # one on each page's URL
    assert courier.stats()["requests"] == {"GET /messages": 6}
    assert waits(messages) == [expected_wait] * 3
    assert error_traces(messages) == []


@slow
def test_429_with_an_http_date_waits_until_that_date(tmp_path, courier):
    courier.set_faults(["429-http-date"], max_in_a_row=1, retry_after=2)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    # The date is the next whole second + 2 s: 2-3 s away when parsed, plus the CDK's second.
    assert [source for source, _ in waits(messages)] == ["429"] * 3
    assert all(2.5 < wait <= 4.0 for _, wait in waits(messages))


@slow
def test_two_faults_in_a_row_on_every_url_still_yield_every_message_once(tmp_path, courier):
    courier.set_faults(["503"], max_in_a_row=2)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    assert faults_served(courier, "503") == 6
    assert waits(messages) == [("backoff", 1.0), ("backoff", 2.0)] * 3  # the CDK's backoff per request: 1 s, 2 s


def test_more_true_with_a_null_cursor_on_the_last_page_ends_the_read_cleanly(tmp_path, courier):
    courier.set_faults(["null-cursor"], max_in_a_row=WITHOUT_END)

    code, messages = read(tmp_path, courier)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    assert faults_served(courier, "null-cursor") == 1
    assert courier.stats()["requests"] == {"GET /messages": 3}  # page 1 is not requested again


@slow
def test_a_response_slower_than_the_timeout_is_retried(tmp_path):
    with run_in_thread(api_key=API_KEY, messages=5, workspace=None) as courier:
        courier.set_faults(["slow"], max_in_a_row=1, slow_seconds=61)  # the connector times out after 60 s

        code, messages = read(tmp_path, courier)

        assert code == 0
        assert record_ids(messages) == list(courier.log.ids())
        assert faults_served(courier, "slow") == 1 and waits(messages) == [("backoff", 1.0)]


# Without end, other than a 429: a 503 or an HTML maintenance page (a 200 without the envelope), drawn per request.
ENDLESS = [{"kind": "503", "rate": 0.5}, {"kind": "html-200", "rate": 0.5}]
FINAL_ERRORS = {  # the manifest's message for each, naming the endpoint; the CDK's failure quotes the last one
    "503": "Courier did not answer {url} successfully (a timeout, conflict or server error); retried with backoff. "
    "Try the sync again later.",
    "html-200": "Courier answered {url} with a body that is not JSON or lacks the 'results' key (an error page or an "
    "unexpected envelope); retried, then stopped so nothing is silently skipped. Check base_url, then try again later.",
}


@slow
def test_faults_without_end_other_than_429_fail_as_transient_after_ten_minutes_of_backoff_naming_the_endpoint(
    tmp_path, courier
):
    # One run for both kinds (each costs 10 minutes): the Retry-After they carry is ignored (it answers a 429 only),
    # so the CDK's backoff waits 1, 2, 4, ... 256 s, then the rest of its 10 minutes: 11 requests, whose faults the
    # plan's seed decides.
    courier.set_faults(ENDLESS, max_in_a_row=WITHOUT_END, retry_after=1, retry_after_on_errors=True, seed=SEED)
    plan = FaultPlan(ENDLESS, max_in_a_row=WITHOUT_END, seed=SEED)
    served = [plan.decide("/messages?limit=100", "/messages", lambda kind: True) for _ in range(11)]

    code, messages = read(tmp_path, courier)

    assert code != 0
    assert record_ids(messages) == []
    assert courier.stats()["requests"] == {"GET /messages": 11}
    assert courier.stats()["faults"] == dict(Counter(served)) and set(served) == {"503", "html-200"}
    error = error_traces(messages)[0]
    assert error["failure_type"] == "transient_error"
    last_error = FINAL_ERRORS[served[-1]].format(url=f"{courier.base_url}/messages")
    assert (
        error["message"]
        == f"Exhausted available request attempts. Please see logs for more details. Exception: {last_error}"
    )
    logged = waits(messages)
    assert logged[:-1] == [("backoff", 2.0**n) for n in range(9)]
    (source, last) = logged[-1]
    assert source == "backoff" and 0 < last <= MAX_TIME - sum(2**n for n in range(9))  # what is left of 600 s


@slow
def test_429_without_end_fails_as_transient_after_the_first_try_and_30_retries(tmp_path, courier):
    courier.set_faults(["429-seconds"], max_in_a_row=WITHOUT_END, retry_after=1)

    code, messages = read(tmp_path, courier)

    assert code != 0
    error = error_traces(messages)[0]
    # The CDK words this failure itself; the URL is in its internal message and the logs.
    assert (error["failure_type"], error["message"]) == ("transient_error", "API rate limit exceeded.")
    assert f"{courier.base_url}/messages" in error["internal_message"]
    assert courier.stats()["requests"] == {"GET /messages": 31}
    assert waits(messages) == [("429", 2.0)] * 30


def test_repeated_cursor_fails_naming_the_endpoint_without_endless_duplicates(tmp_path, courier):
    courier.set_faults(["repeat-cursor"], max_in_a_row=WITHOUT_END)

    code, messages = read(tmp_path, courier)

    assert code != 0
    error = error_traces(messages)[0]
    assert error["failure_type"] == "system_error"
    assert "already returned while paging GET /messages" in error["message"]
    assert courier.stats()["requests"] == {"GET /messages": 2}
    assert len(record_ids(messages)) == 20  # two pages read, then the guard stops


@pytest.mark.parametrize("kind, couriers_message", [("401", "Unauthorized"), ("403", "Forbidden")], ids=["401", "403"])
def test_auth_failure_is_a_config_error_naming_the_fix_without_retry(tmp_path, courier, kind, couriers_message):
    courier.set_faults([kind], max_in_a_row=WITHOUT_END)

    code, messages = read(tmp_path, courier)

    assert code != 0
    error = error_traces(messages)[0]
    assert (error["failure_type"], error["message"]) == ("config_error", refused_key(couriers_message))
    assert error_traces(messages)[-1]["message"] == error["message"]  # the CLI ends the read with the same
    assert courier.stats()["requests"] == {"GET /messages": 1}
    assert waits(messages) == []
