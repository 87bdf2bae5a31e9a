"""The few components `manifest.yaml` cannot express with the CDK's own.

Each class is a small dataclass on a CDK interface, referenced from the manifest by `class_name`. Each
docstring says what the CDK lacks and shows the YAML that uses it.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, MutableMapping
from dataclasses import InitVar, dataclass, field, replace
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from airbyte_cdk.models import FailureType
from airbyte_cdk.sources.declarative.requesters.error_handlers.backoff_strategy import BackoffStrategy
from airbyte_cdk.sources.declarative.requesters.error_handlers.default_error_handler import DefaultErrorHandler
from airbyte_cdk.sources.declarative.requesters.paginators.strategies.pagination_strategy import (
    PaginationStrategy,
)
from airbyte_cdk.sources.declarative.transformations import RecordTransformation
from airbyte_cdk.sources.declarative.transformations.config_transformations.config_transformation import (
    ConfigTransformation,
)
from airbyte_cdk.sources.declarative.validators.validation_strategy import ValidationStrategy
from airbyte_cdk.sources.streams.http.error_handlers import ErrorHandler
from airbyte_cdk.sources.streams.http.error_handlers.response_models import ErrorResolution, ResponseAction
from airbyte_cdk.sources.types import Config, Record, StreamSlice, StreamState
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

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
    return f"{response.request.method} {urlsplit(response.request.url).path}"


def _paging_error(problem: str) -> AirbyteTracedException:
    message = f"{problem} This is a problem on Courier's side: retry the sync later, and contact Courier support if it persists."
    return AirbyteTracedException(message=message, internal_message=message, failure_type=FailureType.system_error)


@dataclass
class GuardedCursorPagination(PaginationStrategy):
    """Wraps a cursor pagination strategy with the loop guards the CDK does not have.

    The wrapped strategy decides the next cursor (and stops on `more: false` or an empty cursor). On top:
    - a cursor already returned in this partition fails the stream, naming the endpoint, instead of
      paging forever (Courier handing back a cursor twice would otherwise loop);
    - `max_consecutive_empty_pages` pages in a row with no records and a fresh cursor fail likewise.

    Partitions of one stream share this object across worker threads, so the bookkeeping is kept per
    thread and per slice, and restarts whenever a partition asks for its first page again.

        pagination_strategy:
          type: CustomPaginationStrategy
          class_name: source_courier.components.GuardedCursorPagination
          max_consecutive_empty_pages: 50
          delegate:
            type: CursorPagination
            cursor_value: "{{ response.get('paging', {}).get('cursor') }}"
            stop_condition: "{{ not response.get('paging', {}).get('more') or not response.get('paging', {}).get('cursor') }}"
    """

    delegate: PaginationStrategy
    parameters: InitVar[Mapping[str, Any]]
    max_consecutive_empty_pages: int = 50
    _chains: threading.local = field(init=False, repr=False, default_factory=threading.local)

    def __post_init__(self, parameters: Mapping[str, Any]) -> None:
        if self.max_consecutive_empty_pages < 1:
            raise ValueError("max_consecutive_empty_pages must be at least 1")

    @property
    def initial_token(self) -> Any | None:
        return self.delegate.initial_token

    def get_page_size(self) -> int | None:
        return self.delegate.get_page_size()

    def next_page_token(
        self,
        response: requests.Response,
        last_page_size: int,
        last_record: Record | None,
        last_page_token_value: Any | None = None,
        page_size_override: int | None = None,
        stream_slice: StreamSlice | None = None,
    ) -> Any | None:
        token = self.delegate.next_page_token(
            response=response,
            last_page_size=last_page_size,
            last_record=last_record,
            last_page_token_value=last_page_token_value,
            page_size_override=page_size_override,
        )
        chains: dict[str, _Chain] = self._chains.__dict__.setdefault("by_slice", {})
        key = repr(stream_slice)
        if token is None:  # the partition is complete: forget it
            chains.pop(key, None)
            return None
        if last_page_token_value is None or key not in chains:  # the partition (re)starts at page 1
            chains[key] = _Chain()
        chain = chains[key]
        if token in chain.seen:
            raise _paging_error(
                f"Courier returned a page cursor it had already returned while paging {_endpoint(response)} "
                f"({len(chain.seen) + 1} pages in), so paging further would loop forever."
            )
        chain.seen.add(token)
        chain.empty_pages = chain.empty_pages + 1 if last_page_size == 0 else 0
        if chain.empty_pages >= self.max_consecutive_empty_pages:
            raise _paging_error(
                f"Courier returned {chain.empty_pages} empty pages in a row, each with a new cursor, while "
                f"paging {_endpoint(response)}; stopping instead of paging without end."
            )
        return token


@dataclass
class _Chain:
    """What one partition's pagination has seen so far."""

    seen: set[Any] = field(default_factory=set)
    empty_pages: int = 0


@dataclass
class TransientRetriesErrorHandler(DefaultErrorHandler):
    """The CDK's DefaultErrorHandler, except that what it retries stays a transient_error when retries run out.

    The CDK takes a retried response's failure type from its status code, so a 200 that is an HTML page or
    lacks the envelope, or a 409, would end as system_error although it was retried as a passing fault.

        error_handler:
          type: CustomErrorHandler
          class_name: source_courier.components.TransientRetriesErrorHandler
          max_retries: 30
          backoff_strategies: [...]
          response_filters: [...]
    """

    def interpret_response(self, response_or_exception: requests.Response | Exception | None) -> ErrorResolution:
        resolution = super().interpret_response(response_or_exception)
        if resolution.response_action in (ResponseAction.RETRY, ResponseAction.RATE_LIMITED):
            return replace(resolution, failure_type=FailureType.transient_error)
        return resolution


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
class RetryAfterBackoffStrategy(BackoffStrategy):
    """Waits as long as `Retry-After` says, given in seconds or as an HTTP-date, capped.

    The CDK's `WaitTimeFromHeader` parses numbers only. This returns None when the header is absent,
    unparseable or already past, so the next strategy in the list (exponential) decides instead.

        backoff_strategies:
          - type: CustomBackoffStrategy
            class_name: source_courier.components.RetryAfterBackoffStrategy
            max_wait_seconds: 600
          - type: ExponentialBackoffStrategy
            factor: 1
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
    ) -> float | None:
        if not isinstance(response_or_exception, requests.Response):
            return None
        wait = self._seconds(response_or_exception.headers.get(self.header, "").strip())
        if wait is None or wait <= 0:
            return None
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
        except ValueError:
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
