"""The connector's two runtimes, side by side against the emulator; each test runs once per runtime.

- `cli`: the installed `source-courier`, i.e. `source_courier/run.py` (glue in `presentation.py`) and `source.py` around the packaged manifest.
- `sdm`: the CDK's `source-declarative-manifest --manifest-path M --components-path C` on the self-managed export
  (`scripts/builder_manifest.py`), with AIRBYTE_ENABLE_UNSAFE_CODE=true, run from a scratch directory.

Both must read the same records, states and requests, fail the same bad configs with the same config_error, and
never print the API key. Where they differ, the packaged CLI's glue makes the difference and the test asserts
each runtime's exact output:

1. `spec`: the CLI prints the connector's spec; `source-declarative-manifest` prints its generic low-code spec.
2. `check` of a config the spec's validations refuse: the CLI prints the config_error as a TRACE and the exact
   message as the FAILED status; the CDK's CheckStream logs "Encountered an error while discovering streams.
   Error: ..." with a traceback and puts that text, quoted by repr(), in the FAILED status.
3. A stream's error trace quoting Courier's error body: the CLI masks the key in it; the CDK does not.
4. Logged response bodies: at `--debug` the CLI replaces providers' `settings` in them, and it removes the body
   the CDK's backoff logs (at INFO) for each retried 2xx; the CDK logs both as sent.
5. A saved state the CDK cannot parse: the CLI fails before reading with a config_error naming the stream, the
   value and the fix; the CDK fails with "Something went wrong in the connector" (system_error).
6. A config, catalog or state file that is not JSON: the CLI prints a config_error ("source-courier could not start:
   ...", or for the state file "The state file ... cannot be read as JSON" with the shape expected);
   `source-declarative-manifest` prints "Error starting the sync. ..." without a failure type, and a traceback on
   stderr.
7. A config breaking the spec: the CLI names the field, what it must be and what it got; the CDK says "Config
   validation error: 31 is greater than the maximum of 30".

`source-declarative-manifest` also refuses to run the components without AIRBYTE_ENABLE_UNSAFE_CODE=true.

The fast tier runs each command once per runtime (spec, check, discover and a first sync of every stream); the
rest (`slow`) resumes that sync, rides out faults with real retry waits, and goes through every bad config and
every difference above.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pkgutil
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from airbyte_cdk.models import ConnectorSpecificationSerializer
from airbyte_cdk.models.airbyte_protocol_serializers import AirbyteCatalogSerializer

from courier_emulator.data import MessageLog
from courier_emulator.faults import FaultPlan
from courier_emulator.server import RunningEmulator, run_in_thread
from courier_emulator.workspace import PROVIDER_SECRET_MARKER, Workspace
from integration_tests import cli_runner
from integration_tests.cli_runner import (
    API_KEY,
    CANARIES,
    CATALOG,
    CLI,
    EMULATOR_REFUSAL,
    OUTPUTS,
    WRONG_KEY,
    cli,
    error_traces,
    key_forms,
    logs,
    messages_state,
    of_type,
    refused_key,
)
from integration_tests.workspace_oracle import EVERY_STREAM, as_emitted, expected_records, message_children, newest
from scripts.builder_manifest import export
from source_courier import SourceCourier
from source_courier.presentation import ProviderSettingsRedactor

RUNTIMES = ("cli", "sdm")
SDM = Path(sys.executable).with_name("source-declarative-manifest")
MESSAGES = 25
NEW_MESSAGES = 5
NO_CURSOR_STATE = {"__ab_no_cursor_state_message": True}  # what the CDK saves for a full-refresh stream
# The key a stand-in Courier echoes in its 403 body; not a canary, since one runtime prints it on purpose.
ECHOED_KEY = "pk_test_ECHOED_runtimes_5c1e9a7b3d2f4e6a8c0b1d3f5a7c9e2b4d6f8a0c"

slow = pytest.mark.slow


# --- the runtimes -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    name: str
    command: tuple[str, ...]
    args: tuple[str, ...]  # after the protocol command
    env: dict[str, str]
    cwd: Path


@dataclass
class Run:
    code: int
    messages: list[dict]
    stdout: str
    stderr: str
    seconds: float

    @property
    def statuses(self) -> list[dict]:
        return of_type(self.messages, "CONNECTION_STATUS")

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(error["failure_type"], error["message"]) for error in error_traces(self.messages)]


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Runtime]:
    manifest, components = export(tmp_path_factory.mktemp("self_managed_export"))
    scratch = tmp_path_factory.mktemp("scratch_cwd")
    env = {name: value for name, value in os.environ.items() if "proxy" not in name.lower()}
    return {
        "cli": Runtime("cli", (str(CLI),), (), env, scratch),
        "sdm": Runtime(
            "sdm",
            (str(SDM),),
            ("--manifest-path", str(manifest), "--components-path", str(components)),
            {**env, "AIRBYTE_ENABLE_UNSAFE_CODE": "true"},
            scratch,
        ),
    }


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest, runtimes: dict[str, Runtime]) -> Runtime:
    return runtimes[request.param]


def run(
    runtime: Runtime,
    tmp_path: Path,
    command: str,
    config: dict[str, Any] | None = None,
    *,
    debug: bool = False,
    env: dict[str, str] | None = None,
    keys: tuple[str, ...] = CANARIES,
    **files: Any,
) -> Run:
    """One command in this runtime; fails if any form of `keys` is in its stdout or stderr."""
    started = time.monotonic()
    code, messages = cli(
        tmp_path,
        command,
        config,
        executable=runtime.command,
        extra_args=(*runtime.args, *(["--debug"] if debug else [])),
        env={**runtime.env, **(env or {})},
        cwd=runtime.cwd,
        **files,
    )
    done = Run(code, messages, OUTPUTS[-2], OUTPUTS[-1], time.monotonic() - started)
    for key in keys:
        assert not [form for form in key_forms(key) if form in done.stdout + done.stderr], f"{runtime.name} printed it"
    return done


# --- shared data -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def courier() -> Iterator[RunningEmulator]:
    """The emulator the tests that do not change its data share: 25 messages and the `small` workspace."""
    with run_in_thread(api_key=API_KEY, messages=MESSAGES, workspace="small") as emulator:
        yield emulator


@pytest.fixture
def fresh(courier: RunningEmulator) -> Iterator[RunningEmulator]:
    courier.reset()
    yield courier
    courier.set_faults([])


@pytest.fixture(scope="module")
def discovered() -> dict[str, Any]:
    """The catalog the packaged connector declares, discovered in this process (no request is needed)."""
    config = {"api_key": API_KEY}
    catalog = SourceCourier(config=config).discover(logging.getLogger("airbyte"), config)
    return json.loads(json.dumps(AirbyteCatalogSerializer.dump(catalog)))


def configured(discovered: dict[str, Any], names: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Every stream (or these), incremental where it can be, else full refresh."""
    streams = []
    for stream in discovered["streams"]:
        if names is not None and stream["name"] not in names:
            continue
        incremental = "incremental" in stream["supported_sync_modes"]
        streams.append(
            {
                "stream": stream,
                "sync_mode": "incremental" if incremental else "full_refresh",
                "destination_sync_mode": "append_dedup" if incremental else "overwrite",
                "primary_key": stream.get("source_defined_primary_key", []),  # journey_run_steps declares none
                **({"cursor_field": stream["default_cursor_field"]} if incremental else {}),
            }
        )
    return {"streams": streams}


def requests_made(courier: RunningEmulator) -> Counter[tuple[str, str]]:
    return Counter(
        (request["path"], urlencode(sorted(request["query"].items()), doseq=True)) for request in courier.requests()
    )


# --- spec, check, discover (fast) ----------------------------------------------------------------------------------


def test_spec_prints_the_connectors_spec_in_the_cli_and_the_generic_low_code_spec_in_sdm(tmp_path, runtime):
    done = run(runtime, tmp_path, "spec")

    assert done.code == 0
    (spec,) = of_type(done.messages, "SPEC")
    if runtime.name == "cli":
        packaged = SourceCourier().spec(logging.getLogger("airbyte"))
        assert spec == json.loads(json.dumps(ConnectorSpecificationSerializer.dump(packaged)))
        assert spec["connectionSpecification"]["required"] == ["api_key"]
    else:
        generic = json.loads(pkgutil.get_data("airbyte_cdk.cli.source_declarative_manifest", "spec.json") or b"")
        loaded = ConnectorSpecificationSerializer.load(generic)  # as the CDK prints it, protocol defaults included
        assert spec == json.loads(json.dumps(ConnectorSpecificationSerializer.dump(loaded)))
        assert spec["connectionSpecification"]["required"] == ["__injected_declarative_manifest"]


def test_discover_declares_the_packaged_catalog_of_31_streams_without_a_request(tmp_path, runtime, fresh, discovered):
    done = run(runtime, tmp_path, "discover", cli_runner.config(fresh.base_url))

    assert done.code == 0
    assert of_type(done.messages, "CATALOG") == [discovered]
    assert sorted(stream["name"] for stream in discovered["streams"]) == sorted(EVERY_STREAM)
    assert len(EVERY_STREAM) == 31
    assert fresh.requests() == []


# The spec's validations, each refusing one field of an otherwise good config, with its exact message.
EMPTY_KEY = "api_key is empty. Copy an API key from Settings > API Keys in Courier and paste it into api_key."
PLAIN_HTTP = (
    "base_url 'http://courier.example.com' would send the API key unencrypted or over an unsupported scheme. Use an "
    "https:// URL such as https://api.courier.com (the default: remove base_url to use it), or http:// only to "
    "127.0.0.1, [::1] or localhost for a local test server."
)
IMPOSSIBLE_DATE = (
    "start_date '2024-02-30' is not a date Courier can filter on. Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ in UTC, e.g. "
    "2024-01-31 or 2024-01-31T00:00:00Z, or remove start_date to read everything Courier still retains."
)
REFUSED_CONFIGS = [
    pytest.param({"api_key": ""}, EMPTY_KEY, id="empty-api-key", marks=slow),
    pytest.param({"base_url": "http://courier.example.com"}, PLAIN_HTTP, id="http-to-a-remote-host", marks=slow),
    pytest.param({"start_date": "2024-02-30"}, IMPOSSIBLE_DATE, id="start-date-2024-02-30"),
]
CHECK_WRAPPER = "Encountered an error while discovering streams. Error: "
REJECTED_KEY = refused_key(EMULATOR_REFUSAL)  # the emulator answers a wrong key as Courier does: 403
FAILED_STREAMS = "During the sync, the following streams did not sync successfully: "


def refused(courier: RunningEmulator, overrides: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The config, and an environment that proxies every request to the emulator: a request to a remote host
    would be recorded there instead of leaving the machine."""
    proxy = {"HTTP_PROXY": courier.base_url, "HTTPS_PROXY": courier.base_url}
    return cli_runner.config(courier.base_url, **overrides), proxy


@pytest.mark.parametrize("overrides, problem", REFUSED_CONFIGS)
def test_check_of_a_refused_config_fails_before_any_request_the_cli_with_the_message_sdm_wrapped(
    tmp_path, runtime, fresh, overrides, problem
):
    config, proxy = refused(fresh, overrides)

    done = run(runtime, tmp_path, "check", config, env=proxy)

    assert done.code == 0
    if runtime.name == "cli":
        assert done.errors == [("config_error", problem)]
        assert done.statuses == [{"status": "FAILED", "message": problem}]
    else:
        assert done.errors == []
        assert done.statuses == [{"status": "FAILED", "message": repr(CHECK_WRAPPER + problem)}]
        assert [
            line.split("Error traceback:")[0] for line in logs(done.messages) if line.startswith(CHECK_WRAPPER)
        ] == [CHECK_WRAPPER + problem]
    assert fresh.requests() == []


@slow
@pytest.mark.parametrize("overrides, problem", REFUSED_CONFIGS)
def test_read_of_a_refused_config_fails_as_a_config_error_before_any_request(
    tmp_path, runtime, fresh, overrides, problem
):
    config, proxy = refused(fresh, overrides)

    done = run(runtime, tmp_path, "read", config, env=proxy, catalog=CATALOG.read_text())

    assert done.code == 1
    assert done.errors == [("config_error", problem)]
    assert of_type(done.messages, "RECORD") == []
    assert fresh.requests() == []


@slow
def test_check_succeeds_with_one_request(tmp_path, runtime, fresh):
    done = run(runtime, tmp_path, "check", cli_runner.config(fresh.base_url))

    assert (done.code, done.statuses, done.errors) == (0, [{"status": "SUCCEEDED"}], [])
    assert [(request["path"], request["query"], request["authorized"]) for request in fresh.requests()] == [
        ("/messages", {"limit": "100"}, True)
    ]


@slow
def test_check_with_a_wrong_key_fails_after_one_request_the_cli_with_the_reason_alone_sdm_wrapped(
    tmp_path, runtime, fresh
):
    done = run(runtime, tmp_path, "check", cli_runner.config(fresh.base_url, api_key=WRONG_KEY))

    assert done.code == 0 and done.errors == []
    if runtime.name == "cli":
        assert done.statuses == [{"status": "FAILED", "message": REJECTED_KEY}]
    else:
        wrapped = repr(f"Stream messages is not available: {REJECTED_KEY}")
        assert done.statuses == [{"status": "FAILED", "message": wrapped}]
    assert [(request["path"], request["authorized"]) for request in fresh.requests()] == [("/messages", False)]


@slow
def test_read_with_a_wrong_key_fails_as_a_config_error_after_one_request_ending_the_cli_with_the_streams_message(
    tmp_path, runtime, fresh
):
    done = run(
        runtime, tmp_path, "read", cli_runner.config(fresh.base_url, api_key=WRONG_KEY), catalog=CATALOG.read_text()
    )

    assert done.code == 1
    ((stream_type, stream_message), (summary_type, summary)) = done.errors
    assert (stream_type, stream_message, summary_type) == ("config_error", REJECTED_KEY, "config_error")
    last = error_traces(done.messages)[-1]
    if runtime.name == "cli":  # the stream's message; the CDK's summary stays the internal message
        assert summary == REJECTED_KEY
        assert last["internal_message"].startswith(f"{FAILED_STREAMS}messages: ")
    else:
        assert summary.startswith(f"{FAILED_STREAMS}messages: ")
    assert of_type(done.messages, "RECORD") == []
    assert [(request["path"], request["authorized"]) for request in fresh.requests()] == [("/messages", False)]


# --- a first sync and a resumed one, of every stream ------------------------------------------------------------


@dataclass
class Sync:
    run: Run
    records: dict[str, list[dict[str, Any]]]
    states: dict[str, dict[str, Any]]  # the last state of each stream
    requests: Counter[tuple[str, str]]


@dataclass
class Syncs:
    courier: RunningEmulator
    first: Sync
    resumed: Sync | None = None
    moved: dict[str, Any] = field(default_factory=dict)


def sync(runtime: Runtime, tmp_path: Path, courier: RunningEmulator, catalog: dict, state: list | None) -> Sync:
    courier.reset_requests()
    files: dict[str, Any] = {"catalog": catalog} | ({"state": state} if state is not None else {})
    done = run(runtime, tmp_path, "read", cli_runner.config(courier.base_url, lookback_days=0), **files)
    assert (done.code, done.errors) == (0, [])
    records: dict[str, list[dict[str, Any]]] = {name: [] for name in EVERY_STREAM}
    for record in of_type(done.messages, "RECORD"):
        records[record["stream"]].append(record["data"])
    states = {
        state["stream"]["stream_descriptor"]["name"]: state["stream"] for state in of_type(done.messages, "STATE")
    }
    return Sync(done, records, {name: state["stream_state"] for name, state in states.items()}, requests_made(courier))


@pytest.fixture(scope="module")
def syncs(runtimes, discovered, tmp_path_factory) -> Iterator[Any]:
    """`syncs(runtime, resumed=False)`: that runtime's first sync of every stream from its own emulator (25
    messages, the `small` workspace), and with `resumed` the sync from its states after 5 new messages arrived and
    statuses moved. Each is run once per module, so the comparison of the runtimes reuses them."""
    done: dict[str, Syncs] = {}
    started: list[RunningEmulator] = []
    catalog = configured(discovered)

    def get(name: str, resumed: bool = False) -> Syncs:
        tmp_path = tmp_path_factory.mktemp(f"sync_{name}", numbered=True)
        if name not in done:
            started.append(run_in_thread(api_key=API_KEY, messages=MESSAGES, workspace=Workspace("small")))
            done[name] = Syncs(started[-1], sync(runtimes[name], tmp_path, started[-1], catalog, None))
        chain = done[name]
        if resumed and chain.resumed is None:
            chain.moved = chain.courier.advance(new_messages=NEW_MESSAGES, advance_statuses=True)
            saved = [
                {"type": "STREAM", "stream": {"stream_descriptor": {"name": stream}, "stream_state": state}}
                for stream, state in chain.first.states.items()
            ]
            chain.resumed = sync(runtimes[name], tmp_path, chain.courier, catalog, saved)
        return chain

    yield get
    for emulator in started:
        emulator.stop()


def as_sorted(records: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(record, sort_keys=True) for record in records)


def without_lookback_window(one: Sync) -> dict[str, dict[str, Any]]:
    """The states with the message children's `lookback_window` checked and left out: the CDK saves how many
    seconds (rounded up) the stream's sync took, which only the run's own duration bounds."""
    states = json.loads(json.dumps(one.states))
    for name in ("message_history", "message_content"):
        window = states[name].pop("lookback_window")
        assert isinstance(window, int) and 1 <= window <= math.ceil(one.run.seconds), (name, window)
    return states


IMMUTABLE_CURSORS = {"automation_runs": "created_at", "journey_runs": "created_at", "preference_logs": "timestamp"}


def expected_states(log: MessageLog, workspace: Workspace) -> dict[str, dict[str, Any]]:
    """Each stream's final state (without the children's `lookback_window`) after a sync of the log's messages."""
    enqueued = {"enqueued": str(log.enqueued(0))}
    child = {"use_global_cursor": True, "state": enqueued, "parent_state": {"messages": enqueued}}
    return {
        **{name: NO_CURSOR_STATE for name in EVERY_STREAM},
        "messages": enqueued,
        "message_history": child,
        "message_content": child,
        "automation_runs": {"created_at": newest(workspace, "/automations/runs", "runs", "created_at")},
        "journey_runs": {"created_at": newest(workspace, "/journeys/runs", "runs", "created_at")},
        "preference_logs": {"timestamp": newest(workspace, "/preferences/logs", "items", "timestamp")},
    }


def test_first_sync_emits_every_streams_records_exactly_and_saves_each_streams_newest_cursor(runtime, syncs):
    first = syncs(runtime.name).first
    workspace, log = Workspace("small"), MessageLog(MESSAGES)
    expected = expected_records(workspace, log)

    assert {name: as_sorted(first.records[name]) for name in EVERY_STREAM} == {
        name: as_sorted(expected[name]) for name in EVERY_STREAM
    }
    assert [record["id"] for record in first.records["messages"]] == list(log.ids())  # newest first
    assert all(first.records[name] for name in EVERY_STREAM)
    assert without_lookback_window(first) == expected_states(log, workspace)


def test_first_sync_is_the_same_in_both_runtimes_record_for_record_state_for_state_request_for_request(syncs):
    cli_first, sdm_first = syncs("cli").first, syncs("sdm").first

    # Records of concurrent partitions interleave in any order; each stream's own are compared as sets.
    assert {name: as_sorted(records) for name, records in cli_first.records.items()} == {
        name: as_sorted(records) for name, records in sdm_first.records.items()
    }
    assert cli_first.records["messages"] == sdm_first.records["messages"]
    assert without_lookback_window(cli_first) == without_lookback_window(sdm_first)
    assert cli_first.requests == sdm_first.requests
    # A parent's pages are read again by each stream that reads it: /messages by messages and its two children.
    assert cli_first.requests[("/messages", "limit=100")] == 3


@slow
def test_resumed_sync_reads_the_new_messages_and_the_saved_cursors_records_again_and_moves_the_message_states(
    runtime, syncs
):
    chain = syncs(runtime.name, resumed=True)
    saved, resumed = chain.first.states, chain.resumed
    assert resumed is not None
    workspace, log = Workspace("small"), MessageLog(MESSAGES)
    everything = expected_records(workspace, log)
    assert chain.moved == log.advance(NEW_MESSAGES, True)  # the same time step, taken by the oracle
    assert chain.moved["count"] == MESSAGES + NEW_MESSAGES and chain.moved["advanced"] > 0
    reread = range(NEW_MESSAGES + 1)  # lookback_days 0: the new messages and the newest old one (inclusive)
    expected = {
        **everything,  # full refresh: the workspace did not change
        "messages": [as_emitted(log.message(i)) for i in reread],
        **message_children(log, reread),
        # Runs and preference changes never change: only those at the saved cursor come again (inclusive).
        **{
            name: [record for record in everything[name] if record[cursor] == saved[name][cursor]]
            for name, cursor in IMMUTABLE_CURSORS.items()
        },
    }
    assert [len(expected[name]) for name in IMMUTABLE_CURSORS] == [1, 1, 1]

    assert {name: as_sorted(resumed.records[name]) for name in EVERY_STREAM} == {
        name: as_sorted(expected[name]) for name in EVERY_STREAM
    }
    assert [record["id"] for record in resumed.records["messages"]] == [log.message_id(i) for i in reread]
    assert without_lookback_window(resumed) == expected_states(log, workspace)
    # Every /messages request starts at the saved cursor; only the re-read messages' history is requested.
    assert {url: n for url, n in resumed.requests.items() if url[0] == "/messages"} == {
        ("/messages", urlencode({"enqueued_after": saved["messages"]["enqueued"], "limit": "100"})): 3
    }
    assert sorted(path for path, _ in resumed.requests if path.endswith("/history")) == sorted(
        f"/messages/{log.message_id(i)}/history" for i in reread
    )


@slow
def test_resumed_sync_is_the_same_in_both_runtimes_record_for_record_state_for_state_request_for_request(syncs):
    cli_resumed, sdm_resumed = syncs("cli", resumed=True).resumed, syncs("sdm", resumed=True).resumed
    assert cli_resumed is not None and sdm_resumed is not None

    assert {name: as_sorted(records) for name, records in cli_resumed.records.items()} == {
        name: as_sorted(records) for name, records in sdm_resumed.records.items()
    }
    assert cli_resumed.records["messages"] == sdm_resumed.records["messages"]
    assert without_lookback_window(cli_resumed) == without_lookback_window(sdm_resumed)
    assert cli_resumed.requests == sdm_resumed.requests


# --- faults (slow: real retry waits) -----------------------------------------------------------------------------

# Every /messages request is answered once with a 429 (Retry-After: 1) or a 500, in proportions the seed draws,
# then normally (max_in_a_row 1).
FAULTS = [
    {"kind": "429-seconds", "rate": 0.5, "path_prefix": "/messages"},
    {"kind": "500", "rate": 0.5, "path_prefix": "/messages"},
]
LOG = MessageLog(MESSAGES)
# The three pages of the 25 messages, as the emulator sees them (path and raw query).
PAGE_URLS = [
    "/messages?limit=100",
    *(f"/messages?{urlencode({'limit': '100', 'cursor': LOG.cursor_for(i)})}" for i in (9, 19)),
]
WAIT_LOGS = {  # what the CDK logs for each retried fault: a 429 waits Retry-After + 1 s, a 500 its backoff, 1 s
    "429-seconds": "UserDefinedBackoffException: Rate limit exceeded (HTTP 429). Retrying in 2.0 seconds.",
    "500": "after 1 tries. Waiting 1 seconds then retrying...",
}


def faults_served(seed: int) -> list[str]:
    """The faults the plan serves, in order, to a client that requests each page until it is served normally."""
    plan = FaultPlan(FAULTS, max_in_a_row=1, seed=seed)
    served = []
    for url in PAGE_URLS:
        while (kind := plan.decide(url, "/messages", lambda kind: True)) is not None:
            served.append(kind)
    return served


SEED = next(seed for seed in range(1000) if set(faults_served(seed)) == {"429-seconds", "500"})


@pytest.fixture(scope="module")
def faulty() -> Iterator[RunningEmulator]:
    with run_in_thread(api_key=API_KEY, messages=MESSAGES, workspace=None) as emulator:
        yield emulator


@slow
def test_a_429_with_retry_after_and_a_500_on_messages_each_cost_one_request_and_lose_no_record(
    tmp_path, runtime, faulty
):
    faulty.reset()
    faulty.set_faults(FAULTS, max_in_a_row=1, retry_after=1, seed=SEED)
    served = faults_served(SEED)

    done = run(runtime, tmp_path, "read", cli_runner.config(faulty.base_url), catalog=CATALOG.read_text())

    assert (done.code, done.errors) == (0, [])
    assert [record["data"]["id"] for record in of_type(done.messages, "RECORD")] == list(LOG.ids())
    assert cli_runner.final_state(done.messages) == {"enqueued": str(LOG.enqueued(0))}
    assert len(served) == 3 and set(served) == {"429-seconds", "500"}
    assert faulty.stats()["faults"] == dict(Counter(served))
    assert faulty.stats()["requests"] == {"GET /messages": 6}  # each page twice: faulted, then served
    requested = [
        request["path"] + (f"?{urlencode(request['query'])}" if request["query"] else "")
        for request in faulty.requests()
    ]
    assert requested == [url for url in PAGE_URLS for _ in range(2)]
    waits = [line for line in logs(done.messages) if "Retrying in" in line or "then retrying" in line]
    assert [next(kind for kind, text in WAIT_LOGS.items() if text in line) for line in waits] == served
    faulty.set_faults([])


@slow
def test_a_retried_200_without_the_envelope_is_logged_without_its_body_by_the_cli_and_with_it_by_sdm(
    tmp_path, runtime, faulty
):
    faulty.reset()
    faulty.set_faults(["no-envelope"], max_in_a_row=1)

    done = run(runtime, tmp_path, "read", cli_runner.config(faulty.base_url), catalog=CATALOG.read_text())

    faulty.set_faults([])
    assert (done.code, done.errors) == (0, [])
    assert [record["data"]["id"] for record in of_type(done.messages, "RECORD")] == list(LOG.ids())
    assert faulty.stats()["faults"] == {"no-envelope": 3} and faulty.stats()["requests"] == {"GET /messages": 6}
    # The CDK's backoff logs the body of each retried 2xx; each page's was its paging object alone.
    logged = [line for line in logs(done.messages) if line.startswith("Status code: ")]
    if runtime.name == "cli":
        assert logged == [f"Status code: 200, Response Content: {ProviderSettingsRedactor.REDACTED}"] * 3
    else:
        pagings = [{"cursor": LOG.cursor_for(9), "more": True}, {"cursor": LOG.cursor_for(19), "more": True}]
        bodies = [orjson.dumps({"paging": paging}) for paging in [*pagings, {"cursor": None, "more": False}]]
        assert logged == [f"Status code: 200, Response Content: {body!r}" for body in bodies]


# --- the differences of presentation (slow) ------------------------------------------------------------------------


def provider_pages(workspace: Workspace) -> list[dict[str, Any]]:
    """The /providers pages as the emulator sends them, settings included."""
    pages, query = [], {}
    while True:
        _, body = workspace.handle("/providers", query)
        pages.append(body)
        if not body["paging"]["more"]:
            return pages
        query = {"cursor": [body["paging"]["cursor"]]}


def with_settings_redacted(page: dict[str, Any]) -> dict[str, Any]:
    results = [{**p, "settings": ProviderSettingsRedactor.REDACTED} if "settings" in p else p for p in page["results"]]
    return {**page, "results": results}


def debug_lines(done: Run, message: str) -> list[dict[str, Any]]:
    return [line["data"] for line in done.messages if line["type"] == "DEBUG" and line["message"] == message]


@slow
def test_debug_read_masks_the_key_in_every_logged_request_and_only_the_cli_removes_provider_settings(
    tmp_path, runtime, fresh, discovered
):
    raw_pages = provider_pages(Workspace("small"))
    assert len(raw_pages) == 2 and all(PROVIDER_SECRET_MARKER in json.dumps(page) for page in raw_pages)

    done = run(
        runtime,
        tmp_path,
        "read",
        cli_runner.config(fresh.base_url),
        debug=True,
        catalog=configured(discovered, ("messages", "providers")),
    )

    assert (done.code, done.errors) == (0, [])
    expected = expected_records(Workspace("small"), MessageLog(MESSAGES))
    records = [record for record in of_type(done.messages, "RECORD") if record["stream"] == "providers"]
    assert as_sorted([record["data"] for record in records]) == as_sorted(expected["providers"])  # no settings
    outbound = debug_lines(done, "Making outbound API request")
    assert len(outbound) == len(fresh.requests()) == 3 + len(raw_pages)
    assert all("'Authorization': 'Bearer ****'" in request["headers"] for request in outbound)
    bodies = [json.loads(response["body"]) for response in debug_lines(done, "Receiving response")]
    logged_provider_pages = [body for body in bodies if "results" in body and body["results"][0].get("provider")]
    marked = [line for line in done.stdout.splitlines() if PROVIDER_SECRET_MARKER in line]
    if runtime.name == "cli":
        assert as_sorted(logged_provider_pages) == as_sorted([with_settings_redacted(page) for page in raw_pages])
        assert marked == [] and PROVIDER_SECRET_MARKER not in done.stderr
    else:
        assert as_sorted(logged_provider_pages) == as_sorted(raw_pages)
        assert len(marked) == len(raw_pages)
        assert all(json.loads(line)["message"] == "Receiving response" for line in marked)


class EchoingForbidden:
    """The `small` workspace, except that /brands answers 403 with a message quoting the key it was sent."""

    def __init__(self) -> None:
        self.workspace = Workspace("small")

    def handle(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any] | None:
        if path == "/brands":
            return 403, {"message": f"the key {ECHOED_KEY} may not read brands", "type": "authorization_error"}
        return self.workspace.handle(path, query)


@slow
def test_a_stream_error_quoting_the_key_is_masked_by_the_cli_and_printed_by_sdm(tmp_path, runtime, discovered):
    with run_in_thread(api_key=ECHOED_KEY, messages=1, workspace=EchoingForbidden()) as courier:
        config = cli_runner.config(courier.base_url, api_key=f" {ECHOED_KEY}\n")
        leaks = runtime.name == "sdm"

        done = run(
            runtime,
            tmp_path,
            "read",
            config,
            keys=CANARIES if leaks else (*CANARIES, ECHOED_KEY),
            catalog=configured(discovered, ("brands",)),
        )

    refusal = refused_key(f"the key {ECHOED_KEY if leaks else '****'} may not read brands")
    assert done.code == 1 and of_type(done.messages, "RECORD") == []
    (stream_error, summary) = error_traces(done.messages)
    assert (stream_error["failure_type"], stream_error["message"]) == ("config_error", refusal)
    if leaks:
        assert summary["message"].startswith(f"{FAILED_STREAMS}brands: ")
    else:  # the stream's message, masked; the CDK's summary stays the internal message
        assert summary["message"] == refusal
        assert summary["internal_message"].startswith(f"{FAILED_STREAMS}brands: ")
    assert ECHOED_KEY not in summary["message"] and ECHOED_KEY not in done.stderr
    printed = [line for line in done.stdout.splitlines() if ECHOED_KEY in line]
    if leaks:  # in the stream's error trace only: its message and the error message in its internal message
        assert [json.loads(line)["trace"]["error"] for line in printed] == [stream_error]
        assert f"error message: 'the key {ECHOED_KEY} may not read brands'" in stream_error["internal_message"]
        assert "Response (body): '{'message': 'the key **** may not read brands'" in stream_error["internal_message"]
    else:
        assert printed == []


UNREADABLE = "yesterday"


@slow
def test_an_unreadable_saved_state_fails_before_any_request_the_cli_naming_the_fix_sdm_as_a_system_error(
    tmp_path, runtime, fresh
):
    state = messages_state(0)
    state[0]["stream"]["stream_state"] = {"enqueued": UNREADABLE}

    done = run(runtime, tmp_path, "read", cli_runner.config(fresh.base_url), catalog=CATALOG.read_text(), state=state)

    assert done.code == 1 and of_type(done.messages, "RECORD") == []
    (error,) = error_traces(done.messages)
    if runtime.name == "cli":
        problem = (
            f"the saved state of stream messages cannot be used: enqueued '{UNREADABLE}' is not a time in epoch "
            "milliseconds. Clear the stream's data in Airbyte (a reset) to read it again from start_date, or "
            "correct the state file."
        )
        assert (error["failure_type"], error["message"]) == (
            "config_error",
            f"source-courier could not start: {problem}",
        )
        assert error["internal_message"] == problem
    else:
        assert (error["failure_type"], error["message"]) == (
            "system_error",
            "Something went wrong in the connector. See the logs for more details.",
        )
        assert error["internal_message"] == f"No format in ['%ms', '%ms'] matching {UNREADABLE}"
    assert fresh.requests() == []


@slow
def test_a_state_file_that_is_not_json_fails_before_any_request_the_cli_as_a_config_error_sdm_with_a_traceback(
    tmp_path, runtime, fresh
):
    done = run(runtime, tmp_path, "read", cli_runner.config(fresh.base_url), catalog=CATALOG.read_text(), state="{")

    assert done.code == 1 and of_type(done.messages, "RECORD") == []
    (error,) = error_traces(done.messages)
    problem = (
        f"Could not read json file {tmp_path / 'state.json'}: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1). Please ensure that it is a valid JSON."
    )
    if runtime.name == "cli":
        assert error["failure_type"] == "config_error"
        assert error["message"].startswith(
            f"The state file {tmp_path / 'state.json'} cannot be read as JSON (Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)). Expected a JSON list of the `state` of STATE messages"
        )
        assert done.stderr == ""
    else:  # no failure type, and the traceback on stderr too
        assert "failure_type" not in error
        assert error["message"] == (
            "Error starting the sync. This could be due to an invalid configuration or catalog. Please contact Support "
            f"for assistance. Error: {problem}"
        )
        assert done.stderr.startswith("Traceback (most recent call last):") and done.stderr.endswith(f"{problem}\n")
    assert fresh.requests() == []


@slow
def test_a_config_breaking_the_spec_fails_before_any_request_the_cli_naming_the_field_sdm_quoting_jsonschema(
    tmp_path, runtime, fresh
):
    done = run(runtime, tmp_path, "check", cli_runner.config(fresh.base_url, lookback_days=31))

    assert done.code == 0 and done.errors == []
    message = (
        "lookback_days must be a whole number from 0 to 30 (got 31)."
        if runtime.name == "cli"
        else "Config validation error: 31 is greater than the maximum of 30"
    )
    assert done.statuses == [{"status": "FAILED", "message": message}]
    assert fresh.requests() == []


@slow
def test_sdm_without_unsafe_code_allowed_refuses_the_components_before_any_request(tmp_path, runtimes, fresh):
    sdm = runtimes["sdm"]
    without = Runtime(sdm.name, sdm.command, sdm.args, {**sdm.env, "AIRBYTE_ENABLE_UNSAFE_CODE": "false"}, sdm.cwd)

    done = run(without, tmp_path, "check", cli_runner.config(fresh.base_url))

    assert done.code == 1 and done.statuses == []
    ((failure_type, message),) = [
        (error.get("failure_type"), error["message"]) for error in error_traces(done.messages)
    ]
    assert failure_type is None
    assert message.startswith(
        "Error starting the sync. This could be due to an invalid configuration or catalog. Please contact Support for "
        "assistance. Error: Custom connector code is not permitted in this environment."
    )
    assert fresh.requests() == []
