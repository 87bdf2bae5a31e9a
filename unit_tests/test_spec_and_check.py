"""spec, check and config validation: a user mistake is refused before any request, naming the fix."""

from __future__ import annotations

import pytest
from airbyte_cdk.models import Status, SyncMode

from source_courier import SourceCourier
from unit_tests.builders import API_KEY, MESSAGES_URL, config, error, ids, message, page, refused_key


def test_spec_declares_the_documented_fields():
    spec = SourceCourier().spec(logger=None).connectionSpecification

    assert spec["required"] == ["api_key"]
    assert spec["properties"]["api_key"]["airbyte_secret"] is True
    assert set(spec["properties"]) == {
        "api_key",
        "start_date",
        "lookback_days",
        "base_url",
        "num_workers",
        "requests_per_second",
        "connection_retries",
    }
    lookback = spec["properties"]["lookback_days"]
    assert (lookback["type"], lookback["minimum"], lookback["maximum"], lookback["default"]) == ("integer", 0, 30, 1)
    assert spec["properties"]["base_url"]["default"] == "https://api.courier.com"
    workers = spec["properties"]["num_workers"]
    assert (workers["type"], workers["minimum"], workers["maximum"], workers["default"]) == ("integer", 2, 20, 10)
    budget = spec["properties"]["requests_per_second"]
    assert (budget["type"], budget["minimum"], "default" in budget) == ("integer", 1, False)
    retries = spec["properties"]["connection_retries"]  # hidden: check overrides it (config_overrides)
    assert (retries["minimum"], retries["maximum"], retries["default"], retries["airbyte_hidden"]) == (0, 8, 8, True)


def test_check_succeeds_with_one_request(api, run_check):
    api.get(MESSAGES_URL, json=page([message("m1")], cursor="c1"))

    output = run_check(config())

    assert [m.connectionStatus.status for m in output.connection_status_messages] == [Status.SUCCEEDED]
    assert len(api.calls) == 1


def test_absent_optional_fields_are_not_logged_about(api, run_check):
    """The CDK's validator logs "Validation skipped. Key not found: ['start_date']" for a field it does not find;
    the manifest adds each absent optional field as empty, its documented meaning."""
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_check(config())

    assert [m.connectionStatus.status for m in output.connection_status_messages] == [Status.SUCCEEDED]
    assert not output.is_in_logs("Validation skipped")


def test_check_sends_the_trimmed_key_as_a_bearer_token(api, run_check):
    api.get(MESSAGES_URL, json=page([]))

    run_check(config(api_key=f"  {API_KEY}\n"))

    assert api.calls[0].request.headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize(
    ("status", "body", "couriers_message"),
    [
        (401, error(), "Unauthorized"),
        (403, error("Invalid or missing authentication credentials", "authorization_error"), None),
        (403, {}, "no message"),
    ],
    ids=["401", "403", "403-without-message"],
)
def test_a_refused_key_fails_check_once_with_the_config_error_quoting_courier(
    api, run_check, waits, status, body, couriers_message
):
    api.get(MESSAGES_URL, status=status, json=body)

    output = run_check(config())

    (connection,) = output.connection_status_messages
    assert connection.connectionStatus.status == Status.FAILED
    assert connection.connectionStatus.message == refused_key(couriers_message or body["message"])
    assert len(api.calls) == 1 and waits == []


BAD_CONFIGS = [
    pytest.param(
        {"base_url": "http://api.courier.com"},
        "base_url 'http://api.courier.com' would send the API key unencrypted",
        id="plain-http-remote",
    ),
    pytest.param(
        {"base_url": "http://10.0.0.5:8080"}, "would send the API key unencrypted", id="plain-http-private-ip"
    ),
    pytest.param({"base_url": "ftp://127.0.0.1"}, "unsupported scheme", id="ftp-loopback"),
    pytest.param({"base_url": "api.courier.com"}, "base_url 'api.courier.com' is not a usable URL", id="no-scheme"),
    pytest.param({"base_url": "https://"}, "is not a usable URL", id="no-host"),
    pytest.param(
        {"base_url": "https://user:hunter2-secret@api.courier.com"},
        "base_url must not contain a user name or password",
        id="credentials-in-url",
    ),
    pytest.param({"base_url": "http://127.0.0.1:99999"}, "is not a usable URL", id="bad-port"),
    pytest.param({"api_key": "pk_test abc"}, "api_key contains whitespace inside it", id="space-inside-key"),
    pytest.param({"api_key": "   "}, "api_key is empty", id="blank-key"),
    pytest.param(
        {"start_date": "2024-02-30"},
        "start_date '2024-02-30' is not a date Courier can filter on",
        id="impossible-date",
    ),
    pytest.param({"start_date": "2024-1-5"}, "Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", id="unpadded-date"),
    pytest.param(
        {"start_date": "2024-01-05T10:00:00+02:00"}, "Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", id="offset-date"
    ),
    pytest.param(
        {"lookback_days": 31}, "lookback_days must be a whole number from 0 to 30 (got 31).", id="lookback-too-long"
    ),
    pytest.param(
        {"lookback_days": -1}, "lookback_days must be a whole number from 0 to 30 (got -1).", id="negative-lookback"
    ),
    pytest.param(
        {"lookback_days": "2"}, 'lookback_days must be a whole number from 0 to 30 (got "2").', id="lookback-as-text"
    ),
    # One worker deadlocks the CDK once a child stream has more than 10,000 partitions (seen with 12,000).
    pytest.param({"num_workers": 1}, "num_workers must be a whole number from 2 to 20 (got 1).", id="one-worker"),
    pytest.param(
        {"num_workers": 21}, "num_workers must be a whole number from 2 to 20 (got 21).", id="too-many-workers"
    ),
    pytest.param(
        {"requests_per_second": 0},
        "requests_per_second must be a whole number of at least 1 (got 0).",
        id="zero-requests-per-second",
    ),
    pytest.param(
        {"requests_per_second": 2.5},
        "requests_per_second must be a whole number of at least 1 (got 2.5).",
        id="fractional-requests-per-second",
    ),
]


@pytest.mark.parametrize("overrides, expected", BAD_CONFIGS)
def test_bad_config_fails_check_before_any_request(api, run_check, overrides, expected):
    output = run_check(config(**overrides))

    (status,) = output.connection_status_messages
    assert status.connectionStatus.status == Status.FAILED
    assert expected in status.connectionStatus.message
    assert "hunter2-secret" not in status.connectionStatus.message  # a password in base_url is not echoed
    assert len(api.calls) == 0


@pytest.mark.parametrize("overrides, expected", BAD_CONFIGS)
def test_bad_config_fails_discover_with_a_config_error(api, run_discover, overrides, expected):
    output = run_discover(config(**overrides))

    (trace,) = output.errors
    assert trace.trace.error.failure_type.value == "config_error"
    assert expected in trace.trace.error.message
    assert len(api.calls) == 0


@pytest.mark.parametrize("overrides, expected", BAD_CONFIGS)
def test_bad_config_fails_read_with_a_config_error(api, run_read, overrides, expected):
    output = run_read(config(**overrides), SyncMode.incremental)

    assert output.records == []
    assert output.errors[0].trace.error.failure_type.value == "config_error"
    assert expected in output.errors[0].trace.error.message
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    "base_url, requested",
    [
        pytest.param(
            "https://courier-proxy.example.com/v1/",
            "https://courier-proxy.example.com/v1/messages",
            id="https-with-path",
        ),
        pytest.param("http://127.0.0.1:8080", "http://127.0.0.1:8080/messages", id="http-ipv4-loopback"),
        pytest.param("http://[::1]:8080", "http://[::1]:8080/messages", id="http-ipv6-loopback"),
        pytest.param("http://localhost", "http://localhost/messages", id="http-localhost"),
    ],
)
def test_accepted_base_urls_are_requested(api, run_read, base_url, requested):
    api.get(requested, json=page([message("m1")]))

    output = run_read(config(base_url=base_url))

    assert ids(output) == ["m1"]


def test_cleared_optional_fields_mean_their_defaults(api, run_read):
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config(base_url="", start_date=""), SyncMode.incremental)

    assert ids(output) == ["m1"]
    assert api.calls[0].request.url == f"{MESSAGES_URL}?limit=100"  # the default base URL, and no enqueued_after


def test_unknown_config_keys_are_ignored(api, run_read):
    api.get(MESSAGES_URL, json=page([message("m1")]))

    output = run_read(config(page_size=1, legacy_option={"x": 1}))

    assert ids(output) == ["m1"]
