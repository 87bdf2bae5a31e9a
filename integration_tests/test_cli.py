"""The `source-courier` CLI against the local Courier emulator: each command once as the installed console script
in a subprocess, the rest through its entrypoint in this process (`cli_runner`)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import (
    API_KEY,
    CATALOG,
    DAY_MS,
    EMULATOR_REFUSAL,
    HOUR_MS,
    WRONG_KEY,
    cli,
    error_traces,
    final_state,
    logs,
    messages_state,
    of_type,
    record_ids,
    refused_key,
)
from source_courier.source import STATE_SHAPE


@pytest.fixture(scope="module")
def courier() -> Iterator[RunningEmulator]:
    # 60 messages an hour apart: 6 pages, and a lookback of one day spans 24 of them.
    with run_in_thread(api_key=API_KEY, messages=60, spacing_ms=HOUR_MS) as emulator:
        yield emulator


@pytest.fixture(autouse=True)
def fresh_request_log(courier: RunningEmulator) -> None:
    courier.reset_requests()


def config(courier: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    return cli_runner.config(courier.base_url, **overrides)


def test_spec_prints_one_spec(tmp_path):
    code, messages = cli(tmp_path, "spec", in_subprocess=True)

    assert code == 0
    (spec,) = of_type(messages, "SPEC")
    assert spec["connectionSpecification"]["required"] == ["api_key"]


def test_module_entrypoint_runs_too():
    done = subprocess.run([sys.executable, "-m", "source_courier", "spec"], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0
    assert [json.loads(line)["type"] for line in done.stdout.splitlines()][-1] == "SPEC"


def test_check_succeeds_with_one_request(tmp_path, courier):
    code, messages = cli(tmp_path, "check", config(courier), in_subprocess=True)

    assert code == 0
    assert [status["status"] for status in of_type(messages, "CONNECTION_STATUS")] == ["SUCCEEDED"]
    assert [(r["path"], r["authorized"]) for r in courier.requests()] == [("/messages", True)]


def test_check_with_a_wrong_key_fails_with_the_reason_alone_quoting_courier(tmp_path, courier):
    code, messages = cli(tmp_path, "check", config(courier, api_key=WRONG_KEY))

    assert code == 0
    (status,) = of_type(messages, "CONNECTION_STATUS")
    # the reason alone: the CLI drops the CDK's "Stream messages is not available: ..." wrapper and its quotes
    assert (status["status"], status["message"]) == ("FAILED", refused_key(EMULATOR_REFUSAL))
    assert len(courier.requests()) == 1  # the emulator's 403 for a wrong key is not retried


def test_check_refuses_plain_http_to_another_host_before_any_request(tmp_path, courier):
    code, messages = cli(tmp_path, "check", config(courier, base_url="http://courier.example.com"))

    assert code == 0
    (status,) = of_type(messages, "CONNECTION_STATUS")
    assert status["status"] == "FAILED" and "would send the API key unencrypted" in status["message"]
    assert courier.requests() == []


def test_discover_declares_messages_incremental_on_enqueued(tmp_path, courier):
    code, messages = cli(tmp_path, "discover", config(courier), in_subprocess=True)

    assert code == 0
    (catalog,) = of_type(messages, "CATALOG")
    stream = catalog["streams"][0]  # every stream is declared; unit_tests/test_streams.py checks them all
    assert len(catalog["streams"]) == 31
    assert (stream["name"], stream["default_cursor_field"], stream["source_defined_primary_key"]) == (
        "messages",
        ["enqueued"],
        [["id"]],
    )
    assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert courier.requests() == []


def test_read_with_a_wrong_key_ends_in_a_config_error_trace_and_non_zero_exit(tmp_path, courier):
    code, messages = cli(tmp_path, "read", config(courier, api_key=WRONG_KEY), catalog=CATALOG.read_text())

    assert code != 0
    assert record_ids(messages) == []
    stream_error, last = error_traces(messages)
    assert (stream_error["failure_type"], last["failure_type"]) == ("config_error", "config_error")
    # the trace ending the read says what the stream's said; the CDK's summary stays its internal message
    assert stream_error["message"] == last["message"] == refused_key(EMULATOR_REFUSAL)
    assert last["internal_message"].startswith(
        "During the sync, the following streams did not sync successfully: messages: "
    )


def test_read_with_an_impossible_start_date_fails_before_any_request(tmp_path, courier):
    code, messages = cli(tmp_path, "read", config(courier, start_date="2026-02-30"), catalog=CATALOG.read_text())

    assert code != 0
    (error,) = error_traces(messages)
    assert error["failure_type"] == "config_error" and "start_date '2026-02-30'" in error["message"]
    assert courier.requests() == []


def test_first_read_returns_every_message_once_newest_first_with_the_max_enqueued_as_state(tmp_path, courier):
    _, discovered = cli(tmp_path, "discover", config(courier))
    (schema,) = [s["json_schema"] for s in of_type(discovered, "CATALOG")[0]["streams"] if s["name"] == "messages"]
    courier.reset_requests()

    code, messages = cli(tmp_path, "read", config(courier), catalog=CATALOG.read_text(), in_subprocess=True)

    assert code == 0
    assert record_ids(messages) == list(courier.log.ids())
    for record in of_type(messages, "RECORD"):
        jsonschema.validate(record["data"], schema)
    assert final_state(messages) == {"enqueued": str(courier.log.enqueued(0))}
    queries = [request["query"] for request in courier.requests()]
    assert queries[0] == {"limit": "100"}  # neither state nor start_date: no enqueued_after
    assert [set(query) for query in queries[1:]] == [{"cursor", "limit"}] * 5
    assert error_traces(messages) == []


def test_incremental_read_resumes_from_state_minus_lookback(tmp_path, courier):
    saved = courier.log.enqueued(30)

    code, messages = cli(tmp_path, "read", config(courier), catalog=CATALOG.read_text(), state=messages_state(saved))

    assert code == 0
    assert [request["query"]["enqueued_after"] for request in courier.requests()] == [str(saved - DAY_MS)] * 6
    # Everything newer than the state, plus the day before it (inclusive): messages 0..54.
    assert record_ids(messages) == [courier.log.message_id(i) for i in range(55)]
    assert final_state(messages) == {"enqueued": str(courier.log.enqueued(0))}


def test_incremental_read_with_nothing_new_keeps_the_state(tmp_path, courier):
    newest = courier.log.enqueued(0)

    code, messages = cli(
        tmp_path, "read", config(courier, lookback_days=0), catalog=CATALOG.read_text(), state=messages_state(newest)
    )

    assert code == 0
    assert courier.requests()[0]["query"] == {"enqueued_after": str(newest), "limit": "100"}
    assert record_ids(messages) == [courier.log.message_id(0)]  # inclusive boundary
    assert final_state(messages) == {"enqueued": str(newest)}


def test_start_date_is_sent_and_floors_the_read(tmp_path, courier):
    start = "2025-12-31T12:00:00Z"  # 12 hours before the newest message
    code, messages = cli(tmp_path, "read", config(courier, start_date=start), catalog=CATALOG.read_text())

    assert code == 0
    assert courier.requests()[0]["query"] == {"enqueued_after": str(courier.log.enqueued(12)), "limit": "100"}
    assert record_ids(messages) == [courier.log.message_id(i) for i in range(13)]


def test_incremental_read_after_time_moves_on_returns_new_messages_and_the_lookback_window(tmp_path):
    with run_in_thread(api_key=API_KEY, messages=60, spacing_ms=HOUR_MS, workspace=None) as courier:
        _, first = cli(tmp_path, "read", config(courier), catalog=CATALOG.read_text())
        saved = int(final_state(first)["enqueued"])
        first_status = {record["data"]["id"]: record["data"]["status"] for record in of_type(first, "RECORD")}
        moved = courier.advance(new_messages=5)
        courier.reset()

        code, second = cli(tmp_path, "read", config(courier), catalog=CATALOG.read_text(), state=messages_state(saved))

        assert code == 0
        log = courier.log
        expected = [log.message(i) for i in range(log.count) if log.enqueued(i) >= saved - DAY_MS]
        # The CDK leaves null fields out of a record's data; destinations read them as null.
        emitted = [record["data"] for record in of_type(second, "RECORD")]
        assert emitted == [{key: value for key, value in m.items() if value is not None} for m in expected]
        assert len(expected) == 5 + 25  # 5 new messages, plus the day before the saved state (inclusive)
        changed = [m["id"] for m in expected if m["id"] in first_status and first_status[m["id"]] != m["status"]]
        assert len(changed) == moved["advanced"] > 0  # status changes reach the destination via the lookback
        assert final_state(second) == {"enqueued": str(moved["newest_enqueued"])}
        assert courier.stats()["filters"]["enqueued_after"] == [str(saved - DAY_MS)] * 3  # on every page


@pytest.mark.slow  # about 6 s: the CLI's start-up and check's two waits (1 + 2 s)
def test_check_of_an_unreachable_base_url_fails_within_30_seconds_naming_host_and_cause(tmp_path):
    started = time.monotonic()
    code, messages = cli(tmp_path, "check", cli_runner.config("http://127.0.0.1:1"))
    elapsed = time.monotonic() - started

    assert code == 0 and elapsed < 30
    assert [(status["status"], status["message"]) for status in of_type(messages, "CONNECTION_STATUS")] == [
        (
            "FAILED",
            "Could not connect to 127.0.0.1:1: connection refused (attempt 3 of 3). Check base_url, and that this "
            "machine can reach 127.0.0.1:1.",
        )
    ]
    assert not any("Rate limit" in line for line in logs(messages))


@pytest.mark.slow  # about 3 s: the CLI's start-up
def test_read_of_a_misspelt_stream_ends_in_a_config_error_naming_it_before_any_request(tmp_path, courier):
    catalog = CATALOG.read_text().replace('"name": "messages"', '"name": "mesages"')

    code, messages = cli(tmp_path, "read", config(courier), catalog=catalog)

    assert code == 1 and record_ids(messages) == []
    (error,) = error_traces(messages)
    assert error["failure_type"] == "config_error"
    assert error["message"].startswith(
        "The catalog names no stream of source-courier (it names mesages). Its streams are messages, message_history, "
    )
    assert courier.requests() == []


def test_the_readmes_resume_command_keeps_each_streams_last_state_and_the_read_resumes_from_it(tmp_path, courier):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    block = readme.split("To resume,", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    make_state = block.split("\n.venv/bin/source-courier read", 1)[0].replace(".venv/bin/python", sys.executable)
    saved = courier.log.enqueued(30)
    lines = [
        {
            "type": "STATE",
            "state": {"type": "STREAM", "stream": {"stream_descriptor": {"name": name}, "stream_state": s}},
        }
        for name, s in [("messages", {"enqueued": "1"}), ("lists", {"x": 1}), ("messages", {"enqueued": str(saved)})]
    ]
    (tmp_path / "out.jsonl").write_text("".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines))

    subprocess.run(["bash", "-c", make_state], cwd=tmp_path, check=True)
    state = json.loads((tmp_path / "state.json").read_text())
    code, messages = cli(tmp_path, "read", config(courier), catalog=CATALOG.read_text(), state=state)

    assert state == [lines[2]["state"], lines[1]["state"]]  # each stream's last, in the order first seen
    # The state file errors quote the same command.
    assert " ".join(make_state.replace(sys.executable, "python").split()) in " ".join(STATE_SHAPE.split())
    assert code == 0
    assert {request["query"]["enqueued_after"] for request in courier.requests()} == {str(saved - DAY_MS)}
