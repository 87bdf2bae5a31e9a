"""The CDK's standard connector tests (`SourceTestSuiteBase`), driven by `acceptance-test-config.yml`, against the
emulator: spec, check (a working and a rejected key), discover, a read of every stream with schema validation, and
a bad catalog. The suite does not run an `incremental` section, so the future-state read is a test of our own.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from airbyte_cdk.test.models import ConnectorTestScenario
from airbyte_cdk.test.standard_tests import SourceTestSuiteBase

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, WRONG_KEY, cli, discovered_catalog, error_traces, of_type
from source_courier import SourceCourier

pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks"]

ROOT = Path(__file__).resolve().parent.parent
ACCEPTANCE = yaml.safe_load((ROOT / "acceptance-test-config.yml").read_text())["acceptance_tests"]
GENERATED = ROOT / "integration_tests" / "generated"
# The suite's image tests build the image from a Dockerfile template downloaded from GitHub, and need a Docker
# engine: neither exists here. integration_tests/test_docker_install.py checks what can be checked of the image.
NO_IMAGE = pytest.mark.skip(reason="no Docker engine and no internet here; see test_docker_install.py")


@pytest.fixture(scope="module", autouse=True)
def courier() -> Iterator[RunningEmulator]:
    """The emulator's `small` workspace, and the configs acceptance-test-config.yml names, pointing at it."""
    with run_in_thread(api_key=API_KEY, messages=25, workspace="small") as emulator:
        GENERATED.mkdir(exist_ok=True)
        (GENERATED / "config.json").write_text(json.dumps(cli_runner.config(emulator.base_url)))
        invalid = cli_runner.config(emulator.base_url) | {"api_key": WRONG_KEY}
        (GENERATED / "invalid_config.json").write_text(json.dumps(invalid))
        yield emulator
    shutil.rmtree(GENERATED)


class TestSourceCourierStandard(SourceTestSuiteBase):
    test_docker_image_build_and_spec = NO_IMAGE(SourceTestSuiteBase.test_docker_image_build_and_spec)
    test_docker_image_build_and_check = NO_IMAGE(SourceTestSuiteBase.test_docker_image_build_and_check)
    test_docker_image_build_and_discover = NO_IMAGE(SourceTestSuiteBase.test_docker_image_build_and_discover)
    test_docker_image_build_and_read = NO_IMAGE(SourceTestSuiteBase.test_docker_image_build_and_read)
    test_docker_image_build_and_config_matches_spec = NO_IMAGE(
        SourceTestSuiteBase.test_docker_image_build_and_config_matches_spec
    )
    test_docker_image_spec_backward_compatibility = NO_IMAGE(
        SourceTestSuiteBase.test_docker_image_spec_backward_compatibility
    )

    @classmethod
    def create_connector(cls, scenario: ConnectorTestScenario | None) -> SourceCourier:
        # The declarative CDK builds streams from the constructor's config, which the suite's default omits.
        root = cls.get_connector_root_dir()
        return SourceCourier(
            config=scenario.get_config_dict(connector_root=root, empty_if_missing=True) if scenario else {}
        )


def test_incremental_read_from_a_future_state_emits_nothing_and_keeps_the_state(tmp_path, courier):
    (entry,) = ACCEPTANCE["incremental"]["tests"]
    config = json.loads((ROOT / entry["config_path"]).read_text())
    future = json.loads((ROOT / entry["future_state"]["future_state_path"]).read_text())
    catalog = discovered_catalog(tmp_path, config)
    catalog["streams"] = [stream for stream in catalog["streams"] if stream["sync_mode"] == "incremental"]
    assert [stream["stream"]["name"] for stream in catalog["streams"]] == [
        state["stream"]["stream_descriptor"]["name"] for state in future
    ]  # the state file covers exactly the incremental streams
    courier.reset_requests()

    code, messages = cli(tmp_path, "read", config, catalog=catalog, state=future)

    assert code == 0 and error_traces(messages) == []
    assert of_type(messages, "RECORD") == []
    final = {
        state["stream"]["stream_descriptor"]["name"]: state["stream"]["stream_state"]
        for state in of_type(messages, "STATE")
    }
    assert final == {state["stream"]["stream_descriptor"]["name"]: state["stream"]["stream_state"] for state in future}
    # Each cursor's window runs from its saved value (less the lookback) to now, which is empty: Courier is not asked.
    assert courier.requests() == []
