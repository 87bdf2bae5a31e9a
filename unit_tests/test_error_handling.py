"""The shared error handler: what each Courier status leads to, and the waits taken before retrying."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests

from source_courier import components
from unit_tests.builders import MESSAGES_URL, config, error, ids, message, page, stream_error

FROZEN_NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def frozen_now(monkeypatch):
    monkeypatch.setattr(components, "_utcnow", lambda: FROZEN_NOW)


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


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 409], ids=lambda status: f"http-{status}")
def test_transient_status_is_retried_then_records_are_emitted(api, run_read, waits, status):
    api.get(MESSAGES_URL, status=status, json=error("Internal error", "api_error"))
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [3]
    assert not output.errors


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("connection reset"), requests.ReadTimeout("read timed out")],
    ids=["connection-error", "read-timeout"],
)
def test_network_failure_is_retried(api, run_read, waits, failure):
    api.get(MESSAGES_URL, body=failure)
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [3]


@pytest.mark.parametrize("status", [503, 409, 507], ids=lambda status: f"http-{status}")
def test_exhausted_retries_end_in_a_transient_error(api, run_read, waits, status):
    api.get(MESSAGES_URL, status=status, json=error("Service unavailable", "api_error"))

    output = run_read(config())

    assert output.records == []
    assert stream_error(output).failure_type.value == "transient_error"
    assert "Courier did not answer https://api.courier.com/messages successfully" in stream_error(output).message
    # The CDK also gives up once 10 minutes have passed; the waits here are recorded, not slept.
    assert len(api.calls) == 31 and waits[:4] == [3, 5, 9, 17]


def test_401_fails_once_with_a_config_error_naming_the_fix(api, run_read, waits):
    api.get(MESSAGES_URL, status=401, json=error("Unauthorized", "authentication_error"))

    output = run_read(config())

    error_message = stream_error(output)
    assert error_message.failure_type.value == "config_error"
    assert "Courier rejected the API key" in error_message.message
    assert "Settings > API Keys" in error_message.message and "test and production" in error_message.message
    assert len(api.calls) == 1 and waits == []


def test_403_fails_once_with_a_config_error_naming_permissions(api, run_read, waits):
    api.get(MESSAGES_URL, status=403, json=error("Forbidden for this workspace", "authorization_error"))

    output = run_read(config())

    error_message = stream_error(output)
    assert error_message.failure_type.value == "config_error"
    assert error_message.message.startswith(
        "Courier accepted the API key but refused it access to https://api.courier.com/messages "
        "(403 authorization_error: Forbidden for this workspace)."
    )
    assert "scope allow reading" in error_message.message
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
    ],
)
def test_200_without_the_envelope_is_retried_not_taken_as_empty(api, run_read, waits, body):
    api.get(MESSAGES_URL, body=body, content_type="application/json")
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config())

    assert ids(output) == ["m1"]
    assert waits == [3]


def test_200_without_the_envelope_every_time_fails_naming_the_endpoint(api, run_read):
    api.get(MESSAGES_URL, body="<html>maintenance</html>", content_type="text/html")

    output = run_read(config())

    error_message = stream_error(output)
    assert error_message.failure_type.value == "transient_error"
    assert (
        "Courier answered https://api.courier.com/messages with a body that is not JSON or lacks the 'results' key"
        in (error_message.message)
    )
