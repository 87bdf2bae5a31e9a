"""Local stand-in for Courier's REST API (api.courier.com), for testing source-courier without a real account.

Stdlib only (orjson when installed). Shapes follow ``shared/reference/courier-api.md`` sections A.1, B, C and D.

* Core: ``server`` (HTTP parsing, auth, dispatch, one write per response; ``run_in_thread``), ``admin`` (the
  ``/__admin/`` hooks: request record, stats, advance, fault plan), ``replies`` (responses, error envelope),
  ``registry`` (the route registry, method + path template -> handler, and the build hooks), ``generation``
  (seeded deterministic data helpers), ``paging`` (envelopes A-D), ``faults`` (fault injection), ``readings``
  (where Courier's docs and the live API disagree, which one to serve: a 403 or 401 for a bad key, ``limit`` and
  ``enqueued_after`` on ``/messages``).
* Data: ``data`` (``MessageLog``: the message log, its cursor, time moving forward) and ``workspace``
  (``Workspace``: runs the build hooks, serves ``WORKSPACE_ROUTES``); ``resources/``: one module per resource
  family (messages, lists, audiences, tenants, automations, notifications, brands, preferences, users).
* ``fixtures`` (pytest fixtures) and ``python -m courier_emulator --help`` (the CLI).

To add a resource, e.g. ``/webhooks``, write ONE module, ``resources/webhooks.py`` (imported automatically:
nothing else lists it), plus its test (``test_emulator_fidelity.py`` checks every route against the SDK):

    from courier_emulator.generation import iso
    from courier_emulator.paging import paging_a
    from courier_emulator.registry import WORKSPACE_ROUTES, builds, lookup, per_size

    COUNT = per_size(small=2, demo=5)  # per workspace size (bench = small unless given)

    @builds("webhooks", needs=("users",))  # runs after the users hook; data only from ws.h/ws.ago/...
    def build_webhooks(ws):
        ws.webhooks = [{"id": ws.courier_id("webhook", i), "owner": ws.user_ids[i % len(ws.user_ids)],
                        "created": iso(ws.ago("webhook", i, 1, 90))} for i in range(COUNT[ws.size])]
        ws.webhooks_by_id = {w["id"]: w for w in ws.webhooks}
        return {"webhooks": len(ws.webhooks)}  # for Workspace.object_counts()

    @WORKSPACE_ROUTES.get("/webhooks")  # request: .ids, .param(name), .path; raise InvalidRequest for a 400
    def list_webhooks(ws, request):
        return paging_a(request, ws.webhooks, "id", "results", ws.page_size)

    @WORKSPACE_ROUTES.get("/webhooks/{id}")
    def retrieve_webhook(ws, request):
        return lookup(ws.webhooks_by_id, request.ids[0])  # NotFound (a 404) for an unknown id
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
from courier_emulator.readings import Readings  # noqa: E402
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
    "Readings",
    "RunningEmulator",
    "message",
    "run_in_thread",
]
