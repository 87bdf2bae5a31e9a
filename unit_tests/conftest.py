"""Runs the real connector (manifest and all) in-process against `responses`-mocked Courier."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import backoff._sync
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
from airbyte_cdk.sources.streams.call_rate import HttpAPIBudget
from airbyte_cdk.sources.streams.http import rate_limiting
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

from source_courier import SourceCourier
from source_courier.presentation import protocol_lines, uncaught_error_line
from unit_tests.builders import API_KEY, catalog

CANARIES = (API_KEY,)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """Courier, mocked; every registered response must be used and unmatched requests fail."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


class _VirtualClock:
    """Stands in for `time` in the CDK's rate-limit handler and in the `backoff` library, and for `datetime` in
    the latter: each wait is recorded and moves the waiting thread's clock on instead of sleeping, so the
    CDK's `max_time` (how long one request may be retried) counts the waits as if they had been slept.

    Each thread has its own clock, as threads sleep side by side; it starts at a fixed moment and moves only
    by the waits, so a wait trimmed to what is left of `max_time` is the same on every run. The CDK's
    rate-limit handler sleeps in its own callback and then asks `backoff` for an interval of 0: a sleep(0)
    is no wait and is not recorded."""

    START = datetime(2026, 1, 1)

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._slept = threading.local()
        self.datetime = SimpleNamespace(now=self.now)  # `backoff._sync` calls `datetime.datetime.now()`

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.waits.append(seconds)
            self._slept.seconds = getattr(self._slept, "seconds", 0.0) + seconds

    def now(self) -> datetime:
        return self.START + timedelta(seconds=getattr(self._slept, "seconds", 0.0))


@pytest.fixture(autouse=True)
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every retry wait, in the order taken, without sleeping: a 429's (its backoff plus the 1 s the CDK adds)
    and every other retried fault's (the `backoff` library's 1, 2, 4, ... s, within `max_time`).

    The API budget's own answer to a 429 is left out: it fills its one-second window, so the retry waits up to
    a real second on the budget's clock, which no virtual clock reaches (after a real backoff of a second or
    more the window has passed anyway). The end-to-end fault tests (integration_tests) keep it."""
    clock = _VirtualClock()
    monkeypatch.setattr(rate_limiting, "time", clock)
    monkeypatch.setattr(backoff._sync, "time", clock)
    monkeypatch.setattr(backoff._sync, "datetime", clock)
    monkeypatch.setattr(HttpAPIBudget, "get_calls_left_from_response", lambda self, response: None)
    return clock.waits


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
        printed.append(uncaught_error_line(exception, printed))
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
