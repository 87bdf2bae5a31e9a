"""The few components `manifest.yaml` cannot express with the CDK's own.

Each class is a small dataclass on a CDK interface, referenced from the manifest by `class_name`. Each
docstring says what the CDK lacks and shows the YAML that uses it.
"""

from __future__ import annotations

import math
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import InitVar, dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.decoders import Decoder, JsonDecoder
from airbyte_cdk.sources.declarative.extractors.record_extractor import RecordExtractor
from airbyte_cdk.sources.declarative.interpolation import InterpolatedString
from airbyte_cdk.sources.declarative.requesters.error_handlers.backoff_strategy import BackoffStrategy
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.requesters.requester import Requester
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)
from airbyte_cdk.sources.declarative.validators.validation_strategy import ValidationStrategy
from airbyte_cdk.sources.message import MessageRepository
from airbyte_cdk.sources.streams.http import HttpClient
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

# Keys a partition router puts in a slice for its own bookkeeping, not parent data to copy into records.
ROUTER_KEYS = frozenset({"parent_slice", "child_response"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
START_DATE_FORMATS = {  # the shape each format must have exactly; strptime alone accepts "2024-1-5"
    "%Y-%m-%d": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
    "%Y-%m-%dT%H:%M:%SZ": re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z"),
}


def _utcnow() -> datetime:
    """The clock `RetryAfterBackoffStrategy` measures HTTP-dates against (tests replace it)."""
    return datetime.now(timezone.utc)


def _config_error(message: str) -> AirbyteTracedException:
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.config_error)


def _endpoint(response: requests.Response) -> str:
    method = response.request.method
    return f"{method.decode() if isinstance(method, bytes) else method} {urlsplit(str(response.request.url)).path}"


def _paging_error(problem: str) -> AirbyteTracedException:
    message = f"{problem} This is a problem on Courier's side: retry the sync later, and contact Courier support if it persists."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


@dataclass
class GuardedCursorPagination(PaginationStrategy):
    """Follows the page cursor of one of Courier's paging styles, guarded against paging forever.

    `cursor_path` is where a page names the next page's cursor, `more_path` (if the style has one) where it
    says whether more pages follow; paging stops on `more: false` or an empty cursor. The guards, which the
    CDK does not have:
    - a cursor already returned in this partition fails the stream, naming the endpoint, instead of
      paging forever (Courier handing back a cursor twice would otherwise loop): at once if it is one of the
      last `remembered_cursors`, within twice the loop's length otherwise, so memory stays flat over a
      million messages;
    - `max_consecutive_empty_pages` pages in a row with no records and a fresh cursor fail likewise.

    The paths are read in Python: the CDK's CursorPagination renders a `cursor_value` and a `stop_condition`
    template and decodes the page once more, per page, 7% of a CPU-bound read (bench/results.md).

    Partitions of one stream share this object across worker threads, so the bookkeeping is kept per
    thread and per slice, and restarts whenever a partition asks for its first page again.

        pagination_strategy:
          type: CustomPaginationStrategy
          class_name: source_courier.components.GuardedCursorPagination
          cursor_path: [paging, cursor]
          more_path: [paging, more]
          page_size: 100  # on styles that take `limit`
          max_consecutive_empty_pages: 50
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

    def _token(self, response: requests.Response) -> Any | None:
        body = orjson.loads(response.content)
        if self.more_path is not None and not _at(body, self.more_path):
            return None
        return _at(body, self.cursor_path) or None

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        last_page_token_value: Any | None = None,
        page_size_override: int | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> Any | None:
        token = self._token(response)
        chains: dict[str, _Chain] = self._chains.__dict__.setdefault("by_slice", {})
        key = repr(stream_slice)
        if token is None:  # the partition is complete: forget it
            chains.pop(key, None)
            return None
        if last_page_token_value is None or key not in chains:  # the partition (re)starts at page 1
            chains[key] = _Chain()
        chain = chains[key]
        chain.pages += 1
        if token in chain.recent or token == chain.checkpoint:
            raise _paging_error(
                f"Courier returned a page cursor it had already returned while paging {_endpoint(response)} "
                f"({chain.pages} pages in), so paging further would loop forever."
            )
        chain.remember(token, self.remembered_cursors)
        chain.empty_pages = chain.empty_pages + 1 if last_page_size == 0 else 0
        if chain.empty_pages >= self.max_consecutive_empty_pages:
            raise _paging_error(
                f"Courier returned {chain.empty_pages} empty pages in a row, each with a new cursor, while "
                f"paging {_endpoint(response)}; stopping instead of paging without end."
            )
        return token


def _at(body: Any, path: list[str]) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, Mapping) else None
    return body


@dataclass
class _Chain:
    """What one partition's pagination has seen so far, in memory that does not grow with the pages.

    The last cursors are remembered exactly, so a short loop fails at its first repeat. A longer one is
    caught by Brent's method: the cursor at page 1, 2, 4, 8, ... is kept as a checkpoint, and a loop of any
    length returns to a checkpoint within about twice its length."""

    pages: int = 0
    recent: OrderedDict[Any, None] = field(default_factory=OrderedDict)
    checkpoint: Any = None
    next_checkpoint: int = 1
    empty_pages: int = 0

    def remember(self, token: Any, size: int) -> None:
        self.recent[token] = None
        if len(self.recent) > size:
            self.recent.popitem(last=False)
        if self.pages == self.next_checkpoint:
            self.checkpoint, self.next_checkpoint = token, self.next_checkpoint * 2


@dataclass
class TransientRetriesErrorHandler(DefaultErrorHandler):
    """The CDK's DefaultErrorHandler, plus the envelope check, and what it retries stays a transient_error.

    - The envelope check: a 200 whose body is not a JSON object holding the stream's `envelope_key`
      (`records_key` unless the stream names another) is an error page or an unexpected shape, not an
      empty page: it is retried, then fails. A `predicate` response filter could say this in YAML, but it
      parses the page again and renders a template per response: 0.2 ms a page, a tenth of the CPU-bound
      read (bench/results.md).
    - The CDK takes a retried response's failure type from its status code, so a 200 without the envelope,
      or a 409, would end as system_error although it was retried as a passing fault.

        error_handler:
          type: CustomErrorHandler
          class_name: source_courier.components.TransientRetriesErrorHandler
          max_retries: 30
          backoff_strategies: [...]
          response_filters: [...]   # status codes; a 200 that matches none gets the envelope check
    """

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        super().__post_init__(parameters)
        self._envelope_key: str = parameters.get("envelope_key") or parameters.get("records_key") or ""

    def interpret_response(self, response_or_exception: requests.Response | Exception | None) -> ErrorResolution:
        resolution = super().interpret_response(response_or_exception)
        if (
            resolution.response_action == ResponseAction.SUCCESS
            and isinstance(response_or_exception, requests.Response)
            and self._envelope_key
            and not self._has_envelope(response_or_exception)
        ):
            return ErrorResolution(
                response_action=ResponseAction.RETRY,
                failure_type=FailureType.transient_error,
                error_message=f"Courier answered {response_or_exception.request.url} with a body that is not JSON "
                f"or lacks the '{self._envelope_key}' key (an error page or an unexpected envelope); retried, "
                "then stopped so nothing is silently skipped. Check base_url, then try again later.",
            )
        if resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED):
            return replace(resolution, failure_type=FailureType.transient_error)
        return resolution

    def _has_envelope(self, response: requests.Response) -> bool:
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            return False
        return isinstance(body, dict) and self._envelope_key in body


@dataclass
class SkipDeletedParent(ErrorHandler):
    """A child endpoint's 404 skips that one parent, with a log line; every other answer is the delegate's.

    A child stream requests one path per parent record (`/lists/{list_id}/subscriptions`). A parent deleted
    between the parent read and the child request gives 404: that partition yields nothing and the stream
    goes on. The CDK's CompositeErrorHandler cannot say this: it takes `max_retries` from its first handler,
    and a first handler that matches nothing calls every 200 a success, skipping the shared envelope check.

        error_handler:
          type: CustomErrorHandler
          class_name: source_courier.components.SkipDeletedParent
          delegate:
            $ref: "#/definitions/error_handler"
    """

    delegate: ErrorHandler
    parameters: InitVar[Mapping[str, Any]]

    @property
    def max_retries(self) -> int | None:
        return self.delegate.max_retries

    @property
    def max_time(self) -> int | None:
        return self.delegate.max_time

    @property
    def backoff_strategies(self) -> list[BackoffStrategy] | None:
        """The delegate's, which the requester hands to its HTTP client."""
        strategies: list[BackoffStrategy] | None = getattr(self.delegate, "backoff_strategies", None)
        return strategies

    def interpret_response(self, response_or_exception: requests.Response | Exception | None) -> ErrorResolution:
        if isinstance(response_or_exception, requests.Response) and response_or_exception.status_code == 404:
            return ErrorResolution(
                response_action=ResponseAction.IGNORE,
                failure_type=None,
                error_message=f"Skipped {_endpoint(response_or_exception)}: Courier answered 404 Not Found, "
                "so its parent was deleted during the sync.",
            )
        return self.delegate.interpret_response(response_or_exception)


@dataclass
class AddPartitionKeys(RecordTransformation):
    """Copies the slice's parent key (`list_id`, `message_id`, ...) and carried parent fields into each record.

    Child records do not name their parent; the partition router knows it. The CDK's AddFields would need
    one block per stream (its field names cannot come from parameters) and renders a template per record,
    which turns an id such as "12345" into an int. This keeps each value as the parent sent it.

        transformations:
          - type: CustomTransformation
            class_name: source_courier.components.AddPartitionKeys

    Before: `{"recipientId": "user-ada"}` in the slice `{"list_id": "news", "parent_slice": {}}`.
    After: `{"recipientId": "user-ada", "list_id": "news"}`.
    """

    parameters: InitVar[Mapping[str, Any]]

    def transform(
        self,
        record: dict[str, Any],
        config: Config | None = None,
        stream_state: StreamState | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> None:
        if stream_slice is None:
            return
        for fields in (stream_slice.partition, stream_slice.extra_fields):
            for key, value in fields.items():
                if key not in ROUTER_KEYS:
                    record[key] = value


@dataclass
class RecordsAtKey(RecordExtractor):
    """The records under one top-level key of the page: `results`, `items`, `templates` or `runs`.

    The CDK's DpathExtractor finds even a plain key by walking every node of the page (dpath matches a glob
    against each path): 0.2 ms for a page of 10 messages, where a key lookup takes microseconds
    (bench/results.md). A list is yielded record by record, a lone object as one record, anything else
    (a missing key, null) as no records; the error handler has already refused a page without the key.

        extractor:
          type: CustomRecordExtractor
          class_name: source_courier.components.RecordsAtKey
          field_name: "{{ parameters.records_key }}"
    """

    field_name: str
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    decoder: Decoder = field(default_factory=lambda: JsonDecoder(parameters={}))

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        self._key = str(InterpolatedString.create(self.field_name, parameters=parameters).eval(self.config))

    def extract_records(self, response: requests.Response) -> Iterable[MutableMapping[Any, Any]]:
        for body in self.decoder.decode(response):
            records = body.get(self._key) if isinstance(body, Mapping) else None
            if isinstance(records, list):
                yield from records
            elif isinstance(records, MutableMapping):
                yield records


_Exchange = tuple[requests.PreparedRequest, requests.Response]


@dataclass
class _Page:
    """One request of the page store: in flight until `done` is set, then its exchange (None if it failed)."""

    done: threading.Event = field(default_factory=threading.Event)
    exchange: _Exchange | None = None


class _PageStore:
    """The last `window` pages of one stream in one sync, keyed by method, URL and query parameters."""

    def __init__(self, window: int) -> None:
        self._window = window
        self._lock = threading.Lock()
        self._pages: OrderedDict[tuple[Any, ...], _Page] = OrderedDict()
        self.requests_saved = 0

    def fetch(self, key: tuple[Any, ...], send: Callable[[], _Exchange]) -> _Exchange:
        with self._lock:
            page = self._pages.get(key)
            first = page is None
            if page is None:
                page = self._pages[key] = _Page()
                while len(self._pages) > self._window:
                    self._pages.popitem(last=False)
        if not first:
            page.done.wait()
            if page.exchange is not None:
                with self._lock:
                    self.requests_saved += 1
                return page.exchange
            return send()  # the first reader's request failed: this reader requests (and retries) on its own
        try:
            page.exchange = send()
        except BaseException:
            with self._lock:
                if self._pages.get(key) is page:
                    del self._pages[key]
            raise
        finally:
            page.done.set()
        return page.exchange


# One store per stream per sync. A sync is one source instance, whose components all report to one message
# repository (parent streams to a decorator around it, hence the unwrapping); a finished sync's stores go
# with its repository.
_STORES: weakref.WeakKeyDictionary[MessageRepository, dict[str, _PageStore]] = weakref.WeakKeyDictionary()
_STORES_LOCK = threading.Lock()


def _page_store(repository: MessageRepository, stream: str, window: int) -> _PageStore:
    while isinstance(getattr(repository, "_decorated", None), MessageRepository):
        repository = repository._decorated  # type: ignore[attr-defined]
    with _STORES_LOCK:
        stores = _STORES.setdefault(repository, {})
        return stores.setdefault(stream, _PageStore(window))


class _SharedPagesClient:
    """The requester's HTTP client, with GET requests that carry no body fetched through the page store."""

    def __init__(self, client: HttpClient, store: _PageStore) -> None:
        self._client = client
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name == "_client":
            raise AttributeError(name)
        return getattr(self._client, name)

    def send_request(self, http_method: str, url: str, request_kwargs: Mapping[str, Any], **kwargs: Any) -> _Exchange:
        def send() -> _Exchange:
            return self._client.send_request(http_method, url, request_kwargs, **kwargs)

        if http_method != "GET" or kwargs.get("json") or kwargs.get("data"):
            return send()
        params = kwargs.get("params") or {}
        headers = kwargs.get("headers") or {}
        key = (url, tuple(sorted(params.items())), tuple(sorted(headers.items())))
        return self._store.fetch(key, send)


@dataclass
class SharedPages:
    """A parent stream's requester: each page is fetched once per sync, however many streams read it.

    The CDK reads a parent stream again for every child stream that uses it, on top of the parent's own
    read: /messages pages three times when messages, message_history and message_content are selected,
    /lists pages five times with list_subscriptions and the three user streams. Its response cache
    (`use_cache`) would keep every page of the sync in memory and replays a cached bad 200 to every retry,
    so it stays off. Instead this wraps the stream's requester: the readers of one sync share the last
    `window` pages of the stream, and a reader asking for a page another reader is fetching waits for that
    response instead of sending the request again. Readers of one stream walk the same cursor chain at the
    same pace, so they meet within a few pages; one more than `window` pages behind fetches on its own
    (correct, only not shared). A failed request is not shared: each reader retries on its own.

        requester:
          type: CustomRequester
          class_name: source_courier.components.SharedPages
          window: 100
          requester:
            $ref: "#/definitions/base_requester"
    """

    requester: Requester
    config: Config
    parameters: InitVar[Mapping[str, Any]]
    window: int = 100

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.window < 1:
            raise ValueError("window must be at least 1")
        client = getattr(self.requester, "_http_client", None)
        if not isinstance(client, HttpClient):
            raise ValueError("SharedPages wraps an HttpRequester")
        repository = getattr(self.requester, "message_repository", None)
        if not isinstance(repository, MessageRepository):
            raise ValueError("SharedPages needs the requester's message repository, which scopes pages to a sync")
        store = _page_store(repository, str(parameters.get("name", "")), self.window)
        self.requester._http_client = _SharedPagesClient(client, store)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> Any:  # everything else is the wrapped requester's
        if name == "requester":
            raise AttributeError(name)
        return getattr(self.requester, name)


@dataclass
class RetryAfterBackoffStrategy(BackoffStrategy):
    """Waits as long as `Retry-After` says, given in seconds or as an HTTP-date; otherwise 2^attempt seconds.
    Both capped at `max_wait_seconds`.

    The CDK's `WaitTimeFromHeader` parses numbers only, and its `ExponentialBackoffStrategy` has no cap: the
    attempt count grows with every retry of a request, so after twenty 429s answered with `Retry-After: 1`,
    a 503 without the header would have waited 2^21 s (24 days).

        backoff_strategies:
          - type: CustomBackoffStrategy
            class_name: source_courier.components.RetryAfterBackoffStrategy
            max_wait_seconds: 600
    """

    parameters: InitVar[Mapping[str, Any]]
    header: str = "Retry-After"
    max_wait_seconds: float = 600

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.max_wait_seconds <= 0:
            raise ValueError("max_wait_seconds must be positive")

    def backoff_time(
        self,
        response_or_exception: requests.Response | requests.RequestException | None,
        attempt_count: int,
    ) -> float:
        wait = None
        if isinstance(response_or_exception, requests.Response):
            wait = self._seconds(response_or_exception.headers.get(self.header, "").strip())
        if wait is None or wait <= 0:  # no header, unparseable or already past: exponential, as the CDK's
            wait = 2.0 ** min(attempt_count, 64)
        return min(wait, float(self.max_wait_seconds))

    @staticmethod
    def _seconds(value: str) -> float | None:
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            pass
        else:
            return seconds if math.isfinite(seconds) else None
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:  # RFC 9110 HTTP-dates are GMT
            moment = moment.replace(tzinfo=timezone.utc)
        return (moment - _utcnow()).total_seconds()


@dataclass
class TrimApiKey(ConfigTransformation):
    """Strips the whitespace a pasted key often carries; the entrypoint then masks the trimmed key.

    Transformations run before validation and before any request, so the key sent, validated and masked
    is the trimmed one.

        config_normalization_rules:
          transformations:
            - type: CustomConfigTransformation
              class_name: source_courier.components.TrimApiKey
    """

    def transform(self, config: MutableMapping[str, Any]) -> None:
        if isinstance(config.get("api_key"), str):
            config["api_key"] = config["api_key"].strip()


@dataclass
class ApiKeyIsOneToken(ValidationStrategy):
    """Refuses an empty key or one with whitespace inside it, with a config error naming the fix.

    validations:
      - type: DpathValidator
        field_path: [api_key]
        validation_strategy:
          type: CustomValidationStrategy
          class_name: source_courier.components.ApiKeyIsOneToken
    """

    def validate(self, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise _config_error(
                "api_key is empty. Copy an API key from Settings > API Keys in Courier and paste it into api_key."
            )
        if any(character.isspace() for character in value):
            raise _config_error(
                "api_key contains whitespace inside it, so it is not a Courier API key. Copy the key again from "
                "Settings > API Keys in Courier, as one unbroken string."
            )


@dataclass
class HttpsOrLoopbackUrl(ValidationStrategy):
    """Accepts `https://` URLs, and `http://` only to this machine, so the key never travels in clear text.

    validations:
      - type: DpathValidator
        field_path: [base_url]
        validation_strategy:
          type: CustomValidationStrategy
          class_name: source_courier.components.HttpsOrLoopbackUrl
    """

    def validate(self, value: Any) -> None:
        if value == "":  # a cleared optional field: the default applies
            return
        fix = (
            "Use an https:// URL such as https://api.courier.com (the default: remove base_url to use it), "
            "or http:// only to 127.0.0.1, [::1] or localhost for a local test server."
        )
        try:
            parts = urlsplit(value) if isinstance(value, str) else None
            host = parts.hostname if parts else None
            parts.port if parts else None  # noqa: B018 - raises ValueError on a malformed port
            parse_url(value) if parts else None  # as requests will: whitespace inside the host fails here
        except (ValueError, LocationParseError):
            parts, host = None, None
        if parts is not None and "@" in parts.netloc:  # not echoed: the URL holds a password
            raise _config_error(f"base_url must not contain a user name or password. {fix}")
        if parts is None or not host:
            raise _config_error(f"base_url {value!r} is not a usable URL. {fix}")
        if parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS):
            return
        raise _config_error(
            f"base_url {value!r} would send the API key unencrypted or over an unsupported scheme. {fix}"
        )


@dataclass
class CourierStartDate(ValidationStrategy):
    """Accepts `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` that name a real UTC moment.

    validations:
      - type: DpathValidator
        field_path: [start_date]
        validation_strategy:
          type: CustomValidationStrategy
          class_name: source_courier.components.CourierStartDate
    """

    def validate(self, value: Any) -> None:
        if value == "":  # a cleared optional field: read everything Courier retains
            return
        for date_format, shape in START_DATE_FORMATS.items():
            if isinstance(value, str) and shape.fullmatch(value):
                try:
                    datetime.strptime(value, date_format)
                except ValueError:  # e.g. 2024-02-30
                    break
                return
        raise _config_error(
            f"start_date {value!r} is not a date Courier can filter on. Use YYYY-MM-DD or "
            "YYYY-MM-DDTHH:MM:SSZ in UTC, e.g. 2024-01-31 or 2024-01-31T00:00:00Z, or remove start_date to "
            "read everything Courier still retains."
        )
