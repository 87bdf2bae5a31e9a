"""The connector class: `manifest.yaml` run by the CDK's declarative engine."""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from airbyte_cdk.models import AirbyteConnectionStatus, AirbyteStateMessage, ConfiguredAirbyteCatalog, Status
from airbyte_cdk.sources.declarative.yaml_declarative_source import YamlDeclarativeSource

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
