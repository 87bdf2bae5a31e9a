"""Both Connector Builder exports (`make builder-manifest`) through the Connector Builder's own backend.

The Builder UI runs neither the packaged CLI nor `source-declarative-manifest`: its server runs
`python -m airbyte_cdk.connector_builder.main read --config C --catalog K`, C holding the testing values plus
`__command` and the manifest (and, for custom code, the components text with its md5), K one stream. The CDK
then forces a concurrency of 1, marks the manifest untrusted and answers with one RECORD: the records of each
slice and page, and the logs. Here every stream of both exports goes through `handle_request`, the function
that module runs, in-process: the self-managed export with its components and AIRBYTE_ENABLE_UNSAFE_CODE=true,
the Cloud export with nothing enabled, each against the same emulator workspace the packaged CLI reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from airbyte_cdk.connector_builder.main import handle_request
from airbyte_cdk.sources.declarative.parsers.custom_code_compiler import AirbyteCustomCodeNotPermittedError

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, cli, discovered_catalog, error_traces, of_type
from integration_tests.test_builder_manifest import Exports, built_exports, marked
from scripts.builder_manifest import PACKAGE, cloud_manifest, custom_components, stream_definitions

ROOT = Path(__file__).resolve().parent.parent
UNSAFE = "AIRBYTE_ENABLE_UNSAFE_CODE"
COMPONENT_MODULES = ("source_declarative_manifest.components", "components")  # where the CDK registers them
BUILDER_MAIN = (sys.executable, "-m", "airbyte_cdk.connector_builder.main")
# The small workspace in full: the Builder's defaults (100 records, 5 slices, 5 pages a slice) would cut it.
EVERYTHING = {"max_records": 100_000, "max_slices": 10_000, "max_pages_per_slice": 10_000}
STREAMS = tuple(stream_definitions(yaml.safe_load((PACKAGE / "manifest.yaml").read_text())))
# Marked `cloud_export: first_page_only` in the manifest: the Cloud export reads each partition's first page only.
FIRST_PAGE_ONLY_IN_CLOUD = ("journey_versions",)
KINDS = ("self-managed", "cloud")


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    return built_exports(tmp_path_factory)


@pytest.fixture(scope="module")
def courier() -> Iterator[RunningEmulator]:
    """One emulator for the module; no test here changes its data."""
    with run_in_thread(api_key=API_KEY, messages=25, workspace="small") as emulator:
        yield emulator


@dataclass(frozen=True)
class Packaged:
    config: dict[str, Any]
    catalog: dict[str, Any]  # every stream, incremental where it can be
    records: dict[str, list[dict[str, Any]]]  # by stream, as the packaged CLI reads them


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory, courier: RunningEmulator) -> Packaged:
    tmp_path = tmp_path_factory.mktemp("packaged")
    config = cli_runner.config(courier.base_url)
    catalog = discovered_catalog(tmp_path, config)
    code, messages = cli(tmp_path, "read", config, catalog=catalog)
    assert code == 0 and error_traces(messages) == []
    records: dict[str, list[dict[str, Any]]] = {stream: [] for stream in STREAMS}
    for record in of_type(messages, "RECORD"):
        records[record["stream"]].append(record["data"])
    assert all(records.values())  # every stream has records to compare
    return Packaged(config, catalog, records)


def one_stream(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    return {"streams": [entry for entry in catalog["streams"] if entry["stream"]["name"] == stream]}


def builder_config(
    exports: Exports,
    kind: str,
    config: dict[str, Any],
    command: str = "test_read",
    components: bool = True,
    manifest: dict[str, Any] | None = None,
    limits: dict[str, int] = EVERYTHING,
) -> dict[str, Any]:
    """The config the Builder server writes: testing values, the command, the manifest (and components)."""
    injected = {
        **config,
        "__command": command,
        "__injected_declarative_manifest": exports.parsed(kind) if manifest is None else manifest,
        "__test_read_config": limits,
    }
    if kind == "self-managed" and components:
        text = exports.components.read_text()
        injected["__injected_components_py"] = text
        injected["__injected_components_py_checksums"] = {"md5": hashlib.md5(text.encode()).hexdigest()}
    return injected


def builder_request(tmp_path: Path, config: dict[str, Any], catalog: dict[str, Any]) -> dict[str, Any]:
    """`handle_request` in-process, on files as the Builder server writes them; the one message it answers."""
    config_path, catalog_path = tmp_path / "builder_config.json", tmp_path / "builder_catalog.json"
    config_path.write_text(json.dumps(config))
    catalog_path.write_text(json.dumps(catalog))
    return json.loads(handle_request(["read", "--config", str(config_path), "--catalog", str(catalog_path)]))


@pytest.fixture
def platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The kind of platform: self-managed allows custom code, Cloud does not (the variable is not set at all).
    No components module is left registered from an earlier test, nor kept after this one."""
    kind: str = request.param
    for name in COMPONENT_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    if kind == "self-managed":
        monkeypatch.setenv(UNSAFE, "true")
    else:
        monkeypatch.delenv(UNSAFE, raising=False)
        assert UNSAFE not in os.environ
    return kind


def records_of(answer: dict[str, Any]) -> list[dict[str, Any]]:
    assert answer["type"] == "RECORD", answer
    read = answer["record"]["data"]
    return [record for part in read["slices"] for page in part["pages"] for record in page["records"]]


def ids(records: list[dict[str, Any]], catalog_entry: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Each record's primary key values, sorted (the packaged CLI reads partitions in parallel)."""
    keys = catalog_entry.get("primary_key") or []
    return sorted(tuple(json.dumps(record.get(key[0])) for key in keys) for record in records)


def as_printed(record: dict[str, Any]) -> str:
    """A record as the CLI prints it (top-level nulls left out), as sorted JSON."""
    return json.dumps({key: value for key, value in record.items() if value is not None}, sort_keys=True)


@pytest.mark.parametrize("platform", KINDS, indirect=True)
@pytest.mark.parametrize("stream", STREAMS)
def test_builder_test_read_returns_every_record_the_packaged_connector_reads(
    tmp_path, exports, courier, packaged, platform, stream
):
    """A Builder test read of the stream: every record (same primary keys, same data), within the limits, and no
    ERROR log; the Cloud export with no custom code anywhere and nothing that would allow it."""
    catalog = one_stream(packaged.catalog, stream)
    if platform == "cloud":
        assert UNSAFE not in os.environ and not any(name in sys.modules for name in COMPONENT_MODULES)
        assert custom_components(exports.parsed("cloud")) == []

    answer = builder_request(tmp_path, builder_config(exports, platform, packaged.config), catalog)

    records = records_of(answer)
    read = answer["record"]["data"]
    assert answer["record"]["stream"] == stream and read["test_read_limit_reached"] is False
    if platform == "cloud" and stream in FIRST_PAGE_ONLY_IN_CLOUD:  # one page a partition: fewer records, no other
        assert {len(part["pages"]) for part in read["slices"]} == {1}
        assert set(map(as_printed, records)) < set(map(as_printed, packaged.records[stream]))
    else:
        assert ids(records, catalog["streams"][0]) == ids(packaged.records[stream], catalog["streams"][0])
        assert sorted(map(as_printed, records)) == sorted(map(as_printed, packaged.records[stream]))
    assert [log for log in read["logs"] if log["level"] in ("ERROR", "FATAL")] == []


@pytest.mark.parametrize("platform", KINDS, indirect=True)
def test_builder_resolves_each_export_to_every_stream_with_no_ref_left(tmp_path, exports, packaged, platform):
    config = builder_config(exports, platform, packaged.config, command="resolve_manifest")

    answer = builder_request(tmp_path, config, one_stream(packaged.catalog, "messages"))

    assert answer["type"] == "RECORD" and answer["record"]["stream"] == "resolve_manifest", answer
    resolved = answer["record"]["data"]["manifest"]
    assert [stream["name"] for stream in resolved["streams"]] == list(STREAMS)
    assert "$ref" not in json.dumps(resolved)
    assert all(stream["schema_loader"]["type"] == "InlineSchemaLoader" for stream in resolved["streams"])
    assert (custom_components(resolved) == []) == (platform == "cloud")


@pytest.mark.parametrize("components", [True, False], ids=["with-components", "manifest-only"])
def test_builder_refuses_the_self_managed_export_where_custom_code_is_not_allowed(
    tmp_path, monkeypatch, exports, courier, packaged, components
):
    """Airbyte Cloud: the export with custom components is refused before any request, whether the components
    text is pasted or the manifest is imported alone."""
    monkeypatch.delenv(UNSAFE, raising=False)
    for name in COMPONENT_MODULES:
        monkeypatch.delitem(sys.modules, name, raising=False)
    config = builder_config(exports, "self-managed", packaged.config, components=components)
    courier.reset_requests()

    with pytest.raises(AirbyteCustomCodeNotPermittedError, match="Custom connector code is not permitted"):
        builder_request(tmp_path, config, one_stream(packaged.catalog, "messages"))

    assert courier.requests() == []


@pytest.mark.parametrize("kind", KINDS)
def test_builder_main_answers_one_record_in_a_subprocess(tmp_path, exports, packaged, kind):
    """The command the Builder server runs, as a process: one stream, one RECORD answer on stdout.

    The answer shows each request the way the Builder displays it, headers included, so the testing values' API
    key is in it, in each page's `Authorization` header and nowhere else. That is why this run does not go
    through `cli()`, whose outputs the session scans for leaked keys."""
    stream = "tenant_users"  # a child stream, paged with `limit` (style B), one partition per tenant
    env = {key: value for key, value in os.environ.items() if key != UNSAFE}
    if kind == "self-managed":
        env[UNSAFE] = "true"
    catalog = one_stream(packaged.catalog, stream)
    (tmp_path / "config.json").write_text(json.dumps(builder_config(exports, kind, packaged.config)))
    (tmp_path / "catalog.json").write_text(json.dumps(catalog))
    args = ["read", "--config", str(tmp_path / "config.json"), "--catalog", str(tmp_path / "catalog.json")]

    done = subprocess.run([*BUILDER_MAIN, *args], capture_output=True, text=True, timeout=300, env=env)

    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    assert {message["type"] for message in messages} <= {"RECORD", "LOG"}
    (answer,) = [message for message in messages if message["type"] == "RECORD"]
    records = records_of(answer)
    assert ids(records, catalog["streams"][0]) == ids(packaged.records[stream], catalog["streams"][0])
    assert sorted(map(as_printed, records)) == sorted(map(as_printed, packaged.records[stream]))
    places = list(holding_the_key(answer, ()))
    assert len(places) == done.stdout.count(API_KEY) > 3 and API_KEY not in done.stderr
    assert all(place[-3:] == ("request", "headers", "Authorization") for place in places), places


def holding_the_key(node: Any, path: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """Where in the answer the API key is (each page's and each parent request's `Authorization` header)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from holding_the_key(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from holding_the_key(value, (*path, index))
    elif isinstance(node, str) and API_KEY in node:
        assert node == f"Bearer {API_KEY}", path
        yield path


@pytest.mark.parametrize("platform", ["cloud"], indirect=True)
def test_builder_reads_one_page_of_a_stream_marked_first_page_only_in_the_cloud_export(
    tmp_path, exports, packaged, platform
):
    """`cloud_export: first_page_only` (see scripts/builder_manifest.py): the messages stream, marked for the
    test, reads its first page (10 of 25 messages) in the Cloud export."""
    manifest = json.loads(json.dumps(cloud_manifest(marked("messages"))))
    config = builder_config(exports, platform, packaged.config, manifest=manifest)

    answer = builder_request(tmp_path, config, one_stream(packaged.catalog, "messages"))

    read = answer["record"]["data"]
    assert [len(page["records"]) for part in read["slices"] for page in part["pages"]] == [10]
    assert [record["id"] for record in records_of(answer)] == [record["id"] for record in packaged.records["messages"]][
        :10
    ]
    assert read["test_read_limit_reached"] is False


@pytest.mark.parametrize("platform", KINDS, indirect=True)
def test_builder_differs_on_a_repeated_cursor(tmp_path, exports, courier_emulator_factory, platform):
    """Courier handing back the cursor that asked for the page: the self-managed export fails the stream with
    the guard's message; the Cloud export pages on, here until the Builder's page limit."""
    emulator = courier_emulator_factory(workspace="small", messages=25)
    emulator.set_faults([{"kind": "repeat-cursor", "rate": 1.0, "path_prefix": "/brands"}], max_in_a_row=10**9)
    config = {"api_key": emulator.api_key, "base_url": emulator.base_url}
    catalog = {
        "streams": [
            {
                "stream": {"name": "brands", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
                "sync_mode": "full_refresh",
                "destination_sync_mode": "overwrite",
            }
        ]
    }
    limits = {**EVERYTHING, "max_pages_per_slice": 8}

    answer = builder_request(tmp_path, builder_config(exports, platform, config, limits=limits), catalog)

    read = answer["record"]["data"]
    pages = [page for part in read["slices"] for page in part["pages"]]
    errors = [log["message"] for log in read["logs"] if log["level"] == "ERROR"]
    if platform == "self-managed":
        assert len(pages) == 2 and read["test_read_limit_reached"] is False
        assert any("Courier returned a page cursor it had already returned" in error for error in errors), read["logs"]
    else:
        assert len(pages) == 8 and read["test_read_limit_reached"] is True and errors == []


@pytest.mark.parametrize("platform", KINDS, indirect=True)
def test_builder_refuses_a_testing_value_each_export_refuses_before_any_request(
    tmp_path, exports, courier, packaged, platform
):
    """What the Builder shows for testing values the connector refuses. Self-managed: the read fails with the
    connector's message (the field and the fix) at the end of the CDK's "Error reading stream with config=...".
    Cloud: a value the spec pattern refuses ends the read with no page and an ERROR log quoting the value and
    the pattern; a start_date the pattern lets through but that does not exist fails the read naming neither."""
    catalog = one_stream(packaged.catalog, "brands")
    courier.reset_requests()

    bad_url = builder_request(
        tmp_path, builder_config(exports, platform, cli_runner.config("ftp://127.0.0.1:9")), catalog
    )
    config = cli_runner.config(courier.base_url, start_date="2024-02-30")
    bad_date = builder_request(tmp_path, builder_config(exports, platform, config), catalog)

    if platform == "self-managed":
        assert bad_url["trace"]["error"]["message"].startswith("Error reading stream with config=")
        assert (
            ": base_url 'ftp://127.0.0.1:9' would send the API key unencrypted" in bad_url["trace"]["error"]["message"]
        )
        assert ": start_date '2024-02-30' is not a date Courier can filter on." in bad_date["trace"]["error"]["message"]
    else:
        read = bad_url["record"]["data"]
        assert read["slices"] == [] and [log["level"] for log in read["logs"]].count("ERROR") == 1
        (error,) = [log["message"] for log in read["logs"] if log["level"] == "ERROR"]
        assert error.startswith("Config validation error: 'ftp://127.0.0.1:9' does not match '^$|^(https://")
        assert bad_date["trace"]["error"]["message"].endswith(": day is out of range for month")
    assert courier.requests() == []
