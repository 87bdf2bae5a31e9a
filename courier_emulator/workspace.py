"""A deterministic Courier workspace: every object the API can read except messages, generated from indexes.

``Workspace(size, seed).handle(path, query)`` answers one authenticated GET (the server checks the key and
serves ``/messages`` itself) with ``(status, JSON body)``, or None for a path it does not serve. Shapes,
field names and types follow ``shared/reference/courier-api.md`` sections A.2-A.8, A.10-A.12 and D, checked
against the SDK models of ``trycourier==9.13.0`` (``integration_tests/test_emulator_fidelity.py``).

The objects and their routes live in ``courier_emulator.resources`` (one module per family, each documenting its
routes; ``ROUTES`` lists them all); this module runs their build hooks and dispatches through
``registry.WORKSPACE_ROUTES``. Paging envelopes and cursors: ``courier_emulator.paging``.

Sizes: ``small`` holds a few of each object and pages paging-A lists 2 at a time, so that every paged list still
has a second page; ``demo`` is a realistic workspace paged 10 at a time; ``bench`` is ``small`` with 20,000
tenants, for paging benchmarks at 100 a page. Every object is built once, in ``__init__``, from its index and a
hash of ``(seed, kind, index)``: the same size and seed give the same workspace. Readable ids (users, lists,
tenants, audiences) depend on the index only; hashed ids (brands, templates, runs, ...), timestamps and
memberships also on the seed. "Now" is ``courier_emulator.data.DEFAULT_ANCHOR_MS`` (2026-01-01T00:00:00Z):
every timestamp is before it.

Rules shared by every route:

* Paging and cursors as in ``courier_emulator.paging``. An empty ``cursor=`` (or any empty filter) means "not
  sent". When a parameter is repeated, the last value wins.
* Dates (``since``, ``start_date``, ``end_date``): ``YYYY-MM-DD`` (UTC midnight; as ``end_date``, the whole
  day) or ``YYYY-MM-DDTHH:MM[:SS[.f]]`` with ``Z``, ``+HH:MM`` or no zone (read as UTC); anything else is 400.
* An unknown id under a served collection is 404 ``{"message": "Not Found", "type": "invalid_request_error"}``;
  a path outside ``ROUTES`` (``/messages`` included) is None.

Timestamps (reference D.1): epoch-ms ints on brands, providers, routing strategies and V1/V2 notification
templates; ISO-8601 strings (``...T..:..:...mmmZ``) everywhere else, camelCase ``createdAt``/``updatedAt``
on automation and journey templates. Undocumented fields, as Courier sends them (``UNDOCUMENTED_FIELDS``):
``channel`` on providers, ``brand_id`` on some V1 templates.
"""

from __future__ import annotations

import copy
from typing import Any

from courier_emulator import resources
from courier_emulator.generation import DAY_MS, DEFAULT_ANCHOR_MS, Generator, iso
from courier_emulator.paging import encode_cursor
from courier_emulator.registry import (
    NOT_FOUND,
    SIZES,
    WORKSPACE_ROUTES,
    InvalidRequest,
    NotFound,
    Request,
    build_order,
    parse_instant,
    per_size,
)
from courier_emulator.resources.automations import RUN_RETENTION_DAYS
from courier_emulator.resources.brands import PROVIDER_SECRET_MARKER
from courier_emulator.resources.notifications import MESSAGE_TEMPLATES

__all__ = [
    "DAY_MS",
    "MESSAGE_TEMPLATES",
    "NOT_FOUND",
    "PAGE_SIZES",
    "PROVIDER_SECRET_MARKER",
    "ROUTES",
    "RUN_RETENTION_DAYS",
    "SIZES",
    "UNDOCUMENTED_FIELDS",
    "Workspace",
    "encode_cursor",
    "iso",
    "parse_instant",
]

resources.load()  # every resource module registers its routes and build hooks

Json = dict[str, Any]
Response = tuple[int, Any]

# (route template, handler name) of every route the workspace serves.
ROUTES: tuple[tuple[str, str], ...] = WORKSPACE_ROUTES.table()
UNDOCUMENTED_FIELDS: dict[str, tuple[str, ...]] = {"providers": ("channel",), "notifications (V1)": ("brand_id",)}
PAGE_SIZES = per_size(small=2, demo=10)  # paging-A lists (and /automations, /journeys) without a limit


class Workspace(Generator):
    """Every non-message object of one Courier workspace; see the module docstring.

    ``page_size`` overrides the size's paging-A page size (2 for ``small``, 10 for ``demo``), which also
    applies to ``/automations`` and ``/journeys``; endpoints that take ``limit`` use their own defaults.
    The build hooks store the objects as attributes (``workspace.brands``, ``workspace.tenant_users``, ...)."""

    def __init__(self, size: str = "small", seed: int = 0, *, page_size: int | None = None) -> None:
        if size not in SIZES:
            raise ValueError(f"workspace size must be one of {', '.join(SIZES)}, got {size!r}")
        self.size = size
        self.seed = seed
        self.page_size = page_size if page_size is not None else PAGE_SIZES[size]
        if self.page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {self.page_size}")
        self.anchor_ms = DEFAULT_ANCHOR_MS
        self._object_counts: dict[str, int] = {}
        for builder in build_order():
            self._object_counts.update(builder.build(self) or {})

    def __getattr__(self, name: str) -> Any:
        # Only reached for an attribute no build hook set: name the hook that should have.
        raise AttributeError(f"the workspace has no {name!r}: no build hook set it (see courier_emulator.registry)")

    def handle(self, path: str, query: dict[str, list[str]]) -> Response | None:
        """``(status, JSON-serialisable body)`` for a GET of ``path``, or None if the path is not served."""
        match = WORKSPACE_ROUTES.match(path)
        if match is None:
            return None
        try:
            return 200, copy.deepcopy(match.handlers["GET"](self, Request(match.template, match.ids, query)))
        except InvalidRequest as exc:
            return 400, {"message": str(exc), "type": "invalid_request_error"}
        except NotFound:
            return 404, dict(NOT_FOUND)

    def route_template(self, path: str) -> str | None:
        """The ``ROUTES`` template of a served path (``/lists/{id}/subscriptions``), else None."""
        match = WORKSPACE_ROUTES.match(path)
        return None if match is None else match.template

    def object_counts(self) -> dict[str, int]:
        """How many of each object this workspace holds."""
        return dict(self._object_counts)
