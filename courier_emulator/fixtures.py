"""pytest fixtures that run the Courier emulator in-process (see ``courier_emulator.server.run_in_thread``).

Use them with ``pytest_plugins = ["courier_emulator.fixtures"]`` (in a test module or the root conftest).

* ``courier_emulator``: a running emulator with the default log (25 messages), ``FIXTURE_API_KEY``, no
  workspace (non-message paths are 404) and no faults.
* ``courier_emulator_factory``: ``start(**run_in_thread_kwargs)`` for other sizes, anchors, keys, status
  windows, a workspace (``workspace="small"`` or any object with ``handle(path, query)``), a fault plan
  (``faults=FaultPlan(...)``) or readings (``auth_failure_status=401``, ``honour_messages_limit=True``,
  ``apply_enqueued_after=False``; ``courier_emulator.readings``); every emulator it started is stopped at teardown.

A running emulator changes at run time through ``advance(...)``, ``set_faults(...)``, ``set_readings(...)``,
``reset()`` and ``stats()`` (the same as the ``/__admin/`` endpoints, see ``courier_emulator.admin``).

``FIXTURE_API_KEY`` is long and distinctive on purpose, so a test can grep logs, state or output for it and
prove the key never leaks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from courier_emulator.server import RunningEmulator, run_in_thread

FIXTURE_API_KEY = "courier-emulator-fixture-key-7d1e0c4b9a2f46e8b3c5a9d0e6f1b27c"

EmulatorFactory = Callable[..., RunningEmulator]


@pytest.fixture
def courier_emulator_factory() -> Iterator[EmulatorFactory]:
    started: list[RunningEmulator] = []

    def start(**options: Any) -> RunningEmulator:
        options.setdefault("api_key", FIXTURE_API_KEY)
        emulator = run_in_thread(**options)
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.stop()


@pytest.fixture
def courier_emulator(courier_emulator_factory: EmulatorFactory) -> RunningEmulator:
    return courier_emulator_factory()
