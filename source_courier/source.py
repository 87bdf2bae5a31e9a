"""The connector class: `manifest.yaml` run by the CDK's declarative engine."""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from airbyte_cdk.models import (
    AirbyteConnectionStatus,
    AirbyteMessage,
    AirbyteStateMessage,
    ConfiguredAirbyteCatalog,
    FailureType,
    Status,
)
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource
from airbyte_cdk.utils.traced_exception import AirbyteTracedException

LAST_EPOCH_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z, the last moment Python's datetime holds


class SourceCourier(YamlDeclarativeSource):
    def __init__(
        self,
        catalog: ConfiguredAirbyteCatalog | None = None,
        config: Mapping[str, Any] | None = None,
        state: list[AirbyteStateMessage] | None = None,
        **kwargs: Any,
    ) -> None:
        for message in state or []:
            if message.stream is not None and message.stream.stream_state is not None:
                check_saved_cursors(message.stream.stream_descriptor.name, vars(message.stream.stream_state))
        super().__init__(catalog=catalog, config=config, state=state, path_to_yaml="manifest.yaml", **kwargs)

    def check(self, logger: logging.Logger, config: Mapping[str, Any]) -> AirbyteConnectionStatus:
        # Building the streams runs the spec's config validations. Doing it here lets their config_error
        # reach the entrypoint, which reports it as a failed connection status naming the fix; inside
        # CheckStream it would be wrapped as "Encountered an error while discovering streams".
        self.streams(config)
        status = super().check(logger, config)
        if status.status == Status.FAILED and status.message:
            status.message = unwrapped_check_failure(status.message)
        return status

    @classmethod
    def read_state(cls, state_path: str) -> list[AirbyteStateMessage]:
        """The CDK's, with a config_error naming the state file and the shape expected when it is not a list of
        state messages (the CDK says "Schema validation failed: - "type" is not of type "object"")."""
        if not state_path:  # the entrypoint asks even when there is none
            return []
        try:
            with open(state_path, encoding="utf-8") as file:
                content = json.load(file)
        except (OSError, ValueError) as error:
            raise state_file_error(f"The state file {state_path} cannot be read as JSON ({error}).") from None
        if content is not None and not isinstance(content, list):
            kind = {dict: "a JSON object", str: "a JSON string", bool: "a JSON boolean"}.get(
                type(content), "a JSON number"
            )
            kind = "a single state message" if isinstance(content, dict) and "type" in content else kind
            raise state_file_error(f"The state file {state_path} holds {kind}, not a list of state messages.")
        try:
            return super().read_state(state_path)
        except Exception as error:
            raise state_file_error(
                f"The state file {state_path} holds a list, but not of Airbyte state messages.", str(error)
            ) from None

    def read(
        self,
        logger: logging.Logger,
        config: Mapping[str, Any],
        catalog: ConfiguredAirbyteCatalog,
        state: list[AirbyteStateMessage] | None = None,
    ) -> Iterator[AirbyteMessage]:
        """The CDK's read, refusing a catalog or a state that names none of the connector's streams.

        The CDK skips a catalog stream it does not have without a word (it reports the stream INCOMPLETE), and
        reads in full when the state names none: a misspelt name would read nothing, or everything again.
        """
        streams = [stream["name"] for stream in self.resolved_manifest["streams"]]
        unknown = [configured.stream.name for configured in catalog.streams if configured.stream.name not in streams]
        if unknown:
            logger.warning(
                f"The catalog names streams source-courier does not have, so they are not read: {', '.join(unknown)}. "
                f"Its streams: {', '.join(streams)}."
            )
        if unknown and len(unknown) == len(catalog.streams):
            message = (
                f"The catalog names no stream of source-courier (it names {', '.join(unknown)}). Its streams are "
                f"{', '.join(streams)}: run discover for a catalog of them, or in Airbyte refresh the source schema."
            )
            raise AirbyteTracedException(
                message=message, internal_message=message, failure_type=FailureType.config_error
            )
        named = {descriptor.name for message in state or [] for descriptor in _stream_descriptors(message)}
        if named and not named & set(streams):
            raise state_file_error(
                f"The state file names no stream of source-courier (it names {', '.join(sorted(named))})."
            )
        yield from super().read(logger, config, catalog, state)


def _stream_descriptors(message: AirbyteStateMessage) -> list[Any]:
    if message.stream is not None:
        return [message.stream.stream_descriptor]
    return [stream.stream_descriptor for stream in message.global_.stream_states] if message.global_ else []


STATE_SHAPE = (
    'Expected a JSON list of the `state` of STATE messages a read printed, e.g. [{"type": "STREAM", "stream": '
    '{"stream_descriptor": {"name": "messages"}, "stream_state": {"enqueued": "1767225600000"}}}]. To make one from '
    "a read's output, each stream's last: grep '\"type\":\"STATE\"' out.jsonl | python -c 'import json, sys; "
    's = {json.dumps(m["state"]["stream"]["stream_descriptor"]): m["state"] for m in map(json.loads, sys.stdin)}; '
    "print(json.dumps(list(s.values())))' > state.json"
)


def state_file_error(problem: str, details: str = "") -> AirbyteTracedException:
    """A config_error saying what is wrong with the state file, the shape expected and how to make one."""
    message = f"{problem} {STATE_SHAPE}"
    return AirbyteTracedException(
        message=message, internal_message=details or message, failure_type=FailureType.config_error
    )


CHECK_WRAPPER = re.compile(r"Stream \w+ is not available: (.+)", re.DOTALL)


def unwrapped_check_failure(message: str) -> str:
    """The reason a check failed, as the stream's error said it.

    The CDK reports a failed check stream as the `repr` of "Stream messages is not available: <reason>", quotes
    and escapes included; the user should read the reason, which names the fix.
    """
    try:
        text = ast.literal_eval(message)
    except (ValueError, SyntaxError):
        return message
    match = CHECK_WRAPPER.fullmatch(text) if isinstance(text, str) else None
    return match[1] if match else message


def check_saved_cursors(stream: str, state: Mapping[str, Any]) -> None:
    """Raises ValueError naming the fix if a saved cursor (at any depth of the state) cannot be read back.

    Without this the CDK fails the read with "Something went wrong in the connector", or "Python int too large".
    """
    for key, value in state.items():
        if isinstance(value, Mapping):
            check_saved_cursors(stream, value)
        elif key in SAVED_CURSORS and not SAVED_CURSORS[key][0](value):
            _unusable(stream, f"{key} {value!r} is not {SAVED_CURSORS[key][1]}")


def _is_epoch_ms(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return False
    try:
        return abs(int(value)) <= LAST_EPOCH_MS
    except ValueError:
        return False


def _is_iso8601(value: Any) -> bool:
    try:
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


# Every cursor field of the manifest (test_bad_input.py checks the two agree): how to read its saved value back.
SAVED_CURSORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "enqueued": (_is_epoch_ms, "a time in epoch milliseconds"),
    "created_at": (_is_iso8601, "an ISO-8601 time"),
    "timestamp": (_is_iso8601, "an ISO-8601 time"),
}


def _unusable(stream: str, problem: str) -> None:
    raise ValueError(
        f"the saved state of stream {stream} cannot be used: {problem}. Clear the stream's data in Airbyte (a reset) "
        "to read it again from start_date, or correct the state file."
    )
