"""The API key, raw or trimmed, never appears in any output (the `outputs` fixture also checks every test)."""

from __future__ import annotations

import orjson
import pytest
from airbyte_cdk.models import AirbyteMessageSerializer, SyncMode

from unit_tests.builders import API_KEY, MESSAGES_URL, config, error, message, page


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
