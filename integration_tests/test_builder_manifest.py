"""The Connector Builder export (`make builder-manifest`), run by the CDK's `source-declarative-manifest` runner.

The export must behave exactly like the packaged connector: every stream, the same records and the same state,
on a first sync and on a resumed one, against the emulator's `small` workspace.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, cli, discovered_catalog, error_traces, of_type
from scripts.builder_manifest import BUILDER_PREFIX, validate

ROOT = Path(__file__).resolve().parent.parent
SDM = Path(sys.executable).with_name("source-declarative-manifest")


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export, written by the same command `make builder-manifest` runs."""
    out_dir = tmp_path_factory.mktemp("builder")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "builder_manifest.py"), str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"wrote {out_dir / 'manifest.yaml'}", f"wrote {out_dir / 'components.py'}"]
    return out_dir


@pytest.fixture
def courier() -> Iterator[RunningEmulator]:
    with run_in_thread(api_key=API_KEY, messages=25, workspace="small") as emulator:
        yield emulator


def sdm(tmp_path: Path, export: Path, command: str, config: dict[str, Any], unsafe: str = "true", **files: Any):
    """`source-declarative-manifest COMMAND` on the export, the way a self-managed platform runs a Builder manifest,
    from a directory where the package's schema files cannot be found by a relative path."""
    env = {**os.environ, "AIRBYTE_ENABLE_UNSAFE_CODE": unsafe}
    paths = ["--manifest-path", str(export / "manifest.yaml"), "--components-path", str(export / "components.py")]
    return cli(tmp_path, command, config, executable=[str(SDM)], extra_args=paths, env=env, cwd=tmp_path, **files)


def by_stream(messages: list[dict[str, Any]]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """Each stream's records (sorted, as JSON: the order of partitions read in parallel varies) and final state."""
    records: dict[str, list[str]] = {}
    for record in of_type(messages, "RECORD"):
        records.setdefault(record["stream"], []).append(json.dumps(record["data"], sort_keys=True))
    states = {  # the last one of each stream; sourceStats counts depend on when the CDK checkpointed
        state["stream"]["stream_descriptor"]["name"]: state["stream"] for state in of_type(messages, "STATE")
    }

    return {stream: sorted(found) for stream, found in records.items()}, states


def comparable(states: dict[str, Any]) -> dict[str, Any]:
    """The states without a message child's `lookback_window`, the sync's duration in seconds: it varies by run."""
    found = json.loads(json.dumps(states))
    for state in found.values():
        assert isinstance(state["stream_state"].pop("lookback_window", 0), int)
    return found


def test_export_is_one_self_contained_manifest_the_cdk_schema_accepts(export):
    manifest = yaml.safe_load((export / "manifest.yaml").read_text())
    components = (export / "components.py").read_text()

    validate(manifest)  # raises unless the CDK's declarative_component_schema.yaml accepts it
    text = (export / "manifest.yaml").read_text()
    assert "source_courier" not in text.replace("source_courier/", "") and "JsonFileSchemaLoader" not in text
    assert "source_courier.components" not in components
    class_names = {line.split("class_name:")[1].strip() for line in text.splitlines() if "class_name:" in line}
    assert {name.removeprefix(BUILDER_PREFIX) for name in class_names} == {
        "TransientRetriesErrorHandler",
        "RetryAfterBackoffStrategy",
        "GuardedCursorPagination",
        "RecordsAtKey",
        "AddPartitionKeys",
        "SkipDeletedParent",
        "SharedPages",
        "TrimApiKey",
        "ApiKeyIsOneToken",
        "HttpsOrLoopbackUrl",
        "CourierStartDate",
    }
    assert all(name.startswith(BUILDER_PREFIX) for name in class_names)
    module = runpy.run_path(str(export / "components.py"))  # the file the Builder is given defines each class
    assert all(isinstance(module[name.removeprefix(BUILDER_PREFIX)], type) for name in class_names)
    # Each of the 26 streams reads its own inline schema, resolved: no file reference, no `$ref` left inside.
    assert len(manifest["schemas"]) == 26 and "$ref" not in json.dumps(manifest["schemas"])


def test_export_declares_the_same_spec_and_catalog_as_the_packaged_connector(tmp_path, export):
    config = cli_runner.config("http://127.0.0.1:9")  # discover sends no request

    packaged = of_type(cli(tmp_path, "discover", config)[1], "CATALOG")
    exported = of_type(sdm(tmp_path, export, "discover", config)[1], "CATALOG")

    assert exported == packaged and len(packaged[0]["streams"]) == 26
    spec = yaml.safe_load((export / "manifest.yaml").read_text())["spec"]["connection_specification"]
    assert spec == of_type(cli(tmp_path, "spec")[1], "SPEC")[0]["connectionSpecification"]


def test_export_reads_every_stream_with_the_same_records_and_state_as_the_packaged_connector(tmp_path, export, courier):
    config = cli_runner.config(courier.base_url, lookback_days=0)
    catalog = discovered_catalog(tmp_path, config)

    def both(**files: Any) -> tuple[tuple[dict, dict], tuple[dict, dict]]:
        results = []
        for code, messages in (
            cli(tmp_path, "read", config, catalog=catalog, **files),
            sdm(tmp_path, export, "read", config, catalog=catalog, **files),
        ):
            assert code == 0 and error_traces(messages) == []
            results.append(by_stream(messages))
        return results[0], results[1]

    (packaged_records, packaged_states), (exported_records, exported_states) = both()
    assert len(packaged_records) == 26 and all(packaged_records.values())  # every stream has records to compare
    for stream in packaged_records:
        assert exported_records[stream] == packaged_records[stream], stream
        assert comparable(exported_states)[stream] == comparable(packaged_states)[stream], stream
    assert exported_records.keys() == packaged_records.keys() and exported_states.keys() == packaged_states.keys()

    courier.advance(new_messages=5, advance_statuses=True)
    (packaged_records, packaged_states2), (exported_records, exported_states2) = both(
        state=[{"type": "STREAM", "stream": stream} for stream in packaged_states.values()]
    )
    # Resumed: only what is new (and the records at the saved cursors) comes again, the same from both.
    assert len(packaged_records["messages"]) == 6
    assert exported_records == packaged_records and comparable(exported_states2) == comparable(packaged_states2)
    assert exported_states2["messages"] != exported_states["messages"]


def test_export_refuses_to_run_its_components_unless_the_platform_allows_custom_code(tmp_path, export, courier):
    code, messages = sdm(tmp_path, export, "check", cli_runner.config(courier.base_url), unsafe="false")

    assert code != 0
    assert any("AIRBYTE_ENABLE_UNSAFE_CODE" in trace["message"] for trace in error_traces(messages)), messages
    assert courier.requests() == []
