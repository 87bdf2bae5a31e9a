"""The packaged CLI's glue: the CDK's entrypoint with `SourceCourier`, and the presentation fixes the CDK allows
nowhere else (each a row of docs/courier.md's runtime table): config, catalog and state go to the constructor,
where the declarative CDK reads them; every line is masked; provider settings leave the logs; a spec violation
names the field; a failed read ends in each failed stream's own message."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import orjson
from airbyte_cdk.entrypoint import AirbyteEntrypoint
from airbyte_cdk.exception_handler import assemble_uncaught_exception
from airbyte_cdk.logger import PRINT_BUFFER
from airbyte_cdk.models import AirbyteMessageSerializer, ConnectorSpecification, FailureType
from airbyte_cdk.sources.utils.schema_helpers import split_config
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


class CourierEntrypoint(AirbyteEntrypoint):
    @staticmethod
    def validate_connection(source_spec: ConnectorSpecification, config: Mapping[str, Any]) -> None:
        """The CDK's check of the config against the spec, its error naming the field (see `spec_violation`).

        The CDK's own says "Config validation error: 31 is greater than the maximum of 30"; it runs before any
        component of the manifest, so only the entrypoint can say it better.
        """
        try:
            AirbyteEntrypoint.validate_connection(source_spec, config)
        except AirbyteTracedException as error:
            problem = spec_violation(split_config(config)[0], source_spec.connectionSpecification)
            if problem is None:
                raise
            raise AirbyteTracedException(
                message=problem, internal_message=error.internal_message, failure_type=FailureType.config_error
            ) from None  # as the CDK's: the error's context would quote the config


def spec_violation(config: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """How `config` breaks the spec (the error jsonschema reports, as the CDK's check does): the field, what it
    must be and what it got, e.g. "lookback_days must be a whole number from 0 to 30 (got 31)." A secret's
    value is described, never quoted."""
    try:
        jsonschema.validate(config, spec)
    except jsonschema.ValidationError as error:
        fields = spec.get("properties", {})
        if error.validator == "required":
            name = next(name for name in error.validator_value if name not in error.instance)
            return f"{name} must be set (got nothing): {fields.get(name, {}).get('description', '')}".strip()
        name = str(error.absolute_path[0]) if error.absolute_path else ""
        if name not in fields:
            return None
        field, value = fields[name], config[name]
        low, high = field.get("minimum"), field.get("maximum")
        if field.get("type") == "integer":
            expected = (
                f"a whole number from {low} to {high}" if high is not None else f"a whole number of at least {low}"
            )
        else:
            expected = "text" + (f" such as {field['examples'][0]}" if field.get("examples") else "")
        got = JSON_TYPES.get(type(value), "null") if field.get("airbyte_secret") else json.dumps(value)
        return f"{name} must be {expected} (got {got})."
    return None


JSON_TYPES = {bool: "true or false", int: "a number", float: "a number", str: "text", list: "a list", dict: "an object"}


def protocol_lines(source: SourceCourier, args: list[str]) -> Iterator[str]:
    """The messages a command prints, each masked for the key once more.

    The CDK masks logs and uncaught errors, but a stream's error trace can quote Courier's error body
    unmasked; masking every line here covers that and anything like it.
    """
    entrypoint = CourierEntrypoint(source)
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
    successfully: messages: AirbyteTracedException(<request dump>)", a config_error, the message Airbyte shows.
    It becomes each failed stream's own message (the one naming the fix, from the `printed` lines), and their
    failure type when they share one; the CDK's message stays in `internal_message`.
    """
    traced = assemble_uncaught_exception(type(error), error)
    errors = stream_errors(printed) if str(traced.message).startswith(FAILED_STREAMS) else {}
    if errors:
        reasons = {stream: failed["message"] for stream, failed in errors.items()}
        types = {failed.get("failure_type") or traced.failure_type.value for failed in errors.values()}
        traced = AirbyteTracedException(
            message=next(iter(reasons.values()))
            if len(reasons) == 1
            else "; ".join(f"{s}: {r}" for s, r in reasons.items()),
            internal_message=traced.message,
            failure_type=FailureType(types.pop()) if len(types) == 1 else traced.failure_type,
            exception=error,
        )
    return masked(orjson.dumps(AirbyteMessageSerializer.dump(traced.as_airbyte_message())).decode())


FAILED_STREAMS = "During the sync, the following streams did not sync successfully"


def stream_errors(printed: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The first error trace each stream printed, by stream."""
    errors: dict[str, dict[str, Any]] = {}
    for line in printed:
        if '"ERROR"' not in line or '"stream_descriptor"' not in line:
            continue
        error = (orjson.loads(line).get("trace") or {}).get("error") or {}
        stream = (error.get("stream_descriptor") or {}).get("name")
        if stream and error.get("message"):
            errors.setdefault(stream, error)
    return errors


def _masked_strings(node: Any) -> Any:
    if isinstance(node, str):
        return filter_secrets(node)
    if isinstance(node, dict):
        return {filter_secrets(key): _masked_strings(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_masked_strings(value) for value in node]
    return node


def launch(args: list[str]) -> None:
    """The CDK's `launch` for `SourceCourier`, with the presentation fixes above."""
    try:
        source = _source(args)
    except AirbyteTracedException as error:  # a state file of the wrong shape: its message names the fix
        error.emit_message()
        sys.exit(1)
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
