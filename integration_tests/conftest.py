"""Shared by the end-to-end tests: the emulator's pytest fixtures, and the session-end scan for leaked keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from integration_tests.cli_runner import CANARIES, OUTPUTS

pytest_plugins = ["courier_emulator.fixtures"]


@pytest.fixture(scope="session", autouse=True)
def no_key_in_any_cli_output() -> Iterator[None]:
    yield
    for output in OUTPUTS:
        for canary in CANARIES:
            assert canary not in output
