"""The API key, raw or trimmed, never appears in any output (the `outputs` fixture also checks every test)."""

from __future__ import annotations

import orjson
import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, SyncMode

from source_courier.presentation import ProviderSettingsRedactor
from unit_tests.builders import API_KEY, MESSAGES_URL, config, error, message, page, refused_key, sample, serve


def everything(output) -> str:
    return "\n".join(orjson.dumps(AirbyteMessageSerializer.dump(m)).decode() for m in output._messages)


@pytest.mark.parametrize("raw_key", [API_KEY, f"  {API_KEY}\n"], ids=["as-is", "padded"])
@pytest.mark.parametrize("status", [200, 401, 403, 404, 500], ids=lambda status: f"http-{status}")
def test_key_never_appears_in_debug_output(api, run_read, raw_key, status):
    body = page([message("m1")]) if status == 200 else error(f"bad key {API_KEY}", "authentication_error")
    api.get(MESSAGES_URL, status=status, json=body, headers={"X-Echo": API_KEY})
    if status == 500:
        api.get(MESSAGES_URL, json=page([]))

    output = run_read(config(api_key=raw_key), SyncMode.incremental, debug=True)

    text = everything(output)
    assert API_KEY not in text and raw_key not in text
    assert "****" in text  # the echoed key was there to mask, and it was masked


def test_key_inside_a_rejected_base_url_message_is_masked(api, run_read):
    output = run_read(config(base_url=f"http://example.com/{API_KEY}"))

    assert API_KEY not in everything(output)
    assert output.errors[0].trace.error.failure_type.value == "config_error"


def test_debug_logs_show_provider_pages_without_their_settings(api, run_read):
    provider = sample("providers", settings={"api_key": "SG.provider-secret-0f9e8d"})
    serve(api, "/providers", page([provider], key="results"))

    output = run_read(config(), streams=("providers",), debug=True)

    text = everything(output)
    assert "SG.provider-secret-0f9e8d" not in text
    assert "provider settings can hold credentials" in text  # the page was logged, its settings replaced
    assert provider["id"] in text and provider["title"] in text


@pytest.mark.parametrize(
    "body",
    ["<html>Bad gateway SG.provider-secret-0f9e8d</html>", '{"results": "SG.provider-secret-0f9e8d"}'],
    ids=["not-json", "unexpected-shape"],
)
def test_a_provider_response_that_is_not_a_page_is_not_logged_at_all(body):
    assert ProviderSettingsRedactor._redacted(body) == ProviderSettingsRedactor.REDACTED


def test_a_key_that_is_also_json_punctuation_leaves_every_message_readable(api, run_check):
    # The key is masked inside the messages' strings, not in their JSON: a key of "{" would otherwise break them.
    api.get(MESSAGES_URL, status=401, json=error("Invalid key {"))

    output = run_check(config(api_key="{"))

    (status,) = [message.connectionStatus for message in output.connection_status_messages]
    assert status.status.value == "FAILED" and status.message == refused_key("Invalid key ****")


@pytest.mark.parametrize("debug", [False, True], ids=["info", "debug"])
def test_a_provider_page_retried_for_a_missing_envelope_never_shows_provider_settings(api, run_read, debug):
    provider = sample("providers", settings={"api_key": "SG.provider-secret-0f9e8d"})
    serve(api, "/providers", {"paging": {"more": False}, "items": [provider]})  # `items` instead of `results`
    serve(api, "/providers", page([provider], key="results"))

    output = run_read(config(), streams=("providers",), debug=debug)

    assert [record.record.data["id"] for record in output.records] == [provider["id"]]
    assert "SG.provider-secret-0f9e8d" not in everything(output)
