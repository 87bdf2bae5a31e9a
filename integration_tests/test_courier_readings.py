"""Where Courier's docs and a production peer disagree (reference section H), the connector works under both readings.

The emulator serves each reading (`courier_emulator.readings`): `/messages` pages of 10 whatever `limit` says
(the docs) or of `limit` (honoured), and `enqueued_after` applied (the docs) or ignored (a form Courier could
not read). Each test reads through the in-process entrypoint and asserts the requests the emulator saw.
"""

from __future__ import annotations

from typing import Any

import pytest
from airbyte_cdk.models import AirbyteStateMessage, SyncMode
from airbyte_cdk.test.catalog_builder import CatalogBuilder
from airbyte_cdk.test.entrypoint_wrapper import EntrypointOutput, read

from courier_emulator.fixtures import FIXTURE_API_KEY
from source_courier.source import SourceCourier
from unit_tests.builders import state as messages_state

MESSAGES = 250
DAY_MS = 86_400_000
SPACING_MS = DAY_MS // 40  # the default lookback of a day re-reads 40 messages
LIMITS = [pytest.param(False, 10, id="limit-ignored"), pytest.param(True, 100, id="limit-honoured")]


def _read(courier: Any, state: list[AirbyteStateMessage] | None = None) -> EntrypointOutput:
    config = {"api_key": FIXTURE_API_KEY, "base_url": courier.base_url}
    catalog = CatalogBuilder().with_stream("messages", SyncMode.incremental).build()
    return read(SourceCourier(config=config, catalog=catalog, state=state), config, catalog, state)


def _ids(output: EntrypointOutput) -> list[str]:
    return [message.record.data["id"] for message in output.records]


def _state(output: EntrypointOutput) -> dict[str, Any]:
    return output.most_recent_state.stream_state.__dict__


def _message_queries(courier: Any) -> list[dict[str, str]]:
    return [request["query"] for request in courier.requests() if request["path"] == "/messages"]


@pytest.mark.parametrize(("honoured", "page_size"), LIMITS)
def test_a_full_read_asks_for_100_a_page_and_reads_the_same_whatever_courier_serves(
    courier_emulator_factory, honoured, page_size
):
    courier = courier_emulator_factory(messages=MESSAGES, honour_messages_limit=honoured)

    output = _read(courier)

    assert output.errors == []
    assert _ids(output) == list(courier.log.ids())
    assert _state(output) == {"enqueued": str(courier.log.enqueued(0))}
    queries = _message_queries(courier)
    assert len(queries) == -(-MESSAGES // page_size)  # 25 pages of 10, or 3 of 100
    assert all(query["limit"] == "100" for query in queries)


@pytest.mark.parametrize(("honoured", "page_size"), LIMITS)
@pytest.mark.parametrize("applied", [pytest.param(True, id="filter-applied"), pytest.param(False, id="filter-ignored")])
def test_an_incremental_read_stays_bounded_even_if_courier_ignores_enqueued_after(
    courier_emulator_factory, honoured, page_size, applied
):
    courier = courier_emulator_factory(
        messages=MESSAGES, spacing_ms=SPACING_MS, honour_messages_limit=honoured, apply_enqueued_after=applied
    )
    saved = courier.log.enqueued(30)
    lowest = saved - DAY_MS  # the default lookback of one day
    kept = [i for i in range(MESSAGES) if courier.log.enqueued(i) >= lowest]
    assert len(kept) == 71  # messages 0-29 are new, 30 is at the state, 31-70 are the day before it

    output = _read(courier, messages_state(saved))

    assert output.errors == []
    assert _ids(output) == [courier.log.message_id(i) for i in kept]  # new + lookback, exactly
    assert _state(output) == {"enqueued": str(courier.log.enqueued(0))}
    queries = _message_queries(courier)
    assert {query["enqueued_after"] for query in queries} == {str(lowest)}
    # Applied, the last page is the one holding the window's oldest message; ignored, paging stops at that
    # same page, whose older messages are dropped: at most one page beyond the window, here none.
    assert len(queries) == len(kept) // page_size + 1
