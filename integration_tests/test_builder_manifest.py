"""The Connector Builder exports (`make builder-manifest`): what each holds, and each run by the CDK's
`source-declarative-manifest` runner, as a platform runs a Builder connector once it is published.

- build/builder/ (self-managed Airbyte, custom components allowed) must behave exactly like the packaged
  connector: every stream, the same records and the same state, on a first sync and on a resumed one.
- build/builder-cloud/ (Airbyte Cloud, no custom code) swaps each custom component for the nearest CDK one: on
  the happy path it reads the same records and state; each way it behaves differently is pinned here
  (`test_cloud_export_differs_*`), for the user docs.

Every Builder run (through the Builder's own backend) is in `test_builder_backend.py`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import runpy
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.models import declarative_component_schema as models
from airbyte_cdk.sources.declarative.parsers.manifest_component_transformer import ManifestComponentTransformer
from airbyte_cdk.sources.declarative.parsers.manifest_reference_resolver import ManifestReferenceResolver
from airbyte_cdk.sources.declarative.parsers.model_to_component_factory import ModelToComponentFactory
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ResponseAction
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, cli, discovered_catalog, error_traces, of_type
from scripts.builder_manifest import (
    BUILDER_PREFIX,
    CLOUD_FIELD_PATTERNS,
    CLOUD_SWAPS,
    PACKAGE,
    cloud_manifest,
    custom_components,
    effective,
    validate,
)
from source_courier import components as courier_components
from source_courier.components import CourierConfigField

ROOT = Path(__file__).resolve().parent.parent
SDM = Path(sys.executable).with_name("source-declarative-manifest")
UNSAFE = "AIRBYTE_ENABLE_UNSAFE_CODE"
KINDS = ("self-managed", "cloud")
# Marked `cloud_export: first_page_only` in the manifest: the Cloud export reads each partition's first page only.
FIRST_PAGE_ONLY_IN_CLOUD = ("journey_versions",)
PAGINATORS = ("paginator_paging_cursor", "paginator_has_more", "paginator_top_level_cursor", "paginator_next_cursor")


@dataclass(frozen=True)
class Exports:
    manifest: Path  # build/builder/manifest.yaml
    components: Path  # build/builder/components.py
    cloud_manifest: Path  # build/builder-cloud/manifest.yaml
    manifest_json: str  # each manifest parsed once (YAML is slow to parse), as JSON to copy from
    cloud_manifest_json: str

    def parsed(self, kind: str) -> dict[str, Any]:
        """A fresh copy of the export's manifest (the Builder changes what it is given)."""
        return json.loads(self.manifest_json if kind == "self-managed" else self.cloud_manifest_json)


_BUILT: list[Exports] = []


def built_exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    """Both exports, written once per session by the command `make builder-manifest` runs."""
    if not _BUILT:
        out = tmp_path_factory.mktemp("exports")
        builder, cloud = out / "builder", out / "builder-cloud"
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "builder_manifest.py"), str(builder), str(cloud)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        paths = (builder / "manifest.yaml", builder / "components.py", cloud / "manifest.yaml")
        assert done.stdout.splitlines() == [f"wrote {path}" for path in paths]
        parsed = [json.dumps(yaml.safe_load(path.read_text())) for path in (paths[0], paths[2])]
        _BUILT.append(Exports(*paths, *parsed))
    return _BUILT[0]


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Exports:
    return built_exports(tmp_path_factory)


@pytest.fixture
def courier() -> Iterator[RunningEmulator]:
    with run_in_thread(api_key=API_KEY, messages=25, workspace="small") as emulator:
        yield emulator


def sdm(
    tmp_path: Path, exports: Exports, kind: str, command: str, config: dict[str, Any], unsafe: str = "true", **files
):
    """`source-declarative-manifest COMMAND` on an export, the way a platform runs a published Builder connector,
    from a directory where the package's schema files cannot be found by a relative path. The self-managed
    export gets its components and AIRBYTE_ENABLE_UNSAFE_CODE=`unsafe`; the Cloud export neither."""
    env = {key: value for key, value in os.environ.items() if key != UNSAFE}
    if kind == "self-managed":
        env[UNSAFE] = unsafe
        paths = ["--manifest-path", str(exports.manifest), "--components-path", str(exports.components)]
    else:
        paths = ["--manifest-path", str(exports.cloud_manifest)]
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


def packaged_manifest() -> dict[str, Any]:
    return yaml.safe_load((PACKAGE / "manifest.yaml").read_text())


# --- what each export holds ----------------------------------------------------------------------------------


def test_export_is_one_self_contained_manifest_the_cdk_schema_accepts(exports):
    manifest = exports.parsed("self-managed")
    components = exports.components.read_text()

    validate(manifest)  # raises unless the CDK's declarative_component_schema.yaml accepts it
    text = exports.manifest.read_text()
    assert "source_courier" not in text.replace("source_courier/", "") and "JsonFileSchemaLoader" not in text
    assert "source_courier.components" not in components
    class_names = {line.split("class_name:")[1].strip() for line in text.splitlines() if "class_name:" in line}
    assert {name.removeprefix(BUILDER_PREFIX) for name in class_names} == {
        "GuardedCursorPagination",
        "CourierErrorHandler",
        "CourierConfigField",
    }
    assert all(name.startswith(BUILDER_PREFIX) for name in class_names)
    module = runpy.run_path(str(exports.components))  # the file the Builder is given defines each class
    assert all(isinstance(module[name.removeprefix(BUILDER_PREFIX)], type) for name in class_names)
    # Each of the 31 streams reads its own inline schema, resolved: no file reference, no `$ref` left inside.
    assert len(manifest["schemas"]) == 31 and "$ref" not in json.dumps(manifest["schemas"])


def test_cloud_export_is_one_self_contained_manifest_without_custom_components(exports):
    manifest = exports.parsed("cloud")
    text = exports.cloud_manifest.read_text()

    validate(manifest)
    assert custom_components(manifest) == [] and "class_name" not in text and "Custom" not in text
    assert "source_courier" not in text.replace("source_courier/", "") and "source_declarative_manifest" not in text
    assert "JsonFileSchemaLoader" not in text and "cloud_export" not in text
    assert manifest["schemas"] == exports.parsed("self-managed")["schemas"]
    assert set(CLOUD_SWAPS) == {"GuardedCursorPagination", "CourierErrorHandler", "CourierConfigField"}


def test_cloud_export_is_the_self_managed_export_with_each_custom_component_swapped(exports):
    """Everything but the three custom components is the same, `$ref` for `$ref`; what replaces each is exact."""
    managed, cloud = exports.parsed("self-managed"), exports.parsed("cloud")
    swapped = {"guarded_cursor", "error_handler", *PAGINATORS}
    assert managed.keys() == cloud.keys()
    assert {key: value for key, value in managed.items() if key not in ("definitions", "spec")} == {
        key: value for key, value in cloud.items() if key not in ("definitions", "spec")
    }
    assert cloud["definitions"].keys() == managed["definitions"].keys() - {"guarded_cursor"}
    first_page_only = {f"{stream}_stream" for stream in FIRST_PAGE_ONLY_IN_CLOUD}
    for name in cloud["definitions"].keys() - swapped - first_page_only:
        assert cloud["definitions"][name] == managed["definitions"][name], name
    for name in first_page_only:  # the same stream, its paging stopped after the first page and saying so
        stream, managed_stream = cloud["definitions"][name], managed["definitions"][name]
        assert stream["retriever"]["paginator"]["pagination_strategy"]["stop_condition"] == "{{ true }}"
        assert stream["description"].startswith(managed_stream["description"] + " (Airbyte Cloud export: the first")
        assert {key: value for key, value in stream.items() if key not in ("retriever", "description")} == {
            key: value for key, value in managed_stream.items() if key != "description"
        }

    assert cloud["definitions"]["error_handler"] == {
        "type": "DefaultErrorHandler",
        "max_retries": 30,
        "backoff_strategies": [
            {"type": "WaitTimeFromHeader", "header": "Retry-After", "max_waiting_time_in_seconds": 600},
            {"type": "ExponentialBackoffStrategy", "factor": 1},
        ],
        "response_filters": managed["definitions"]["error_handler"]["response_filters"],
    }
    # The child requester still $refs the handler and overrides its filters only (its 404 IGNORE first).
    child_handler = cloud["definitions"]["child_requester"]["error_handler"]
    assert child_handler == managed["definitions"]["child_requester"]["error_handler"]
    assert child_handler["$ref"] == "#/definitions/error_handler" and child_handler.keys() == {
        "$ref",
        "response_filters",
    }

    strategies = {name: cloud["definitions"][name]["pagination_strategy"] for name in PAGINATORS}
    more_a, cursor_a = """(response["paging"] or {})["more"]""", """(response["paging"] or {})["cursor"]"""
    assert strategies == {
        "paginator_paging_cursor": {
            "type": "CursorPagination",
            "cursor_value": f"{{{{ {cursor_a} | tojson if {cursor_a} }}}}",
            "stop_condition": f"{{{{ not {more_a} or not {cursor_a} }}}}",
        },
        "paginator_has_more": {
            "type": "CursorPagination",
            "cursor_value": """{{ response["cursor"] | tojson if response["cursor"] }}""",
            "stop_condition": """{{ not response["has_more"] or not response["cursor"] }}""",
            "page_size": 100,
        },
        "paginator_top_level_cursor": {
            "type": "CursorPagination",
            "cursor_value": """{{ response["cursor"] | tojson if response["cursor"] }}""",
            "stop_condition": """{{ not response["cursor"] }}""",
        },
        "paginator_next_cursor": {
            "type": "CursorPagination",
            "cursor_value": """{{ response["next_cursor"] | tojson if response["next_cursor"] }}""",
            "stop_condition": """{{ not response["next_cursor"] }}""",
            "page_size": 50,
        },
    }
    for name in PAGINATORS:  # the page token and `limit` options are the same
        rest = {key: value for key, value in cloud["definitions"][name].items() if key != "pagination_strategy"}
        assert rest == {k: v for k, v in managed["definitions"][name].items() if k != "pagination_strategy"}

    # The spec: the same fields, each CourierConfigField check replaced by a pattern; the key is still trimmed.
    spec, managed_spec = cloud["spec"], managed["spec"]
    assert spec.keys() == managed_spec.keys()
    properties = spec["connection_specification"]["properties"]
    for field, (pattern, descriptor) in CLOUD_FIELD_PATTERNS.items():
        assert properties[field].pop("pattern") == pattern and properties[field].pop("pattern_descriptor") == descriptor
        managed_spec["connection_specification"]["properties"][field].pop("pattern_descriptor", None)
    assert spec["connection_specification"] == managed_spec["connection_specification"]
    assert spec["config_normalization_rules"] == {
        key: value for key, value in managed_spec["config_normalization_rules"].items() if key != "validations"
    }


def test_each_file_says_what_it_is_for(exports):
    managed, components, cloud = (
        path.read_text() for path in (exports.manifest, exports.components, exports.cloud_manifest)
    )
    for text in (managed, components, cloud):
        assert text.startswith("# Generated by `make builder-manifest` from source_courier/")
    assert "AIRBYTE_ENABLE_UNSAFE_CODE=true (self-managed Airbyte)" in managed.split("\n", 3)[2]
    assert "paste components.py into its custom components editor" in components.split("\n", 3)[1]
    assert "For Airbyte Cloud's Connector Builder, which runs no custom code" in cloud.split("\n", 3)[1]


# --- each export through source-declarative-manifest -----------------------------------------------------------


def test_exports_declare_the_same_spec_and_catalog_as_the_packaged_connector(tmp_path, exports):
    config = cli_runner.config("http://127.0.0.1:9")  # discover sends no request

    packaged = of_type(cli(tmp_path, "discover", config)[1], "CATALOG")
    for kind in KINDS:
        assert of_type(sdm(tmp_path, exports, kind, "discover", config)[1], "CATALOG") == packaged, kind
    assert len(packaged[0]["streams"]) == 31

    packaged_spec = of_type(cli(tmp_path, "spec")[1], "SPEC")[0]["connectionSpecification"]
    assert exports.parsed("self-managed")["spec"]["connection_specification"] == packaged_spec
    cloud_spec = exports.parsed("cloud")["spec"]["connection_specification"]
    for field in CLOUD_FIELD_PATTERNS:  # the Cloud spec adds a pattern (and its descriptor) to three fields
        cloud_spec["properties"][field].pop("pattern")
        cloud_spec["properties"][field]["pattern_descriptor"] = packaged_spec["properties"][field].get(
            "pattern_descriptor", cloud_spec["properties"][field]["pattern_descriptor"]
        )
        if "pattern_descriptor" not in packaged_spec["properties"][field]:
            cloud_spec["properties"][field].pop("pattern_descriptor")
    assert cloud_spec == packaged_spec


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_export_reads_every_stream_with_the_same_records_and_state_as_the_packaged_connector(
    tmp_path, exports, courier, kind
):
    config = cli_runner.config(courier.base_url, lookback_days=0)
    catalog = discovered_catalog(tmp_path, config)

    def both(**files: Any) -> tuple[tuple[dict, dict], tuple[dict, dict]]:
        results = []
        for code, messages in (
            cli(tmp_path, "read", config, catalog=catalog, **files),
            sdm(tmp_path, exports, kind, "read", config, catalog=catalog, **files),
        ):
            assert code == 0 and error_traces(messages) == []
            results.append(by_stream(messages))
        return results[0], results[1]

    (packaged_records, packaged_states), (exported_records, exported_states) = both()
    assert len(packaged_records) == 31 and all(packaged_records.values())  # every stream has records to compare
    for stream in packaged_records:
        if kind == "cloud" and stream in FIRST_PAGE_ONLY_IN_CLOUD:  # the first page of each partition: fewer
            assert set(exported_records[stream]) < set(packaged_records[stream]), stream
        else:
            assert exported_records[stream] == packaged_records[stream], stream
        assert comparable(exported_states)[stream] == comparable(packaged_states)[stream], stream
    assert exported_records.keys() == packaged_records.keys() and exported_states.keys() == packaged_states.keys()

    courier.advance(new_messages=5, advance_statuses=True)
    (packaged_records, packaged_states2), (exported_records, exported_states2) = both(
        state=[{"type": "STREAM", "stream": stream} for stream in packaged_states.values()]
    )
    # Resumed: only what is new (and the records at the saved cursors) comes again, the same from both.
    assert len(packaged_records["messages"]) == 6
    if kind == "cloud":
        for stream in FIRST_PAGE_ONLY_IN_CLOUD:
            assert set(exported_records.pop(stream)) < set(packaged_records.pop(stream)), stream
    assert exported_records == packaged_records and comparable(exported_states2) == comparable(packaged_states2)
    assert exported_states2["messages"] != exported_states["messages"]


def test_export_refuses_to_run_its_components_unless_the_platform_allows_custom_code(tmp_path, exports, courier):
    code, messages = sdm(
        tmp_path, exports, "self-managed", "check", cli_runner.config(courier.base_url), unsafe="false"
    )

    assert code != 0
    assert any("AIRBYTE_ENABLE_UNSAFE_CODE" in trace["message"] for trace in error_traces(messages)), messages
    assert courier.requests() == []


def failed_check(messages: list[dict[str, Any]]) -> str:
    (status,) = of_type(messages, "CONNECTION_STATUS")
    assert status["status"] == "FAILED"
    return str(status["message"])


@pytest.mark.slow
def test_cloud_export_differs_in_the_config_error_it_gives(tmp_path, exports, courier):
    """`check` on a config the packaged connector refuses naming the field and the fix. Cloud: a value the spec
    pattern refuses fails quoting the value and the pattern; a date the pattern lets through but that does not
    exist fails when the streams are built, naming neither field nor fix. Neither sends a request."""
    config = cli_runner.config("ftp://127.0.0.1:9")
    cloud_message = failed_check(sdm(tmp_path, exports, "cloud", "check", config)[1])
    assert cloud_message.startswith("Config validation error: 'ftp://127.0.0.1:9' does not match '^$|^(https://")
    assert failed_check(cli(tmp_path, "check", config)[1]).startswith(
        "base_url 'ftp://127.0.0.1:9' would send the API key unencrypted or over an unsupported scheme. Use an"
    )

    config = cli_runner.config(courier.base_url, start_date="2024-02-30")
    cloud_message = failed_check(sdm(tmp_path, exports, "cloud", "check", config)[1])
    assert cloud_message == "'Encountered an error while discovering streams. Error: day is out of range for month'"
    assert failed_check(cli(tmp_path, "check", config)[1]).startswith(
        "start_date '2024-02-30' is not a date Courier can filter on. Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"
    )
    assert courier.requests() == []


# --- how the Cloud export's swaps behave, next to the custom components they replace ---------------------------


def _resolved(manifest: dict[str, Any]) -> dict[str, Any]:
    resolved = ManifestReferenceResolver().preprocess_manifest(copy.deepcopy(manifest))
    return ManifestComponentTransformer().propagate_types_and_parameters("", resolved, {})


@pytest.fixture(scope="module")
def resolved_manifests() -> dict[str, dict[str, Any]]:
    packaged = packaged_manifest()
    return {"packaged": _resolved(packaged), "cloud": _resolved(cloud_manifest(packaged))}


def component(resolved_manifests: dict[str, dict[str, Any]], which: str, *path: str) -> Any:
    """The runtime component the CDK builds for the definition at `path`, in the packaged manifest or the Cloud
    export."""
    definition: Any = resolved_manifests[which]["definitions"]
    for key in path:
        definition = definition[key]
    return ModelToComponentFactory().create_component(getattr(models, definition["type"]), definition, config={})


def response(status: int, headers: dict[str, str] | None = None, body: Any = None) -> requests.Response:
    answer = requests.Response()
    answer.status_code, answer._content = status, json.dumps({"results": []} if body is None else body).encode()
    answer.headers.update(headers or {})
    answer.request = requests.Request("GET", "https://api.courier.com/messages").prepare()
    return answer


def first_wait(handler: Any, answer: Any, attempt: int) -> float | str | None:
    """The wait the CDK takes before retrying: the first strategy's that is not None or 0 (None: the CDK's own
    exponential backoff, 1, 2, 4, ... s, logged as a retryable error rather than a rate limit)."""
    for strategy in handler.backoff_strategies:
        try:
            wait = strategy.backoff_time(answer, attempt)
        except AirbyteTracedException as error:
            return f"fails: {error.message}"
        if wait:
            return float(wait)
    return None


def test_cloud_export_differs_in_its_retry_waits(resolved_manifests, monkeypatch):
    packaged = component(resolved_manifests, "packaged", "messages_stream", "retriever", "requester", "error_handler")
    cloud = component(resolved_manifests, "cloud", "messages_stream", "retriever", "requester", "error_handler")
    now = datetime(2026, 11, 23, 12, 0, 0, tzinfo=timezone.utc)
    monkeypatch.setattr(courier_components, "_utcnow", lambda: now)
    in_42_seconds = format_datetime(now + timedelta(seconds=42), usegmt=True)
    too_long = "fails: The rate limit wait time is longer than the connector is allowed to wait."
    # answer -> (packaged, Cloud) waits at attempts 1 and 3; the CDK adds 1 s to each.
    expected: dict[str, tuple[Any, ...]] = {
        "429 Retry-After: 7": (7.0, 7.0, 7.0, 7.0),
        "429 Retry-After: 599": (599.0, 599.0, 599.0, 599.0),
        "429 Retry-After: 600": (600.0, too_long, 600.0, too_long),  # the Cloud cap refuses, inclusive
        "429 Retry-After: 86400": (600.0, too_long, 600.0, too_long),
        "429 Retry-After: <HTTP-date in 42 s>": (42.0, 2.0, 42.0, 8.0),  # Cloud: a date is not a number
        "429 Retry-After: 0": (2.0, 2.0, 8.0, 8.0),
        "429 Retry-After: -5": (2.0, -5.0, 8.0, -5.0),  # Cloud: a negative wait, which the CDK cannot sleep
        "429 without Retry-After": (2.0, 2.0, 8.0, 8.0),
        "503 Retry-After: 30": (None, 30.0, None, 30.0),  # Cloud reads Retry-After on every retried answer
        "503 without Retry-After": (None, 2.0, None, 8.0),
        "connection error": (None, 2.0, None, 8.0),
    }
    answers = {
        "429 Retry-After: 7": response(429, {"Retry-After": "7"}),
        "429 Retry-After: 599": response(429, {"Retry-After": "599"}),
        "429 Retry-After: 600": response(429, {"Retry-After": "600"}),
        "429 Retry-After: 86400": response(429, {"Retry-After": "86400"}),
        "429 Retry-After: <HTTP-date in 42 s>": response(429, {"Retry-After": in_42_seconds}),
        "429 Retry-After: 0": response(429, {"Retry-After": "0"}),
        "429 Retry-After: -5": response(429, {"Retry-After": "-5"}),
        "429 without Retry-After": response(429),
        "503 Retry-After: 30": response(503, {"Retry-After": "30"}),
        "503 without Retry-After": response(503),
        "connection error": requests.ConnectionError("refused"),
    }
    found = {
        name: tuple(first_wait(handler, answer, attempt) for attempt in (1, 3) for handler in (packaged, cloud))
        for name, answer in answers.items()
    }
    assert found == expected
    assert (packaged.max_retries, packaged.max_time) == (cloud.max_retries, cloud.max_time) == (30, 600)


def test_cloud_export_differs_in_the_failure_type_of_exhausted_retries(resolved_manifests):
    """What a retried answer ends as once retries run out: the packaged handler says transient_error for all; the
    Cloud one the CDK's type for the status code (system_error for these)."""
    packaged = component(resolved_manifests, "packaged", "messages_stream", "retriever", "requester", "error_handler")
    cloud = component(resolved_manifests, "cloud", "messages_stream", "retriever", "requester", "error_handler")
    html = response(200)
    html._content = b"<html>maintenance</html>"
    answers: dict[str, Any] = {
        **{str(status): response(status) for status in (408, 409, 500, 501, 502, 503, 504, 507, 508, 509, 510, 511)},
        **{str(status): response(status) for status in (520, 521, 522, 523, 524)},
        "200 without the envelope": response(200, body={"paging": {"more": False}}),
        "200 HTML page": html,
        "timeout": requests.ReadTimeout("read timed out"),
        "connection error": requests.ConnectionError("refused"),
        "429": response(429),
    }
    system_error_in_cloud = {"409", "501", "507", "508", "509", "510", "511", "520", "521", "522", "523", "524"}
    system_error_in_cloud |= {"200 without the envelope", "200 HTML page", "timeout", "connection error"}
    for name, answer in answers.items():
        mine, theirs = packaged.interpret_response(answer), cloud.interpret_response(answer)
        assert mine.response_action == theirs.response_action != ResponseAction.FAIL, name
        assert mine.error_message == theirs.error_message, name
        assert mine.failure_type == FailureType.transient_error, name
        expected = FailureType.system_error if name in system_error_in_cloud else FailureType.transient_error
        assert theirs.failure_type == expected, name


@pytest.mark.parametrize("paginator", PAGINATORS)
def test_cloud_export_pages_like_the_guard_but_cannot_catch_a_repeated_cursor(resolved_manifests, paginator):
    packaged = component(resolved_manifests, "packaged", paginator, "pagination_strategy")
    cloud = component(resolved_manifests, "cloud", paginator, "pagination_strategy")
    envelope = {
        "paginator_paging_cursor": lambda cursor, more: {"results": [], "paging": {"cursor": cursor, "more": more}},
        "paginator_has_more": lambda cursor, more: {"items": [], "cursor": cursor, "has_more": more},
        "paginator_top_level_cursor": lambda cursor, more: {"templates": [], **({"cursor": cursor} if more else {})},
        "paginator_next_cursor": lambda cursor, more: {"runs": [], **({"next_cursor": cursor} if more else {})},
    }[paginator]
    assert packaged.get_page_size() == cloud.get_page_size()
    # The same next cursor from every page shape, read as the string it is (a number-like one included).
    cursors = ["L2JyYW5kcwo+CkZKQkI=", "1e5", "0", "None", "12345", "é", 'a"b\\c', "", None, 7]
    for cursor in cursors:
        for more in (True, False, None):
            page = response(200, body=envelope(cursor, more))
            assert packaged.next_page_token(page, 0, None, None) == cloud.next_page_token(page, 0, None, None)
    for body in ({"results": []}, {"items": []}, {"runs": [], "next_cursor": ""}, {"paging": None, "cursor": None}):
        page = response(200, body=body)
        assert packaged.next_page_token(page, 0, None, None) is None is cloud.next_page_token(page, 0, None, None)
    # Known: a cursor outside the Basic Multilingual Plane comes out as surrogates (JSON escapes, read back).
    page = response(200, body=envelope("\U0001f600", True))
    assert cloud.next_page_token(page, 0, None, None) == "\ud83d\ude00" != packaged.next_page_token(page, 0, None, None)

    # Courier hands back the cursor that asked for the page: the guard fails the stream, the Cloud one pages on.
    packaged = component(resolved_manifests, "packaged", paginator, "pagination_strategy")
    page = response(200, body=envelope("c1", True))
    assert packaged.next_page_token(page, 1, None, None) == cloud.next_page_token(page, 1, None, None) == "c1"
    with pytest.raises(AirbyteTracedException, match="already returned"):
        packaged.next_page_token(page, 1, None, "c1")
    assert cloud.next_page_token(page, 1, None, "c1") == "c1"
    # Fifty empty pages in a row, each with a fresh cursor: the guard stops, the Cloud one pages on.
    packaged = component(resolved_manifests, "packaged", paginator, "pagination_strategy")
    for number in range(1, 50):
        page = response(200, body=envelope(f"c{number}", True))
        assert packaged.next_page_token(page, 0, None, f"c{number - 1}" if number > 1 else None) == f"c{number}"
    page = response(200, body=envelope("c50", True))
    with pytest.raises(AirbyteTracedException, match="50 empty pages in a row"):
        packaged.next_page_token(page, 0, None, "c49")
    assert cloud.next_page_token(page, 0, None, "c49") == "c50"


def _config_checks(field: str, value: str) -> tuple[bool, bool]:
    """(packaged, Cloud) accept `value` for `field`: CourierConfigField on the config as normalised (the key
    trimmed first, as the CDK does), and the Cloud spec's pattern, as JSON schema applies it."""
    try:
        CourierConfigField(field=field).validate(value.strip() if field == "api_key" else value)
        packaged = True
    except AirbyteTracedException:
        packaged = False
    return packaged, re.search(CLOUD_FIELD_PATTERNS[field][0], value) is not None


CONFIG_VALUES = {
    "api_key": ["pk_live_abc", " pk_live_abc\n", "", "   ", "pk live", "pk\tlive"],
    "base_url": [
        *["", "https://api.courier.com", "https://api.courier.com/", "https://proxy.example.com:8443/courier"],
        *["http://127.0.0.1:8080", "http://localhost", "http://[::1]:9000/x", "https://[2001:db8::1]:8443/x"],
        *["https://api.courier.com?x=1", "https://api.courier.com:", "https://a.example/p@th"],
        *["http://api.courier.com", "ftp://x", "https://", "https://user:pw@api.courier.com", "api.courier.com"],
        *["https://exa mple.com", "http://127.0.0.1:abc", "https://api.courier.com:abc", "http://127.0.0.2"],
        *["http://127.0.0.1.nip.io", " https://api.courier.com", "https://a.example:1:2"],
        *["HTTPS://api.courier.com", "http://LOCALHOST:1", "https://api.courier.com:99999"],
    ],
    "start_date": [
        *["", "2024-01-31", "2024-01-31T00:00:00Z", "2024-1-5", "2024-01-31T24:00:00Z", "2024-01-31T23:59:60Z"],
        *["2024-01-31T00:00:00", "2024-01-31T00:00:00.000Z", "2024-13-01", "2024-01-31 00:00:00Z"],
        *["2024-02-30", "2023-02-29", "2024-04-31", "0000-01-01"],
    ],
}


def test_cloud_export_differs_in_the_config_values_it_accepts_only_where_listed():
    disagreements = {
        (field, value): _config_checks(field, value)
        for field, values in CONFIG_VALUES.items()
        for value in values
        if len(set(_config_checks(field, value))) > 1
    }
    assert disagreements == {  # (packaged accepts, Cloud pattern accepts)
        ("base_url", "HTTPS://api.courier.com"): (True, False),  # patterns have no flags: lower case only
        ("base_url", "http://LOCALHOST:1"): (True, False),
        ("base_url", "https://api.courier.com:99999"): (False, True),  # a port is 0-65535
        ("start_date", "2024-02-30"): (False, True),  # a pattern cannot tell a date that does not exist
        ("start_date", "2023-02-29"): (False, True),
        ("start_date", "2024-04-31"): (False, True),
        ("start_date", "0000-01-01"): (False, True),
    }


# --- the first-page-only mark ----------------------------------------------------------------------------------


def marked(stream: str, value: str = "first_page_only") -> dict[str, Any]:
    manifest = packaged_manifest()
    manifest["definitions"][f"{stream}_stream"]["cloud_export"] = value
    return manifest


def test_a_marked_stream_reads_one_page_in_the_cloud_export_only_and_its_refs_inherit_the_mark():
    manifest = marked("automations")  # journeys_stream $refs automations_stream

    cloud = cloud_manifest(manifest)

    validate(cloud)
    for name in ("automations_stream", "journeys_stream"):
        stream = effective(cloud, cloud["definitions"][name])
        strategy = effective(cloud, effective(cloud, stream["retriever"]["paginator"])["pagination_strategy"])
        assert strategy["stop_condition"] == "{{ true }}" and strategy["type"] == "CursorPagination", name
        assert "Airbyte Cloud export: the first page of each partition only" in stream["description"]
        assert "cloud_export" not in json.dumps(cloud)
    packaged = cloud_manifest(packaged_manifest())
    assert packaged["definitions"]["run_stream"] == cloud["definitions"]["run_stream"]
    marked_in_the_package = [name for name, node in packaged["definitions"].items() if "first page" in json.dumps(node)]
    assert marked_in_the_package == [f"{stream}_stream" for stream in FIRST_PAGE_ONLY_IN_CLOUD]


@pytest.mark.parametrize(
    ("stream", "value", "error"),
    [
        ("profiles", "first_page_only", "does not page with a cursor"),  # profiles: NoPagination
        ("brands", "first_page", "is not 'first_page_only'"),
    ],
)
def test_a_mark_the_export_cannot_honour_stops_it(stream, value, error):
    with pytest.raises(ValueError, match=error):
        cloud_manifest(marked(stream, value))
