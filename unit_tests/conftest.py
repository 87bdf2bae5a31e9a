"""Runs the real connector (manifest and all) in-process against `responses`-mocked Courier."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import orjson
import pytest
import responses
from airbyte_cdk.logger import AirbyteLogFormatter
from airbyte_cdk.models import (
    AirbyteMessageSerializer,
    AirbyteStateMessage,
    AirbyteStateMessageSerializer,
    ConfiguredAirbyteCatalogSerializer,
    SyncMode,
)
from airbyte_cdk.sources.streams.http import rate_limiting
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from source_courier import SourceCourier
from source_courier.run import protocol_lines, uncaught_error_line
from unit_tests.builders import API_KEY, catalog

CANARIES = (API_KEY,)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Courier, mocked; every registered response must be used and unmatched requests fail."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


class _RecordingTime:
    """Stands in for the `time` module inside the CDK's backoff handler, recording each wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every retry wait the CDK takes (it adds 1 s to each backoff), without sleeping."""
    fake = _RecordingTime()
    monkeypatch.setattr(rate_limiting, "time", fake)
    return fake.waits


def _run(source: SourceCourier, args: list[str]) -> EntrypointOutput:
    """Runs one command as the CLI does: the lines it prints, its logs, and an uncaught error as `run()` prints
    it (masked); the CDK's own test wrapper appends that error unmasked."""
    logs = StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(AirbyteLogFormatter())
    logging.getLogger("").addHandler(handler)
    airbyte_logger = logging.getLogger("airbyte")
    level = airbyte_logger.level  # --debug lowers it for the process; a CLI run ends there, a test run must not
    printed: list[str] = []
    try:
        printed.extend(protocol_lines(source, args))
    except Exception as exception:
        printed.append(uncaught_error_line(exception))
    finally:
        logging.getLogger("").removeHandler(handler)
        airbyte_logger.setLevel(level)
    return EntrypointOutput(messages=printed + logs.getvalue().splitlines())


@pytest.fixture
def outputs() -> Iterator[list[EntrypointOutput]]:
    """Every output a test produced; afterwards none may contain an API key."""
    produced: list[EntrypointOutput] = []
    yield produced
    for output in produced:
        text = "\n".join(orjson.dumps(AirbyteMessageSerializer.dump(m)).decode() for m in output._messages or [])
        for canary in CANARIES:
            assert canary not in text


@pytest.fixture
def run_read(outputs: list[EntrypointOutput], tmp_path: Path) -> Callable[..., EntrypointOutput]:
    def _read(
        config: dict[str, Any],
        sync_mode: SyncMode = SyncMode.full_refresh,
        state: list[AirbyteStateMessage] | None = None,
        debug: bool = False,
        streams: tuple[str, ...] = ("messages",),
    ) -> EntrypointOutput:
        configured = catalog(sync_mode, streams)
        args = ["read", "--config", _write(tmp_path / "config.json", config)]
        args += ["--catalog", _write(tmp_path / "catalog.json", ConfiguredAirbyteCatalogSerializer.dump(configured))]
        if state is not None:
            args += ["--state", _write(tmp_path / "state.json", [AirbyteStateMessageSerializer.dump(s) for s in state])]
        output = _run(
            SourceCourier(catalog=configured, config=config, state=state), args + (["--debug"] if debug else [])
        )
        outputs.append(output)
        return output

    return _read


def _config_only_command(
    command: str, outputs: list[EntrypointOutput], tmp_path: Path
) -> Callable[..., EntrypointOutput]:
    def _command(config: dict[str, Any]) -> EntrypointOutput:
        output = _run(SourceCourier(config=config), [command, "--config", _write(tmp_path / "config.json", config)])
        outputs.append(output)
        return output

    return _command


@pytest.fixture
def run_check(outputs: list[EntrypointOutput], tmp_path: Path) -> Callable[[dict[str, Any]], EntrypointOutput]:
    return _config_only_command("check", outputs, tmp_path)


@pytest.fixture
def run_discover(outputs: list[EntrypointOutput], tmp_path: Path) -> Callable[[dict[str, Any]], EntrypointOutput]:
    return _config_only_command("discover", outputs, tmp_path)


def _write(path: Path, content: Any) -> str:
    path.write_text(json.dumps(content))
    return str(path)
