"""`make demo`: source-courier through PyAirbyte into a local DuckDB cache.

By default it starts the local Courier emulator (``courier_emulator``, loopback only, no account needed), runs a
first sync (no state: the whole log), lets time move on in the emulator (new messages, statuses that advance), runs
an incremental sync, and shows what each cost in HTTP requests, one SQL answer from the cache, and which fields
arrived as columns.

    .venv/bin/python demo/run_demo.py                                     # against the emulator
    .venv/bin/python demo/run_demo.py --real --config secrets/config.json # against your Courier workspace

With ``--real`` the emulator is not started and the same two syncs run against Courier with your config (time
does not move on there, so the second sync only re-reads the lookback window). Each run starts from an empty cache
under ``.demo/`` and leaves it there to query. Exits non-zero if anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import warnings
from collections import defaultdict
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONNECTOR = Path(sys.executable).with_name("source-courier")  # installed by `pip install -e .` next to python
STREAM = "messages"

DEMO_KEY = "courier-demo-key-not-a-secret"
EMULATOR_MESSAGES = 2000
EMULATOR_SPACING_MS = 600_000  # one message every 10 minutes: 2,000 span about two weeks
EMULATOR_WORKSPACE = "demo"  # the emulator's other objects (brands, lists, ...): a realistic demo workspace
NEW_MESSAGES = 25
LOOKBACK_DAYS = 1


def say(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - printing is this script's job


class DemoFailed(Exception):
    """A check of the demo did not hold; the message says which."""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise DemoFailed(message)


# --- the emulator -------------------------------------------------------------------------------------------


class Emulator:
    """``python -m courier_emulator`` as a subprocess; ``stop()`` always ends it."""

    def __init__(self) -> None:
        command = [
            sys.executable,
            "-m",
            "courier_emulator",
            "--port",
            "0",
            "--api-key",
            DEMO_KEY,
            "--messages",
            str(EMULATOR_MESSAGES),
            "--spacing-ms",
            str(EMULATOR_SPACING_MS),
            "--workspace",
            EMULATOR_WORKSPACE,
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.process.stdout], [], [], 30)
        line = self.process.stdout.readline().strip() if ready else ""
        if not line.startswith("http://"):
            self.stop()
            raise DemoFailed(f"the emulator did not start (exit code {self.process.returncode}); see its error above")
        self.base_url = line

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}/__admin/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def requests_served(self) -> int:
        """GET /messages requests since the last reset, from the emulator's own count."""
        return int(self.admin("GET", "stats")["requests"].get("GET /messages", 0))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout:
            self.process.stdout.close()


# --- PyAirbyte ----------------------------------------------------------------------------------------------


def import_pyairbyte(logs: Path) -> Any:
    # Must be set before the import: without them PyAirbyte fetches Airbyte's connector registry and sends telemetry.
    os.environ["AIRBYTE_OFFLINE_MODE"] = "1"
    os.environ["DO_NOT_TRACK"] = "1"
    os.environ["AIRBYTE_LOGGING_ROOT"] = str(logs)
    os.environ.setdefault("NO_LIVE_PROGRESS", "1")  # plain output instead of a live progress table
    # Google's client libraries (pulled in by PyAirbyte's BigQuery cache, unused here) warn about Python versions.
    warnings.filterwarnings("ignore", category=FutureWarning, module="google")
    import airbyte

    return airbyte


@contextlib.contextmanager
def pyairbyte_chatter_to(path: Path) -> Iterator[None]:
    """PyAirbyte prints progress notes to stdout and stderr; keep them in a file so the demo's output stays short."""
    with path.open("a") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        yield


def timed_read(source: Any, cache: Any, chatter: Path) -> tuple[Any, float]:
    started = time.monotonic()
    with pyairbyte_chatter_to(chatter):
        result = source.read(cache=cache)
    return result, time.monotonic() - started


def first_page_fields(config: dict[str, Any]) -> set[str]:
    """Every field on the first page of GET /messages: what Courier really sends, declared or not."""
    base_url = (config.get("base_url") or "https://api.courier.com").rstrip("/")
    request = urllib.request.Request(f"{base_url}/messages")
    request.add_header("Authorization", f"Bearer {config['api_key'].strip()}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return {field for message in json.load(response)["results"] for field in message}


def statuses_by_id(cache: Any, table: str) -> dict[str, str | None]:
    return {row["id"]: row["status"] for row in cache.run_sql_query(f"SELECT id, status FROM {table}")}


def by_status_per_day(cache: Any, table: str) -> tuple[str, list[dict[str, Any]]]:
    """Days are UTC; the last 5 are counted back from the newest message, so the emulator's 2026 data shows too."""
    sql = (
        "SELECT CAST(epoch_ms(enqueued) AS DATE) AS day, coalesce(status, '(none)') AS status, count(*) AS n\n"
        f"FROM {table}\n"
        f"WHERE CAST(epoch_ms(enqueued) AS DATE) > (SELECT CAST(epoch_ms(max(enqueued)) AS DATE) - 5 FROM {table})\n"
        "GROUP BY ALL ORDER BY day DESC, status"
    )
    return sql, cache.run_sql_query(sql)


def print_pivot(rows: list[dict[str, Any]]) -> None:
    """(day, status, n) rows as one line per day, one column per status."""
    statuses = sorted({row["status"] for row in rows})
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        counts[str(row["day"])][row["status"]] = row["n"]
    width = {status: max(len(status), 5) + 2 for status in statuses}
    say("   " + "day".ljust(12) + "".join(f"{s:>{width[s]}}" for s in statuses) + "   total")
    for day, per_status in counts.items():
        cells = "".join(f"{per_status.get(s, 0):>{width[s]},}" for s in statuses)
        say(f"   {day:<12}{cells}   {sum(per_status.values()):>5,}")


# --- the demo -----------------------------------------------------------------------------------------------


def run(real_config: dict[str, Any] | None) -> None:
    real = real_config is not None
    workdir = ROOT / ".demo" / ("real" if real else "emulator")
    shutil.rmtree(workdir, ignore_errors=True)  # every run starts from an empty cache, so the first sync is full
    workdir.mkdir(parents=True)
    chatter = workdir / "pyairbyte-output.txt"
    with pyairbyte_chatter_to(chatter):
        ab = import_pyairbyte(workdir / "logs")
    from airbyte.caches import DuckDBCache

    db_path = workdir / "courier.duckdb"
    cache = DuckDBCache(db_path=db_path, cache_dir=workdir / "cache")
    say(f"source-courier demo: PyAirbyte {version('airbyte')}, DuckDB cache {db_path.relative_to(ROOT)}")

    emulator = None if real else Emulator()
    try:
        if emulator:
            config = {"api_key": DEMO_KEY, "base_url": emulator.base_url, "lookback_days": LOOKBACK_DAYS}
            say(
                f"Courier emulator: {emulator.base_url} ({EMULATOR_MESSAGES:,} messages, one every "
                f"{EMULATOR_SPACING_MS // 60_000} min, {EMULATOR_WORKSPACE!r} workspace)"
            )
        else:
            config = real_config
            say(f"Courier: {config.get('base_url') or 'https://api.courier.com'} (your config)")
        with pyairbyte_chatter_to(chatter):
            source = ab.get_source("source-courier", local_executable=str(CONNECTOR), config=config, streams=[STREAM])
            source.check()  # raises on a bad key or base_url, with the connector's message
        say("Connection check: OK")

        # 1. First sync: the cache has no state yet, so the connector reads the whole log.
        say()
        say("1. First sync (no saved state: reads the whole log)")
        if emulator:
            emulator.admin("POST", "reset")
        full, seconds = timed_read(source, cache, chatter)
        full_requests = emulator.requests_served() if emulator else None
        rows_after_full = len(cache.streams[STREAM])
        table = f"{cache.schema_name}.{cache.processor.get_sql_table_name(STREAM)}"
        statuses_before = statuses_by_id(cache, table)
        line = f"   {STREAM}: {full.processed_records:,} records read in {seconds:.1f} s"
        say(line + (f", {full_requests:,} HTTP requests" if emulator else "") + f"; cache holds {rows_after_full:,}")
        if emulator:
            expect(full.processed_records == EMULATOR_MESSAGES, f"the first sync read {full.processed_records} records")
            expect(rows_after_full == EMULATOR_MESSAGES, f"the cache holds {rows_after_full} rows after the first sync")

        # 2. Time moves on: new messages arrive and recent ones change status (delivered, opened, clicked).
        say()
        if emulator:
            moved = emulator.admin("POST", "advance", {"new_messages": NEW_MESSAGES, "advance_statuses": True})
            say(
                f"2. Time moves on in the emulator: {NEW_MESSAGES} new messages, {moved['advanced']:,} statuses "
                f"advanced (log now {moved['count']:,} messages)"
            )
            emulator.admin("POST", "reset")
        else:
            say("2. (Against real Courier, nothing is simulated: the second sync shows what a routine re-sync costs.)")

        # 3. Incremental sync: PyAirbyte passes the state saved in the cache; the connector re-reads the lookback.
        say()
        lookback = config.get("lookback_days", 1)
        say(f"3. Incremental sync (state from the cache, re-reads a {lookback}-day lookback window)")
        incremental, seconds = timed_read(source, cache, chatter)
        rows = len(cache.streams[STREAM])
        line = f"   {STREAM}: {incremental.processed_records:,} records read in {seconds:.1f} s"
        if emulator:
            requests = emulator.requests_served()
            line += f", {requests:,} HTTP requests instead of the first sync's {full_requests:,}"
        say(line)
        say(f"   cache holds {rows:,} rows, one per message id: re-read messages were merged, not duplicated")
        statuses_after = statuses_by_id(cache, table)
        changed = sum(statuses_after.get(id_) != status for id_, status in statuses_before.items())
        say(f"   {changed:,} cached messages now have a newer status (read again thanks to the lookback)")
        if emulator:
            expect(0 < requests < full_requests, f"the incremental sync took {requests} requests")
            expect(incremental.processed_records >= NEW_MESSAGES, "the incremental sync missed the new messages")
            expect(changed == moved["advanced"], f"{changed} statuses changed in the cache, not {moved['advanced']}")
            expect(rows == moved["count"], f"the cache holds {rows} rows; the emulator has {moved['count']} messages")
            (newest,) = cache.run_sql_query(f"SELECT max(enqueued) AS newest FROM {table}")
            expect(newest["newest"] == moved["newest_enqueued"], "the newest message is missing from the cache")

        # 4. One real question, answered by SQL on the cache.
        say()
        sql, answer = by_status_per_day(cache, table)
        say("4. Messages by status per day, last 5 days (SQL on the DuckDB cache):")
        say("\n".join(f"     {sql_line}" for sql_line in sql.splitlines()))
        print_pivot(answer)
        expect(bool(answer), "the SQL query returned no rows")

        # 5. Which fields arrived: the stream schema's properties against the table's real columns.
        say()
        declared = set(source.get_stream_json_schema(STREAM)["properties"])  # discovered in the check above
        columns = {
            row["column_name"]
            for row in cache.run_sql_query(
                "SELECT column_name FROM information_schema.columns "
                f"WHERE table_schema = '{cache.schema_name}' "
                f"AND table_name = '{cache.processor.get_sql_table_name(STREAM)}'"
            )
        }
        missing = sorted(declared - columns)
        sent = first_page_fields(config)
        dropped = sorted(sent - declared)
        say(f"5. Fields: {len(declared & columns)} of the {len(declared)} fields in the {STREAM} schema are columns")
        say(f"   {', '.join(sorted(declared & columns))}")
        say(f"   plus PyAirbyte's own: {', '.join(sorted(c for c in columns if c.startswith('_airbyte')))}")
        if missing:
            say(f"   MISSING: {', '.join(missing)}")
        if dropped:
            it = "it" if len(dropped) == 1 else "them"
            say(
                f"   Not kept: {', '.join(dropped)}. Courier sends {it} (undocumented) and the connector passes {it} "
                f"through, but PyAirbyte's DuckDB cache only makes columns for declared fields, so it drops {it}."
            )
        expect(not missing, f"declared fields without a column: {', '.join(missing)}")

        # 6. The rest of the workspace: every other stream, one sync into the same cache.
        say()
        others = [name for name in source.get_available_streams() if name != STREAM]
        if emulator:
            emulator.admin("POST", "reset")
        source.select_streams(others)
        result, seconds = timed_read(source, cache, chatter)
        rows = {name: len(cache.streams[name]) for name in others}
        line = f"6. The other {len(others)} streams: {result.processed_records:,} records in {seconds:.1f} s"
        if emulator:
            served = emulator.admin("GET", "stats")["requests"]
            line += f", {sum(served.values()):,} HTTP requests"
        say(line)
        for row in range(0, len(others), 3):
            say("   " + "".join(f"{name:<20}{rows[name]:>7,}    " for name in others[row : row + 3]).rstrip())
        if emulator:
            expect(all(rows.values()), f"streams with no rows: {[name for name, n in rows.items() if not n]}")
            users = served["GET /profiles/{id}"]
            expect(users == rows["profiles"], f"{users} profile requests for {rows['profiles']} profiles")
            say(f"   {users} users named by lists, audiences and tenants: each profile requested once")
    except BaseException:
        logs = (workdir / "logs").relative_to(ROOT)
        say(f"\nPyAirbyte's notes: {chatter.relative_to(ROOT)}; connector and PyAirbyte logs: {logs}/")
        raise
    finally:
        if emulator:
            emulator.stop()
        cache.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", action="store_true", help="use real Courier with --config instead of the emulator")
    parser.add_argument("--config", type=Path, help="connector config JSON (with --real), e.g. secrets/config.json")
    args = parser.parse_args(argv)
    if args.real != bool(args.config):
        parser.error("--real and --config go together")
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # so `finally` stops the emulator
    started = time.monotonic()
    try:
        run(json.loads(args.config.read_text()) if args.real else None)
    except KeyboardInterrupt:
        say("\nInterrupted.")
        return 130
    except Exception as exc:  # any failure: say what, exit non-zero
        say(f"\nDemo FAILED: {type(exc).__name__}: {exc}")
        return 1
    say(f"\nDemo OK in {time.monotonic() - started:.0f} s. The cache stays in .demo/ for you to query.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
