"""The emulator's two registries, which resource modules fill in at import time, and the request rules they share.

* Routes: a ``Router`` maps a route template (``/lists/{id}/subscriptions``, every placeholder ``{id}``) and a
  method to a handler, ``handler(owner, request) -> JSON body``, registered with ``@router.get(template)``.
  ``MESSAGE_ROUTES`` owns every path under ``/messages`` (its owner is the server's ``MessageLog``, served with
  or without a workspace); ``WORKSPACE_ROUTES`` holds every other object's (owner: the ``Workspace``, GET only).
  A handler raises ``InvalidRequest`` for a 400 and ``NotFound`` (``lookup`` does) for a 404. When several
  templates match a path, the one with the most literal segments wins.
* Build hooks: ``@builds(name, needs=(...))`` registers ``build(workspace) -> {object: count}``; a workspace runs
  every hook once, each after the hooks it needs, and stores what it builds as attributes of the workspace.
  ``per_size`` gives a count per workspace size (``SIZES``).
* Request rules (``Request``): an empty parameter (``cursor=``) means "not sent" and the last of repeated values
  wins; dates (``since``, ``start_date``, ``end_date``) follow ``parse_instant``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote, unquote

from courier_emulator.generation import DAY_MS
from courier_emulator.readings import DEFAULT_READINGS, Readings

Json = dict[str, Any]
Handler = Callable[..., Any]
T = TypeVar("T")

NOT_FOUND: Json = {"message": "Not Found", "type": "invalid_request_error"}
SIZES = ("small", "demo", "bench")


class InvalidRequest(ValueError):
    """A client error, reported as 400 ``invalid_request_error`` with ``str(exc)`` as its message."""


class NotFound(Exception):
    """404 ``invalid_request_error``: an id the served collection does not hold."""


def lookup(mapping: Mapping[str, Any], key: str) -> Any:
    """``mapping[key]``, or ``NotFound``."""
    try:
        return mapping[key]
    except KeyError:
        raise NotFound from None


# --- routes --------------------------------------------------------------------------------------------------


class _Route(NamedTuple):
    template: str
    literals: tuple[tuple[int, str], ...]  # (position, segment) of each literal segment
    ids: tuple[int, ...]  # positions of the ``{id}`` segments
    handlers: dict[str, Handler]  # method -> handler, in registration order


class Match(NamedTuple):
    template: str
    ids: list[str]  # the ``{id}`` segments, percent-decoded, in order
    handlers: Mapping[str, Handler]  # method -> handler


class Router:
    """Route templates and their handlers per method.

    ``prefix``: the router owns every path under it (``owns``), matched or not. ``decode_literals``: literal
    segments are compared percent-decoded (``/bra%6Eds`` is ``/brands``); ``{id}`` segments are always decoded."""

    def __init__(self, *, prefix: str | None = None, decode_literals: bool = True) -> None:
        self.prefix = prefix
        self._under_prefix = f"{prefix}/"
        self.decode_literals = decode_literals
        self._routes: dict[str, _Route] = {}
        self._by_length: dict[int, list[_Route]] = {}

    def route(self, template: str, method: str = "GET") -> Callable[[Handler], Handler]:
        """Decorator: ``handler`` serves ``method template``."""
        parts = template.split("/")[1:]
        if not template.startswith("/") or any(not p or ("{" in p and p != "{id}") for p in parts):
            raise ValueError(f"a route template is /literal/{{id}}/..., got {template!r}")
        if self.prefix is not None and not self.owns(template):
            raise ValueError(f"{template!r} is outside this router's prefix {self.prefix!r}")

        def register(handler: Handler) -> Handler:
            route = self._routes.get(template)
            if route is None:
                literals = tuple((i, p) for i, p in enumerate(parts) if p != "{id}")
                route = _Route(template, literals, tuple(i for i, p in enumerate(parts) if p == "{id}"), {})
                self._routes[template] = route
                self._by_length.setdefault(len(parts), []).append(route)
            if method in route.handlers:
                raise ValueError(f"{method} {template} is registered twice")
            route.handlers[method] = handler
            return handler

        return register

    def get(self, template: str) -> Callable[[Handler], Handler]:
        return self.route(template, "GET")

    def post(self, template: str) -> Callable[[Handler], Handler]:
        return self.route(template, "POST")

    def owns(self, path: str) -> bool:
        return self.prefix is not None and (path == self.prefix or path.startswith(self._under_prefix))

    def match(self, path: str) -> Match | None:
        """The route serving ``path``, or None; a path with an empty segment matches nothing."""
        if not path.startswith("/"):
            return None
        raw = path.split("/")[1:]
        if "" in raw:
            return None
        segments = [unquote(segment) for segment in raw] if self.decode_literals else raw
        best: _Route | None = None
        for route in self._by_length.get(len(segments), ()):
            for position, literal in route.literals:
                if segments[position] != literal:
                    break
            else:  # every literal segment matches: the route with the most literal segments wins
                if best is None or len(route.literals) > len(best.literals):
                    best = route
        if best is None:
            return None
        if self.decode_literals:
            return Match(best.template, [segments[i] for i in best.ids], best.handlers)
        return Match(best.template, [unquote(raw[i]) for i in best.ids], best.handlers)

    def table(self) -> tuple[tuple[str, str], ...]:
        """``(template, handler name)`` of every GET route, in registration order."""
        return tuple((r.template, r.handlers["GET"].__name__) for r in self._routes.values() if "GET" in r.handlers)


MESSAGE_ROUTES = Router(prefix="/messages", decode_literals=False)
WORKSPACE_ROUTES = Router()


class Request(NamedTuple):
    """What a handler gets: the matched template, its ids, the query (each name -> every value sent) and the
    server's readings (``courier_emulator.readings``; ``/messages`` routes only, the defaults elsewhere)."""

    template: str
    ids: list[str]
    query: dict[str, list[str]]
    readings: Readings = DEFAULT_READINGS

    @property
    def path(self) -> str:
        """The template with its ids (decoded): the route a cursor names, e.g. ``/lists/beta.testers/subscriptions``."""
        return self._with_ids(lambda value: value)

    @property
    def url_path(self) -> str:
        """The path as a URL holds it: each id percent-encoded as one segment, as the SDK sends it
        (``/digests/schedules/sch%2F<uuid>/instances``); the same as ``path`` for ids without ``/``, ``%``, ...."""
        return self._with_ids(lambda value: quote(value, safe="!$&'()*+,;=:@"))

    def _with_ids(self, encode: Callable[[str], str]) -> str:
        if not self.ids:
            return self.template
        ids = iter(self.ids)
        return "/".join(encode(next(ids)) if part == "{id}" else part for part in self.template.split("/"))

    def last(self, name: str) -> str | None:
        """The last value sent, even empty."""
        values = self.query.get(name)
        return values[-1] if values else None

    def param(self, name: str) -> str | None:
        """The last value sent; None if not sent or empty."""
        values = self.query.get(name)
        return values[-1] if values and values[-1] != "" else None

    def csv(self, name: str) -> set[str] | None:
        """A comma list (``status=ERROR,WAITING``) as a set; None if empty."""
        value = self.param(name)
        items = {part.strip() for part in value.split(",")} - {""} if value else set()
        return items or None


_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:(Z)|([+-])(\d{2}):(\d{2}))?"
)


def parse_instant(value: str, name: str, *, upper: bool = False) -> int:
    """Epoch ms of ``YYYY-MM-DD`` (UTC midnight) or ``YYYY-MM-DDTHH:MM[:SS[.f]]`` with ``Z``, ``+HH:MM`` or no zone
    (UTC); anything else is ``InvalidRequest``. ``upper``: an inclusive upper bound (a bare date then means its
    last millisecond, and a sub-millisecond instant rounds down, not up)."""
    date = _DATE.fullmatch(value)
    match = date or _DATETIME.fullmatch(value)
    if match is None:
        raise InvalidRequest(f"Invalid {name}: expected an ISO-8601 date or date-time, got {value!r}")
    year, month, day = (int(part) for part in match.group(1, 2, 3))
    hour = minute = second = offset_s = 0
    if date is None:
        hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6) or 0)
        sign, offset_h, offset_m = match.group(9, 10, 11)
        if sign:
            if int(offset_h) > 23 or int(offset_m) > 59:
                raise InvalidRequest(f"Invalid {name}: {value!r} has an impossible offset")
            offset_s = (1 if sign == "+" else -1) * (int(offset_h) * 3600 + int(offset_m) * 60)
    if not (
        year >= 1
        and 1 <= month <= 12
        and 1 <= day <= calendar.monthrange(year, month)[1]
        and hour < 24
        and minute < 60
        and second < 60
    ):
        raise InvalidRequest(f"Invalid {name}: {value!r} is not a real date or time")
    epoch_ms = (calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)) - offset_s) * 1000
    if date is not None:
        return epoch_ms + DAY_MS - 1 if upper else epoch_ms
    nanoseconds = int((match.group(7) or "").ljust(9, "0"))
    return epoch_ms + (nanoseconds // 1_000_000 if upper else -(-nanoseconds // 1_000_000))


# --- build hooks ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builder:
    name: str
    build: Callable[[Any], Mapping[str, int] | None]
    needs: tuple[str, ...]


BUILDERS: dict[str, Builder] = {}


def builds(name: str, *, needs: tuple[str, ...] = ()) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorator: ``build(workspace)`` makes the objects called ``name``, after the hooks named in ``needs``."""

    def register(build: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if name in BUILDERS:
            raise ValueError(f"two build hooks are named {name!r}")
        BUILDERS[name] = Builder(name, build, tuple(needs))
        return build

    return register


def build_order() -> list[Builder]:
    """Every build hook, each after those it needs (otherwise in registration order)."""
    order: dict[str, Builder] = {}
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ValueError(f"build hooks need each other: {' -> '.join([*visiting, name])}")
        if name not in BUILDERS:
            raise ValueError(f"{visiting[-1]!r} needs {name!r}, which no build hook makes")
        visiting.append(name)
        for need in BUILDERS[name].needs:
            visit(need)
        visiting.pop()
        order[name] = BUILDERS[name]

    for name in BUILDERS:
        visit(name)
    return list(order.values())


def per_size(*, small: T, demo: T, bench: T | None = None) -> dict[str, T]:
    """A value per workspace size; ``bench`` is the small workspace's unless given."""
    return {"small": small, "demo": demo, "bench": small if bench is None else bench}
