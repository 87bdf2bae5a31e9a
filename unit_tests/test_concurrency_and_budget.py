"""num_workers sets how many partitions are read at once; requests_per_second caps the request rate (real waits)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import responses
from responses import matchers

from unit_tests.builders import ALWAYS_SENT, BASE_URL, config, keys, message, page, sample, serve

LISTS = [f"list-{n}" for n in range(12)]


class InFlight:
    """Counts the requests being answered at the same moment; each answer takes `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.current = self.most = 0
        self._lock = threading.Lock()

    def answer(self, body: dict[str, Any]) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            with self._lock:
                self.current += 1
                self.most = max(self.most, self.current)
            time.sleep(self.seconds)
            with self._lock:
                self.current -= 1
            return 200, {}, json.dumps(body)

        return callback


def _serve_slow_subscriptions(api: responses.RequestsMock, in_flight: InFlight) -> None:
    serve(api, "/lists", page([sample("lists", id=list_id) for list_id in LISTS], key="items"))
    for list_id in LISTS:
        body = page([sample("list_subscriptions", recipientId=f"user-of-{list_id}")], key="items")
        api.add_callback(responses.GET, f"{BASE_URL}/lists/{list_id}/subscriptions", callback=in_flight.answer(body))


def test_num_workers_bounds_the_partitions_read_at_once(api, run_read):
    in_flight = InFlight(seconds=0.2)
    _serve_slow_subscriptions(api, in_flight)

    output = run_read(config(num_workers=2), streams=("list_subscriptions",))

    assert len(keys(output, "list_subscriptions", "list_id")) == len(LISTS)
    assert in_flight.most <= 2


def test_by_default_ten_workers_read_partitions_in_parallel(api, run_read):
    in_flight = InFlight(seconds=0.2)
    _serve_slow_subscriptions(api, in_flight)

    output = run_read(config(), streams=("list_subscriptions",))

    assert len(keys(output, "list_subscriptions", "list_id")) == len(LISTS)
    assert 2 < in_flight.most <= 10  # above the CDK's own default of 2 workers


def test_requests_per_second_allows_at_most_that_many_requests_in_any_second(api, run_read):
    sent: list[float] = []

    def answer(body: dict[str, Any]) -> Any:
        def callback(request: Any) -> tuple[int, dict[str, str], str]:
            sent.append(time.monotonic())
            return 200, {}, json.dumps(body)

        return callback

    for n in range(11):  # 11 pages: the 6th and 11th request must each wait for the window to move on
        cursor_query = {**ALWAYS_SENT["/messages"], **({"cursor": f"c{n}"} if n else {})}
        body = page([message(f"m{n}")], cursor=f"c{n + 1}" if n < 10 else None)
        api.add_callback(
            responses.GET,
            f"{BASE_URL}/messages",
            callback=answer(body),
            match=[matchers.query_param_matcher(cursor_query, strict_match=True)],
        )

    output = run_read(config(requests_per_second=5))

    assert len(output.records) == 11
    gaps = [later - earlier for earlier, later in zip(sent, sent[5:], strict=False)]
    assert min(gaps) >= 0.95  # any six consecutive requests span a second (a little slack for clock granularity)
