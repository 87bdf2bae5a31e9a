"""Local stand-in for Courier's REST API (api.courier.com), for testing source-courier without a real account.

Stdlib only. See ``courier_emulator.data`` (the deterministic message log, its sub-resources, the cursor, the
``enqueued_after`` rules and time moving forward), ``courier_emulator.faults`` (fault injection),
``courier_emulator.server`` (HTTP behaviour, routing to the optional workspace of other objects, admin
endpoints, ``run_in_thread``), ``courier_emulator.fixtures`` (pytest fixtures) and
``python -m courier_emulator --help`` (the CLI). Shapes follow ``shared/reference/courier-api.md`` sections
A.1, B, C and D; the non-message objects live in ``courier_emulator.workspace``.
"""

from __future__ import annotations

# A documented, public demo key: it guards nothing, it only lets clients exercise the auth path.
# Defined before the imports below, because courier_emulator.server imports it from here.
DEMO_API_KEY = "courier-emulator-demo-key"

from courier_emulator.data import (  # noqa: E402
    DEFAULT_ANCHOR_MS,
    DEFAULT_MESSAGES,
    DEFAULT_SPACING_MS,
    DEFAULT_STATUS_WINDOW_MS,
    PAGE_SIZE,
    MessageLog,
    message,
)
from courier_emulator.faults import FAULT_KINDS, Fault, FaultPlan  # noqa: E402
from courier_emulator.server import RunningEmulator, run_in_thread  # noqa: E402

__all__ = [
    "DEFAULT_ANCHOR_MS",
    "DEFAULT_MESSAGES",
    "DEFAULT_SPACING_MS",
    "DEFAULT_STATUS_WINDOW_MS",
    "DEMO_API_KEY",
    "FAULT_KINDS",
    "PAGE_SIZE",
    "Fault",
    "FaultPlan",
    "MessageLog",
    "RunningEmulator",
    "message",
    "run_in_thread",
]
