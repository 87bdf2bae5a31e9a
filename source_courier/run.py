"""Entrypoint: hands config, catalog and state to the constructor, where the declarative CDK reads them."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.exception_handler import assemble_uncaught_exception
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import AirbyteMessageSerializer, FailureType
from airbyte_cdk.utils.airbyte_secrets_utils import filter_secrets
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

from source_courier.source import SourceCourier


def _source(args: list[str]) -> SourceCourier:
    config_path = AirbyteEntrypoint.extract_config(args)
    catalog_path = AirbyteEntrypoint.extract_catalog(args)
    state_path = AirbyteEntrypoint.extract_state(args)
    return SourceCourier(
        catalog=SourceCourier.read_catalog(catalog_path) if catalog_path else None,
        config=SourceCourier.read_config(config_path) if config_path else None,
        state=SourceCourier.read_state(state_path) if state_path else None,
        config_path=config_path,
    )


class ProviderSettingsRedactor(logging.Filter):
    """Keeps provider credentials out of the logs.

    The CDK logs every response body at DEBUG before the records are extracted, so the `providers` stream's
    RemoveFields cannot help: each provider's `settings` (API keys, tokens) would be printed. The request's URL
    is logged just before its response, on the same thread; a response to `.../providers` has the `settings`
    of its records replaced, or its whole body if it is not the JSON expected. The CDK's backoff also logs the
    body of a retried 2xx (a page without the envelope) at INFO, without its URL: that body is always removed.
    """

    REDACTED = "<removed by source-courier: provider settings can hold credentials>"
    RETRIED_BODY = "Response Content: "

    def __init__(self) -> None:
        super().__init__()
        self._last_url = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Making outbound API request":
            self._last_url.path = urlsplit(str(getattr(record, "url", ""))).path
        elif record.msg == "Receiving response" and getattr(self._last_url, "path", "").endswith("/providers"):
            record.body = self._redacted(str(getattr(record, "body", "")))
        elif isinstance(record.msg, str) and record.msg.startswith("Status code: ") and self.RETRIED_BODY in record.msg:
            record.msg = record.msg.split(self.RETRIED_BODY)[0] + self.RETRIED_BODY + self.REDACTED
        return True

    @classmethod
    def _redacted(cls, body: str) -> str:
        try:
            page = json.loads(body)
        except ValueError:
            return cls.REDACTED
        results = page.get("results") if isinstance(page, dict) else None
        if not isinstance(results, list) or not all(isinstance(provider, dict) for provider in results):
            return cls.REDACTED
        for provider in results:
            if "settings" in provider:
                provider["settings"] = cls.REDACTED
        return json.dumps(page)


_REDACTOR = ProviderSettingsRedactor()


def protocol_lines(source: SourceCourier, args: list[str]) -> Iterator[str]:
    """The messages a command prints, each masked for the key once more.

    The CDK masks logs and uncaught errors, but a stream's error trace can quote Courier's error body
    unmasked; masking every line here covers that and anything like it.
    """
    entrypoint = AirbyteEntrypoint(source)
    for handler in logging.getLogger().handlers:  # the CDK's one handler prints every logger's records
        handler.addFilter(_REDACTOR)  # once: a handler keeps one of each filter
    for line in entrypoint.run(entrypoint.parse_args(args)):
        yield masked(line)


def masked(line: str) -> str:
    """The message with the key masked in its strings, and still JSON.

    Masking the line as text would break its JSON when the key is also a piece of it (a key of `{` or `5`:
    bad config, but its error message must still be readable). Only a line that holds the key is parsed.
    """
    if filter_secrets(line) == line:
        return line
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError:
        return filter_secrets(line)
    return orjson.dumps(_masked_strings(message)).decode()


def uncaught_error_line(error: Exception, printed: Iterable[str] = ()) -> str:
    """The TRACE message for an error no stream caught, as the CDK's excepthook prints it, masked by `masked()`.

    When streams failed, the CDK ends the read with "During the sync, the following streams did not sync
    successfully: messages: AirbyteTracedException(<request dump>)", the message Airbyte shows. That message
    becomes each failed stream's own (the one naming the fix, from the `printed` lines); the CDK's stays in
    `internal_message`.
    """
    traced = assemble_uncaught_exception(type(error), error)
    reasons = stream_error_messages(printed) if str(traced.message).startswith(FAILED_STREAMS) else {}
    if reasons:
        only = next(iter(reasons.values())) if len(reasons) == 1 else None
        traced = AirbyteTracedException(
            message=only or "; ".join(f"{stream}: {reason}" for stream, reason in reasons.items()),
            internal_message=traced.message,
            failure_type=traced.failure_type,
            exception=error,
        )
    return masked(orjson.dumps(AirbyteMessageSerializer.dump(traced.as_airbyte_message())).decode())


FAILED_STREAMS = "During the sync, the following streams did not sync successfully"


def stream_error_messages(printed: Iterable[str]) -> dict[str, str]:
    """The first error message each stream printed, by stream."""
    reasons: dict[str, str] = {}
    for line in printed:
        if '"ERROR"' not in line or '"stream_descriptor"' not in line:
            continue
        error = (orjson.loads(line).get("trace") or {}).get("error") or {}
        stream = (error.get("stream_descriptor") or {}).get("name")
        if stream and error.get("message"):
            reasons.setdefault(stream, error["message"])
    return reasons


def _masked_strings(node: Any) -> Any:
    if isinstance(node, str):
        return filter_secrets(node)
    if isinstance(node, dict):
        return {filter_secrets(key): _masked_strings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_masked_strings(value) for value in node]
    return node


def run() -> None:
    args = sys.argv[1:]
    try:
        source = _source(args)
    except Exception as error:  # a config, catalog or state file that cannot be read
        AirbyteTracedException(
            message=f"source-courier could not start: {error}",
            internal_message=str(error),
            failure_type=FailureType.config_error,
            exception=error,
        ).emit_message()
        sys.exit(1)
    errors: list[str] = []  # the stream error traces printed, for the message that ends a failed read
    with PRINT_BUFFER:
        try:
            for line in protocol_lines(source, args):
                print(f"{line}\n", end="")
                if '"ERROR"' in line:
                    errors.append(line)
        except Exception as error:  # what the CDK's excepthook does, with the trace masked as JSON
            logging.getLogger("airbyte").fatal(error, exc_info=error)
            print(uncaught_error_line(error, errors))
            sys.exit(1)
