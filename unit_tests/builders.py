"""Builders for Courier-shaped test data: each takes only what a test varies."""

from __future__ import annotations

from typing import Any

from airbyte_cdk.models import (
    AirbyteErrorTraceMessage,
    AirbyteStateBlob,
    AirbyteStateMessage,
    AirbyteStateType,
    AirbyteStreamState,
    ConfiguredAirbyteCatalog,
    StreamDescriptor,
    SyncMode,
)
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput

BASE_URL = "https://api.courier.com"
MESSAGES_URL = f"{BASE_URL}/messages"
# Long and distinctive, so a leak is unmistakable in any output.
API_KEY = "pk_test_CANARY_unit_7f3c9a1e5b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a"
DAY_MS = 86_400_000


def config(**overrides: Any) -> dict[str, Any]:
    return {"api_key": API_KEY, **overrides}


def message(id: str, enqueued: int = 1_767_225_600_000, **fields: Any) -> dict[str, Any]:
    """One `GET /messages` result (reference section C); `fields` override the delivered defaults."""
    return {
        "id": id,
        "status": "DELIVERED",
        "enqueued": enqueued,
        "sent": enqueued + 1_000,
        "delivered": enqueued + 4_000,
        "opened": None,
        "clicked": None,
        "recipient": "user-1",
        "event": "order-shipped",
        "notification": "TAFGNB3GNQ4MZVHW4WV4R8Q8ZVN4",
        "error": None,
        "reason": None,
        **fields,
    }


def page(records: list[dict[str, Any]], cursor: str | None = None, more: bool | None = None) -> dict[str, Any]:
    """A paging-style-A body; `more` defaults to whether a cursor is given."""
    return {"paging": {"cursor": cursor, "more": cursor is not None if more is None else more}, "results": records}


def error(message: str = "Unauthorized", type_: str = "authentication_error") -> dict[str, str]:
    """Courier's error body."""
    return {"message": message, "type": type_}


def catalog(sync_mode: SyncMode = SyncMode.full_refresh) -> ConfiguredAirbyteCatalog:
    return CatalogBuilder().with_stream("messages", sync_mode).build()


def state(enqueued: int | str) -> list[AirbyteStateMessage]:
    """Saved messages state as the CDK emits it: the max `enqueued`, as a string of epoch ms."""
    return [
        AirbyteStateMessage(
            type=AirbyteStateType.STREAM,
            stream=AirbyteStreamState(
                stream_descriptor=StreamDescriptor(name="messages"),
                stream_state=AirbyteStateBlob(enqueued=str(enqueued)),
            ),
        )
    ]


def ids(output: EntrypointOutput) -> list[str]:
    """Emitted message ids, in order."""
    return [record.record.data["id"] for record in output.records]


def stream_error(output: EntrypointOutput) -> AirbyteErrorTraceMessage:
    """The stream's own error; the CDK ends a failed read with a generic summary after it."""
    (error,) = [m.trace.error for m in output.errors if m.trace.error.stream_descriptor is not None]
    return error
