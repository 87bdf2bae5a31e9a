"""The components `manifest.yaml` needs where CDK 7.39 has none; each docstring names the gap.

The Cloud export swaps each for the nearest CDK component (docs/courier.md lists what is lost). No `from
__future__ import annotations`: the Builder execs this file outside `sys.modules`, where a dataclass with
string annotations fails to import.
"""

import math
import re
import socket
import ssl
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import InitVar, dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.interpolation.interpolated_string import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.error_handlers.backoff_strategy import BackoffStrategy
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.validators.validation_strategy import ValidationStrategy
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Record, StreamSlice
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from urllib3.exceptions import LocationParseError, NewConnectionError
from urllib3.util import parse_url


def _utcnow() -> datetime:  # the clock HTTP-dates are measured against (tests replace it)
    return datetime.now(timezone.utc)


def _endpoint(response: requests.Response) -> str:
    return f"{response.request.method} {urlsplit(str(response.request.url)).path}"


def _paging_error(problem: str) -> AirbyteTracedException:
    message = f"{problem} This is a problem on Courier's side: retry the sync later, and contact Courier support if it persists."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


def _at(body: Any, path: list[str]) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, Mapping) else None
    return body


@dataclass
class GuardedCursorPagination(PaginationStrategy):
    """Follows the cursor at `cursor_path` until `more_path` (if any) is false or the cursor empty, guarded.

    The gap: the CDK's CursorPagination cannot see the previous token, so a cursor Courier hands back twice
    pages forever. Here a cursor already returned in the partition fails the stream naming the endpoint: at
    once if it is one of the last `remembered_cursors`, else within twice the loop's length (Brent's
    checkpoints at pages 1, 2, 4, ...), memory flat; `max_consecutive_empty_pages` empty pages with fresh
    cursors fail likewise. Bookkeeping is per thread and slice, restarted when a partition asks for page 1.
    """

    cursor_path: list[str]
    parameters: InitVar[Mapping[str, Any]]
    more_path: list[str] | None = None
    page_size: int | None = None
    max_consecutive_empty_pages: int = 50
    remembered_cursors: int = 1000
    _chains: threading.local = field(init=False, repr=False, default_factory=threading.local)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.max_consecutive_empty_pages < 1:
            raise ValueError("max_consecutive_empty_pages must be at least 1")
        if not self.cursor_path:
            raise ValueError("cursor_path names where a page gives the next cursor, e.g. [paging, cursor]")

    @property
    def initial_token(self) -> Any | None:
        return None

    def get_page_size(self) -> int | None:
        return self.page_size

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        last_page_token_value: Any | None = None,
        page_size_override: int | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> Any | None:
        body = orjson.loads(response.content)
        more = self.more_path is None or bool(_at(body, self.more_path))
        token = (_at(body, self.cursor_path) or None) if more else None
        chains: dict[str, dict[str, Any]] = self._chains.__dict__.setdefault("by_slice", {})
        key = repr(stream_slice)
        if token is None:  # the partition is complete: forget it
            chains.pop(key, None)
            return None
        if last_page_token_value is None or key not in chains:  # the partition (re)starts at page 1
            chains[key] = {"pages": 0, "recent": OrderedDict(), "checkpoint": None, "next": 1, "empty": 0}
        chain = chains[key]
        chain["pages"] += 1
        if token in chain["recent"] or token == chain["checkpoint"]:
            raise _paging_error(
                f"Courier returned a page cursor it had already returned while paging {_endpoint(response)} "
                f"({chain['pages']} pages in), so paging further would loop forever."
            )
        chain["recent"][token] = None
        if len(chain["recent"]) > self.remembered_cursors:
            chain["recent"].popitem(last=False)
        if chain["pages"] == chain["next"]:
            chain["checkpoint"], chain["next"] = token, chain["next"] * 2
        chain["empty"] = chain["empty"] + 1 if last_page_size == 0 else 0
        if chain["empty"] >= self.max_consecutive_empty_pages:
            raise _paging_error(
                f"Courier returned {chain['empty']} empty pages in a row, each with a new cursor, while "
                f"paging {_endpoint(response)}; stopping instead of paging without end."
            )
        return token


@dataclass
class CourierErrorHandler(DefaultErrorHandler, BackoffStrategy):
    """The CDK's DefaultErrorHandler (the manifest's response filters decide), with Courier's retry waits.

    The gaps, in the CDK's WaitTimeFromHeader, ExponentialBackoffStrategy and filters:
    - `Retry-After` may be seconds or an HTTP-date; the CDK reads numbers only.
    - Their waits are uncapped (the attempt count grows with every retry of a request, so after twenty 429s
      a 503 would wait 2^21 s): every wait is at most `max_wait_seconds`.
    - The CDK logs any wait a strategy returns as "Rate limit exceeded": this answers a 429 only; other
      retried faults take the CDK's own exponential backoff (1, 2, 4, ... s) within `max_time`.
    - What is retried ends as transient_error, not as its status code's failure type.
    - Filters match responses only: a refused connection, a DNS or a TLS failure is retried
      `connection_retries` times (interpolated: `check` sets fewer), then fails naming host and cause.
    """

    max_wait_seconds: float = 600
    header: str = "Retry-After"
    connection_retries: int | str = 8

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        if self.max_wait_seconds <= 0:
            raise ValueError("max_wait_seconds must be positive")
        self.backoff_strategies = [self]  # the requester hands these to its HTTP client
        retries = InterpolatedString.create(str(self.connection_retries), parameters=parameters).eval(self.config)
        self.connection_tries, self.unreachable_tries = int(retries) + 1, dict[int, int]()  # tries, by thread

    def interpret_response(self, response_or_exception: requests.Response | Exception | None) -> ErrorResolution:
        thread, cause = threading.get_ident(), _unreachable(response_or_exception)  # a thread retries one request
        tries = self.unreachable_tries.pop(thread, 0) + 1
        if cause is None:
            resolution = super().interpret_response(response_or_exception)
            retried = resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED)
            return replace(resolution, failure_type=FailureType.transient_error) if retried else resolution
        parts = urlsplit(str(getattr(getattr(response_or_exception, "request", None), "url", "")))
        host = parts.netloc if parts.port else f"{parts.netloc}:{443 if parts.scheme == 'https' else 80}"
        message = f"Could not connect to {host}: {cause} (attempt {tries} of {self.connection_tries}). Check base_url, and that this machine can reach {host}."
        if tries >= self.connection_tries:
            return ErrorResolution(ResponseAction.FAIL, FailureType.transient_error, message)
        self.unreachable_tries[thread] = tries
        return ErrorResolution(ResponseAction.RETRY, FailureType.transient_error, message)

    def backoff_time(self, response_or_exception: Any, attempt_count: int = 0) -> float | None:
        if not isinstance(response_or_exception, requests.Response) or response_or_exception.status_code != 429:
            return None
        wait = _retry_after_seconds(response_or_exception.headers.get(self.header, "").strip())
        if wait is None or wait <= 0:  # no header, unparseable or already past: exponential
            wait = 2.0 ** min(attempt_count, 64)
        return min(wait, float(self.max_wait_seconds))


def _unreachable(error: Any) -> str | None:
    """Why no connection could be made (refused, DNS, TLS, ...), or None for any other outcome."""
    if not isinstance(error, requests.ConnectionError) or isinstance(error, requests.Timeout):
        return None
    causes = list(_causes(error))
    if not any(isinstance(cause, (NewConnectionError, ssl.SSLError)) for cause in causes):
        return None  # e.g. a connection dropped mid-response: retried as any other fault
    last = causes[-1]
    text = re.sub(r" \(_ssl\.c:\d+\)$", "", str(getattr(last, "strerror", None) or last))
    if isinstance(last, ssl.SSLError):
        return f"the TLS handshake failed ({text})"
    if isinstance(last, socket.gaierror):
        return f"its name was not found in DNS ({text})"
    return text[:1].lower() + text[1:]


def _causes(error: BaseException | None, depth: int = 10) -> Iterator[BaseException]:
    while error is not None and (depth := depth - 1) >= 0:  # requests' wraps urllib3's, which wraps the socket's
        yield error
        linked = (error.__cause__, error.__context__, getattr(error, "reason", None), *error.args[:1])
        error = next((cause for cause in linked if isinstance(cause, BaseException)), None)


def _retry_after_seconds(value: str) -> float | None:
    try:
        return float(value) if math.isfinite(float(value)) else None
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:  # RFC 9110 HTTP-dates are GMT
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _utcnow()).total_seconds()


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
START_DATE_FORMATS = {  # the shape each format must have exactly; strptime alone accepts "2024-1-5"
    "%Y-%m-%d": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "%Y-%m-%dT%H:%M:%SZ": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"),
}
BASE_URL_FIX = (
    "Use an https:// URL such as https://api.courier.com (the default: remove base_url to use it), "
    "or http:// only to 127.0.0.1, [::1] or localhost for a local test server."
)


def _api_key_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value:
        return "api_key is empty. Copy an API key from Settings > API Keys in Courier and paste it into api_key."
    if any(character.isspace() for character in value):
        return "api_key contains whitespace inside it, so it is not a Courier API key. Copy the key again from Settings > API Keys in Courier, as one unbroken string."
    return None


def _base_url_problem(value: Any) -> str | None:
    if value == "":  # a cleared optional field: the default applies
        return None
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        host = parts.hostname if parts else None
        parts.port if parts else None  # noqa: B018 - raises ValueError on a malformed port
        parse_url(value) if parts else None  # as requests will: whitespace inside the host fails here
    except (ValueError, LocationParseError):
        parts, host = None, None
    if parts is not None and "@" in parts.netloc:  # not echoed: the URL holds a password
        return f"base_url must not contain a user name or password. {BASE_URL_FIX}"
    if parts is None or not host:
        return f"base_url {value!r} is not a usable URL. {BASE_URL_FIX}"
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        return None
    return f"base_url {value!r} would send the API key unencrypted or over an unsupported scheme. {BASE_URL_FIX}"


def _start_date_problem(value: Any) -> str | None:
    if value == "":  # a cleared optional field: read everything Courier retains
        return None
    for date_format, shape in START_DATE_FORMATS.items():
        if isinstance(value, str) and shape.fullmatch(value):
            try:
                datetime.strptime(value, date_format)
            except ValueError:  # e.g. 2024-02-30
                break
            return None
    return (
        f"start_date {value!r} is not a date Courier can filter on. Use YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ in "
        "UTC, e.g. 2024-01-31 or 2024-01-31T00:00:00Z, or remove start_date to read everything Courier still retains."
    )


CONFIG_RULES: dict[str, Callable[[Any], str | None]] = {
    "api_key": _api_key_problem,
    "base_url": _base_url_problem,
    "start_date": _start_date_problem,
}


@dataclass
class CourierConfigField(ValidationStrategy):
    """Refuses a config field Courier cannot use, with a config_error naming the field and the fix.

    The gap: ValidateAdheresToSchema's plain ValueError names neither field nor fix, and a spec `pattern`
    cannot tell a real date (2024-02-30) or a URL requests can parse. `field` picks the rule: `api_key` (no
    whitespace inside), `base_url` (https://, or http:// to loopback only), `start_date` (a real UTC moment).
    """

    field: str
    parameters: InitVar[Mapping[str, Any] | None] = None  # the spec's validators get none

    def __post_init__(self, parameters: Mapping[str, Any] | None) -> None:
        if self.field not in CONFIG_RULES:
            raise ValueError(f"CourierConfigField has rules for {sorted(CONFIG_RULES)}, not {self.field!r}")

    def validate(self, value: Any) -> None:
        problem = CONFIG_RULES[self.field](value)
        if problem:
            raise AirbyteTracedException(
                message=problem, internal_message=problem, failure_type=FailureType.config_error
            )
