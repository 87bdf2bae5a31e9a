"""Fault storms on one stream of each of Courier's four paging styles: a share of requests fails (429s with each
form of Retry-After, 5xx, dropped connections and bad bodies), and every read still ends with exactly the records of
a read without faults, each once. Every fault costs exactly one more request, so nothing is read twice and no
page is skipped. (`test_cli_faults.py` drives each fault kind, and the ones without end, on messages.)

Every storm waits for real (Retry-After, or the CDK's backoff): the whole module is in the slow tier.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from courier_emulator.faults import FaultPlan
from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, HOUR_MS, cli, discovered_catalog, error_traces, of_type

pytestmark = pytest.mark.slow

# One stream per paging style, with its endpoint and primary key.
STREAMS = {
    "messages": ("/messages", ("id",)),  # A: paging.more / paging.cursor
    "tenant_templates": ("/tenants/", ("tenant_id", "id")),  # B: has_more / cursor, under each tenant
    "automations": ("/automations", ("id",)),  # C: a top-level cursor
    "journey_runs": ("/journeys/runs", ("run_id",)),  # D: next_cursor
}
STORMS = {
    # 30 % of requests answered 429, the three forms of Retry-After in equal parts.
    "429-storm": [("429-seconds", 0.1), ("429-http-date", 0.1), ("429-none", 0.1)],
    "5xx-storm": [("500", 0.07), ("502", 0.07), ("503", 0.06)],  # 20 %
    "bad-answers": [
        ("drop", 0.04),
        ("malformed-json", 0.04),
        ("html-200", 0.04),
        ("html-502", 0.04),
        ("no-envelope", 0.04),
    ],
}


@pytest.fixture(scope="module")
def courier() -> Iterator[RunningEmulator]:
    with run_in_thread(api_key=API_KEY, messages=30, spacing_ms=HOUR_MS, workspace="small") as emulator:
        yield emulator


def read(tmp_path, courier: RunningEmulator, stream: str) -> tuple[list[str], list[str]]:
    """The stream's records (as sorted JSON) from one full read, and the URLs it requested (path?query)."""
    config = cli_runner.config(courier.base_url)
    catalog = discovered_catalog(tmp_path, config, (stream,))
    courier.reset()

    code, messages = cli(tmp_path, "read", config, catalog=catalog)

    assert code == 0 and error_traces(messages) == []
    records = [json.dumps(record["data"], sort_keys=True) for record in of_type(messages, "RECORD")]
    urls = [f"{r['path']}?{urlencode(r['query'], doseq=True)}" if r["query"] else r["path"] for r in courier.requests()]
    return sorted(records), urls


def first_stormy_seed(plan: list[dict[str, Any]], urls: list[str]) -> int:
    """The first seed whose draws fault at least one of these requests: with a few pages, many seeds fault none."""
    for seed in range(1000):
        faults = FaultPlan(plan, max_in_a_row=2, seed=seed)
        if any(faults.decide(url, url.partition("?")[0], lambda kind: True) for url in urls):
            return seed
    raise AssertionError("no seed faults these requests")


@pytest.mark.parametrize("storm", STORMS)
@pytest.mark.parametrize("stream", STREAMS)
def test_storm_yields_the_same_records_each_once_with_one_request_more_per_fault(tmp_path, courier, stream, storm):
    path_prefix, primary_key = STREAMS[stream]
    courier.set_faults([])
    expected, pages = read(tmp_path, courier, stream)
    plan = [{"kind": kind, "rate": rate, "path_prefix": path_prefix} for kind, rate in STORMS[storm]]
    courier.set_faults(plan, max_in_a_row=2, retry_after=1, seed=first_stormy_seed(plan, pages))

    records, requested = read(tmp_path, courier, stream)

    faults = sum(courier.stats()["faults"].values())
    courier.set_faults([])
    assert records == expected and len(expected) > 0
    keys = [tuple(json.loads(record)[field] for field in primary_key) for record in records]
    assert len(set(keys)) == len(keys)  # each once
    assert faults > 0, "this seed served no fault: the storm tested nothing"
    assert sorted(set(requested)) == sorted(set(pages))  # every page, and no other
    assert len(requested) == len(pages) + faults  # each fault retried once
