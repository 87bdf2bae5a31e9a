"""The shared error handler: what each Courier status leads to, and the waits taken before retrying.

A 429 waits what CourierErrorHandler says, plus the second the CDK adds; every other retried fault waits the
CDK's own 1, 2, 4, ... s, within its 10-minute max_time (the `waits` fixture counts the waits as time)."""

from __future__ import annotations

import http.server
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
import urllib3

from source_courier import components
from unit_tests.builders import (
    MESSAGES_URL,
    config,
    error,
    has_more_page,
    ids,
    keys,
    message,
    page,
    refused_key,
    sample,
    serve,
    stream_error,
    unresolvable,
)

FROZEN_NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(components, "_utcnow", lambda: FROZEN_NOW)


def log_lines(output) -> list[str]:
    return [entry.log.message for entry in output.logs]


def test_429_waits_for_retry_after_seconds_then_emits_records(api, run_read, waits):
    api.get(MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"), headers={"Retry-After": "7"})
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [8]  # Retry-After plus the one second the CDK adds to every wait
    assert len(api.calls) == 2


def test_429_waits_for_retry_after_http_date_then_emits_records(api, run_read, waits, frozen_now):
    retry_at = format_datetime(FROZEN_NOW + timedelta(seconds=42), usegmt=True)
    api.get(
        MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"), headers={"Retry-After": retry_at}
    )
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [43]


def test_429_retry_after_is_capped_at_ten_minutes(api, run_read, waits):
    api.get(
        MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"), headers={"Retry-After": "86400"}
    )
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [601]


def test_429_without_retry_after_backs_off_exponentially(api, run_read, waits):
    for _ in range(3):
        api.get(MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"))
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [3, 5, 9]  # 2**attempt seconds, plus the CDK's extra second


def test_a_429_wait_is_logged_as_a_rate_limit(api, run_read):
    api.get(MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"), headers={"Retry-After": "7"})
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert "UserDefinedBackoffException: Rate limit exceeded (HTTP 429). Retrying in 8.0 seconds." in log_lines(output)


def test_429s_answered_until_retries_run_out_end_in_a_transient_rate_limit_error(api, run_read, waits):
    api.get(MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"), headers={"Retry-After": "1"})

    output = run_read(config())

    assert output.records == []
    assert len(api.calls) == 31 and waits == [2] * 30  # max_retries: 30, well within max_time
    assert (stream_error(output).failure_type.value, stream_error(output).message) == (
        "transient_error",
        "API rate limit exceeded.",
    )


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409], ids=lambda status: f"http-{status}")
def test_transient_status_is_retried_after_the_cdks_one_second_then_records_are_emitted(api, run_read, waits, status):
    api.get(MESSAGES_URL, status=status, json=error("Internal error", "api_error"), headers={"Retry-After": "30"})
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [1]  # the CDK's own backoff; a Retry-After on anything but a 429 is not read
    assert not output.errors


def test_a_server_error_retry_is_logged_as_a_retryable_error_not_a_rate_limit(api, run_read):
    api.get(MESSAGES_URL, status=503, json=error("Service unavailable", "api_error"))
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert (
        "Caught retryable error 'Courier did not answer https://api.courier.com/messages successfully (a timeout, "
        "conflict or server error); retried with backoff. Try the sync again later.' after 1 tries. Waiting 1 "
        "seconds then retrying..."
    ) in log_lines(output)
    assert not output.is_in_logs("Rate limit exceeded")


def test_server_errors_in_a_row_wait_one_two_then_four_seconds(api, run_read, waits):
    for status in (500, 502, 503):
        api.get(MESSAGES_URL, status=status, json=error("Internal error", "api_error"))
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [1, 2, 4]


def test_a_server_error_after_429s_waits_one_second_not_a_wait_grown_by_the_429s(api, run_read, waits):
    for _ in range(3):
        api.get(
            MESSAGES_URL, status=429, json=error("Too many requests", "rate_limit_error"), headers={"Retry-After": "1"}
        )
    api.get(MESSAGES_URL, status=503, json=error("Service unavailable", "api_error"))
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [2, 2, 2, 1]


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection reset"), requests.ReadTimeout("read timed out")],
    ids=["connection-error", "read-timeout"],
)
def test_network_failure_is_retried_after_one_second(api, run_read, waits, failure):
    api.get(MESSAGES_URL, body=failure)
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [1]
    assert not output.is_in_logs("Rate limit exceeded")


# The CDK's exponential backoff, trimmed to what is left of max_time (600 s): after 1 + 2 + ... + 256 = 511 s
# the next wait is 89 s, and the request made at 600 s is the last.
TEN_MINUTES_OF_BACKOFF = [1, 2, 4, 8, 16, 32, 64, 128, 256, 89]


@pytest.mark.parametrize("status", [503, 409, 507], ids=lambda status: f"http-{status}")
def test_exhausted_retries_end_in_a_transient_error_after_ten_minutes(api, run_read, waits, status):
    api.get(MESSAGES_URL, status=status, json=error("Service unavailable", "api_error"))

    output = run_read(config())

    assert output.records == []
    assert len(api.calls) == 11 and waits == TEN_MINUTES_OF_BACKOFF and sum(waits) == 600
    assert (stream_error(output).failure_type.value, stream_error(output).message) == (
        "transient_error",
        "Exhausted available request attempts. Please see logs for more details. Exception: Courier did not "
        "answer https://api.courier.com/messages successfully (a timeout, conflict or server error); retried "
        "with backoff. Try the sync again later.",
    )


def test_429s_inside_a_server_error_retry_get_ten_minutes_of_their_own_so_one_request_waits_3001_s(
    api, run_read, waits
):
    """The CDK retries a 429 (a wait this handler gives) inside its retry of other faults (its own backoff), and
    each loop has its own max_time: 9 server errors, then twice a pair of 429s and a server error."""
    for _ in range(9):
        api.get(MESSAGES_URL, status=503, json=error("Service unavailable", "api_error"))
    for _ in range(2):
        for retry_after in ("598.5", "600"):
            api.get(MESSAGES_URL, status=429, json=error(), headers={"Retry-After": retry_after})
        api.get(MESSAGES_URL, status=503, json=error("Service unavailable", "api_error"))

    output = run_read(config())

    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 599.5, 601, 89, 599.5, 601]
    assert sum(waits) == 3001 and len(api.calls) == 15
    assert stream_error(output).failure_type.value == "transient_error"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, error("Unauthorized", "authentication_error")),
        (403, error("Invalid or missing authentication credentials", "authorization_error")),
    ],
    ids=["401", "403"],
)
def test_a_refused_key_fails_once_with_the_config_error_quoting_courier(api, run_read, waits, status, body):
    api.get(MESSAGES_URL, status=status, json=body)

    output = run_read(config())

    error_message = stream_error(output)
    assert error_message.failure_type.value == "config_error"
    assert error_message.message == refused_key(body["message"])
    assert len(api.calls) == 1 and waits == []


@pytest.mark.parametrize("status", [400, 404, 422], ids=lambda status: f"http-{status}")
def test_other_4xx_fails_with_couriers_message(api, run_read, waits, status):
    api.get(MESSAGES_URL, status=status, json=error("Invalid enqueued_after", "invalid_request_error"))

    output = run_read(config())

    error_message = stream_error(output)
    assert error_message.message.startswith(
        "Courier refused the request to https://api.courier.com/messages (invalid_request_error): Invalid enqueued_after."
    )
    assert len(api.calls) == 1 and waits == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<html><body>Bad gateway</body></html>", id="html-page"),
        pytest.param('{"paging": {"more": false}, "resu', id="truncated-json"),
        pytest.param('{"paging": {"more": false}, "items": []}', id="wrong-envelope"),
        pytest.param("[]", id="json-array"),
        pytest.param("null", id="json-null"),
        pytest.param('"results"', id="json-string"),
        pytest.param("", id="empty-body"),
    ],
)
def test_200_without_the_envelope_is_retried_not_taken_as_empty(api, run_read, waits, body):
    api.get(MESSAGES_URL, body=body, content_type="application/json")
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [1]
    assert not output.errors


def test_200_without_the_envelope_every_time_fails_as_transient_naming_the_endpoint_and_key(api, run_read, waits):
    api.get(MESSAGES_URL, body="<html>maintenance</html>", content_type="text/html")

    output = run_read(config())

    error_message = stream_error(output)
    assert error_message.failure_type.value == "transient_error"
    assert error_message.message == (
        "Exhausted available request attempts. Please see logs for more details. Exception: Courier answered "
        "https://api.courier.com/messages with a body that is not JSON or lacks the 'results' key (an error page or "
        "an unexpected envelope); retried, then stopped so nothing is silently skipped. Check base_url, then try "
        "again later."
    )
    assert len(api.calls) == 11 and waits == TEN_MINUTES_OF_BACKOFF


def test_a_paging_style_b_page_without_has_more_is_retried_even_with_items(api, run_read, waits):
    serve(api, "/tenants", {"items": [sample("tenants", id="t0")]}, limit="100")
    serve(api, "/tenants", has_more_page([sample("tenants", id="t1")]), limit="100")

    output = run_read(config(), streams=("tenants",))

    assert keys(output, "tenants", "id") == [("t1",)]
    assert waits == [1]


# Courier out of reach (issue 17): a refused connection, a DNS or a TLS failure. The response filters never see
# these (they match responses); CourierErrorHandler retries them `connection_retries` times on the CDK's own
# backoff, then fails naming the host and the cause. Only loopback is dialled; DNS fails in-process.
UNREACHABLE_HOST = "courier.invalid"


def unreachable(where: str, cause: str, attempt: int, of: int) -> str:
    return (
        f"Could not connect to {where}: {cause} (attempt {attempt} of {of}). Check base_url, and that this machine "
        f"can reach {where}."
    )


@pytest.fixture
def no_dns(monkeypatch):
    """`courier.invalid` cannot be resolved, as a mistyped host; any other lookup is refused outright."""
    unresolvable(monkeypatch, UNREACHABLE_HOST, loopback_only=True)


@pytest.fixture
def plain_http_port():
    """A loopback port that answers in plain HTTP: an https:// base_url to it fails the TLS handshake."""
    server = http.server.HTTPServer(("127.0.0.1", 0), QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the signature of the method it overrides
        pass


def test_a_refused_connection_on_read_is_retried_eight_times_over_255_s_then_fails_naming_host_and_cause(
    run_read, waits, no_dns
):
    output = run_read(config(base_url="http://127.0.0.1:1"))

    assert output.records == []
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128] and sum(waits) == 255
    expected = unreachable("127.0.0.1:1", "connection refused", 9, 9)
    assert (stream_error(output).failure_type.value, stream_error(output).message) == ("transient_error", expected)
    last = output.errors[-1].trace.error  # the message Airbyte shows
    assert (last.failure_type.value, last.message) == ("transient_error", expected)
    assert not output.is_in_logs("Rate limit")
    assert unreachable("127.0.0.1:1", "connection refused", 1, 9) in " ".join(log_lines(output))


@pytest.mark.parametrize(
    ("base_url", "where", "cause"),
    [
        pytest.param("http://127.0.0.1:1", "127.0.0.1:1", "connection refused", id="refused"),
        pytest.param(
            f"https://{UNREACHABLE_HOST}",
            f"{UNREACHABLE_HOST}:443",
            "its name was not found in DNS (Name or service not known)",
            id="dns",
        ),
    ],
)
def test_an_unreachable_base_url_fails_check_after_two_retries_naming_host_and_cause(
    run_check, waits, no_dns, base_url, where, cause
):
    output = run_check(config(base_url=base_url))

    assert [
        (m.connectionStatus.status.value, m.connectionStatus.message) for m in output.connection_status_messages
    ] == [("FAILED", unreachable(where, cause, 3, 3))]
    assert waits == [1, 2]
    assert not output.is_in_logs("Rate limit")


def test_a_tls_failure_fails_check_naming_host_and_cause(run_check, waits, no_dns, plain_http_port):
    output = run_check(config(base_url=f"https://127.0.0.1:{plain_http_port}"))

    (status,) = output.connection_status_messages
    assert status.connectionStatus.message == unreachable(
        f"127.0.0.1:{plain_http_port}",
        "the TLS handshake failed ([SSL: WRONG_VERSION_NUMBER] wrong version number)",
        3,
        3,
    )
    assert waits == [1, 2]


def test_a_connection_that_recovers_reads_on(api, run_read, waits, no_dns):
    """Two refused attempts, then Courier answers: the records, after the CDK's 1 + 2 s."""
    refused = requests.ConnectionError(urllib3.exceptions.NewConnectionError(None, "refused"))
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    api.get(MESSAGES_URL, body=refused)
    api.get(MESSAGES_URL, body=refused)
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [1, 2]


def test_a_redirect_to_an_unresolvable_host_is_bounded_like_any_unreachable_host(api, run_read, waits, no_dns):
    """Each retry follows the redirect in a new request object: the count is kept per worker thread instead."""
    api.get(MESSAGES_URL, status=302, headers={"Location": f"https://{UNREACHABLE_HOST}/messages"})
    api.add_passthru(f"https://{UNREACHABLE_HOST}")

    output = run_read(config())

    assert waits == [1, 2, 4, 8, 16, 32, 64, 128]
    assert stream_error(output).message == unreachable(
        f"{UNREACHABLE_HOST}:443", "its name was not found in DNS (Name or service not known)", 9, 9
    )
