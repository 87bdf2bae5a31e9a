"""Interruption and resume: the installed CLI killed with SIGKILL mid-sync and resumed from its last state.

Each scenario is planned from its seed alone (`plan_scenario`): an emulator log (size, spacing, status window,
latency), `lookback_days` and a chain of runs. Every run starts `source-courier read` with the last state the
runs before it emitted (none for the first), reads its stdout line by line, and ends in one of these ways:

* `finish`: read to the end.
* `lines`: SIGKILL after reading a share of the lines the run should print (records plus the CDK's 15 others).
* `delay`: SIGKILL from a timer after a share of the run's estimated wall time (it can land during start-up).
* `before_state`: SIGKILL on reading the first STATE line, which is then dropped: the records all arrived and
  their state did not.
* `after_state`: SIGKILL right after the first STATE line, so the CDK's closing lines (a second STATE) are lost.

A run may also advance the emulator while it runs (new messages and status changes while the connector pages).
Between runs the emulator adds messages and moves statuses along (`RunningEmulator.advance`). The last run always
finishes. Only lines read before the kill count as delivered; a line cut by the kill is not.

What is checked (`check_run`, `check_scenario`; every violation names the seed and the run):

* every run that was not killed exits 0 with no error trace and emits at least one STATE; a killed run exits
  -9 (or 0, if it had already ended); no run outlives `RUN_TIMEOUT_S`;
* every STATE is exactly `{"enqueued": "<digits>"}` for `messages`; the states of a run never go below its input
  state nor below each other, and the state carried from run to run never moves backwards;
* a finished run's last state is the largest `enqueued` among the records it emitted (or its input state);
* without a concurrent advance, a run emits exactly the emulator's messages with
  `enqueued >= state - lookback_days` (all of them without state), newest first, each as the emulator holds it
  (null fields left out, as the CDK does); a killed run emits a prefix of that list;
* no loss: the ids delivered by all runs together include every message the emulator holds at the end, and
  every delivered id is one of them;
* freshness: for every message enqueued at or after the final state minus `lookback_days`, the last record
  delivered for its id equals the emulator's current record (so its latest status arrived);
* the final state is the emulator's newest `enqueued`; no output contains the API key.

Determinism: the plan (log shape, run kinds, the shares at which kills and advances happen, how many messages
each advance adds) depends on the seed only. With only `lines`, `before_state`, `after_state` and `finish` runs
the whole scenario is deterministic, because delivery is counted in lines read. A `delay` kill, or an advance
during a run, lands where the timing puts it, so the states after it (and the records of later runs) can vary
from one execution to the next; the checks do not depend on where they land.

`python -m integration_tests.resume_soak --scenarios 50 --seed 1` runs seeds 1..50 and exits 1 on any violation;
`--seed S --scenarios 1 -v` replays one.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from courier_emulator.server import RunningEmulator, run_in_thread
from integration_tests import cli_runner
from integration_tests.cli_runner import API_KEY, CANARIES, CATALOG, CLI, DAY_MS, HOUR_MS, PROTOCOL_TYPES

KILL_KINDS = ("finish", "lines", "delay", "before_state", "after_state")
KILL_WEIGHTS = (20, 35, 20, 15, 10)
# Lines a read prints besides its records: 8 before the first record (logs, STARTED, RUNNING) and 7 after the
# last (two STATEs, logs, COMPLETE), as observed with airbyte-cdk 7.39.1.
OTHER_LINES = 15
STARTUP_S = 1.5  # the CLI's start-up before its first request, roughly, on 2 busy cores
RUN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class RunPlan:
    kill: str  # one of KILL_KINDS
    kill_share: float  # `lines`: share of the expected lines; `delay`: share of the estimated wall time
    advance_during_share: float | None  # advance the emulator after this share of the expected lines, if set
    advance_during_messages: int
    new_messages_after: int  # the advance between this run and the next (none after the last run)
    statuses_after: bool


@dataclass(frozen=True)
class ScenarioPlan:
    seed: int
    messages: int
    spacing_ms: int
    status_window_ms: int
    lookback_days: int
    latency_ms: int
    runs: tuple[RunPlan, ...]


def plan_scenario(seed: int) -> ScenarioPlan:
    """The scenario of this seed: a pure function of it."""
    rng = random.Random(seed)
    messages = rng.randint(60, 400)
    spacing_ms = rng.choice((15 * 60_000, HOUR_MS, 3 * HOUR_MS))
    status_window_ms = rng.choice((DAY_MS, 2 * DAY_MS, 4 * DAY_MS))
    lookback_days = rng.choice((0, 1, 2))
    latency_ms = rng.choice((5, 15, 30))
    count = rng.randint(3, 6)
    runs = []
    for index in range(count):
        last = index == count - 1
        kill = "finish" if last else rng.choices(KILL_KINDS, KILL_WEIGHTS)[0]
        during = None if last or rng.random() >= 0.25 else rng.uniform(0.05, 0.9)
        runs.append(
            RunPlan(
                kill=kill,
                kill_share=rng.uniform(0.05, 1.05),
                advance_during_share=during,
                advance_during_messages=rng.randint(0, 25),
                new_messages_after=0 if last else rng.randint(0, 40),
                statuses_after=not last and rng.random() < 0.85,
            )
        )
    return ScenarioPlan(seed, messages, spacing_ms, status_window_ms, lookback_days, latency_ms, tuple(runs))


# --- observing one run --------------------------------------------------------------------------------------------


@dataclass
class RunObservation:
    index: int
    plan: RunPlan
    input_state: int | None
    expected: list[dict[str, Any]] | None  # the exact records due, when no advance can happen during the run
    records: list[dict[str, Any]] = field(default_factory=list)
    states: list[dict[str, Any]] = field(default_factory=list)  # each STATE message's `state`, in order
    errors: list[dict[str, Any]] = field(default_factory=list)  # error traces
    bad_lines: list[str] = field(default_factory=list)  # complete lines that are not protocol messages
    stopped_early: bool = False  # we stopped reading (lines/before_state/after_state) or the timer fired
    advanced_during: bool = False
    returncode: int | None = None
    timed_out: bool = False
    seconds: float = 0.0
    lines_read: int = 0
    state_line_numbers: list[int] = field(default_factory=list)
    last_record_line: int = 0

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    @property
    def completed(self) -> bool:
        return not self.killed and not self.timed_out and not self.stopped_early

    @property
    def saved_state(self) -> int | None:
        """The state the next run resumes from: the last one this run emitted, else the one it started from."""
        if self.states:
            return _enqueued_of(self.states[-1])
        return self.input_state


def as_emitted(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the CDK prints it: top-level fields that are null are left out."""
    return {key: value for key, value in record.items() if value is not None}


def _enqueued_of(state: dict[str, Any]) -> int | None:
    """The `enqueued` of a STATE message's `state`, or None if it is not exactly the documented shape."""
    try:
        stream = state["stream"]
        blob = stream["stream_state"]
        if state["type"] != "STREAM" or stream["stream_descriptor"] != {"name": "messages"}:
            return None
        if set(blob) != {"enqueued"} or not isinstance(blob["enqueued"], str) or not blob["enqueued"].isdigit():
            return None
        return int(blob["enqueued"])
    except (KeyError, TypeError, AttributeError):
        return None


def due_records(emulator: RunningEmulator, input_state: int | None, lookback_days: int) -> list[dict[str, Any]]:
    """What a read from `input_state` must emit now: the messages with `enqueued >= state - lookback`, newest
    first, as emitted (all of them without state)."""
    log = emulator.log
    with log.lock:
        since = None if input_state is None else input_state - lookback_days * DAY_MS
        return [as_emitted(log.message(i)) for i in log.indices_enqueued_since(since)]


def run_once(
    plan: ScenarioPlan, index: int, emulator: RunningEmulator, workdir: Path, input_state: int | None
) -> RunObservation:
    """Runs `plan.runs[index]` against the emulator from `input_state`, killing it as planned."""
    run = plan.runs[index]
    due = due_records(emulator, input_state, plan.lookback_days)
    # An advance during the run makes what it emits depend on timing: then only the invariants are checked.
    observation = RunObservation(index, run, input_state, due if run.advance_during_share is None else None)
    expected_lines = len(due) + OTHER_LINES
    kill_after_lines = max(1, round(run.kill_share * expected_lines)) if run.kill == "lines" else None
    advance_after_lines = (
        max(1, round(run.advance_during_share * expected_lines)) if run.advance_during_share is not None else None
    )
    pages = len(due) // 10 + 1
    delay = run.kill_share * (STARTUP_S + pages * (plan.latency_ms / 1000 + 0.01)) if run.kill == "delay" else None

    rundir = workdir / f"run{index}"
    rundir.mkdir(parents=True, exist_ok=True)
    config_path = rundir / "config.json"
    config_path.write_text(json.dumps(cli_runner.config(emulator.base_url, lookback_days=plan.lookback_days)))
    args = [str(CLI), "read", "--config", str(config_path), "--catalog", str(CATALOG)]
    if input_state is not None:
        state_path = rundir / "state.json"
        state_path.write_text(json.dumps(cli_runner.messages_state(input_state)))
        args += ["--state", str(state_path)]
    stderr_path = rundir / "stderr.txt"

    started = time.monotonic()
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=stderr, text=True)
    fired = threading.Event()

    def kill(reason: str) -> None:
        if reason == "timeout":
            observation.timed_out = True
        fired.set()
        process.kill()

    timers = [threading.Timer(RUN_TIMEOUT_S, kill, ("timeout",))]
    if delay is not None:
        timers.append(threading.Timer(delay, kill, ("delay",)))
    for timer in timers:
        timer.daemon = True
        timer.start()
    seen: list[str] = []
    assert process.stdout is not None
    try:
        for line in process.stdout:
            seen.append(line)
            if not line.endswith("\n"):
                break  # cut by the kill: not delivered
            observation.lines_read += 1
            message = _parse(line)
            if message is None:
                observation.bad_lines.append(line[:300])
                continue
            if message["type"] == "STATE" and run.kill == "before_state":
                observation.stopped_early = True
                process.kill()
                break
            _take(observation, message)
            if message["type"] == "STATE" and run.kill == "after_state":
                observation.stopped_early = True
                process.kill()
                break
            if advance_after_lines is not None and observation.lines_read == advance_after_lines:
                emulator.advance(new_messages=run.advance_during_messages, advance_statuses=True)
                observation.advanced_during = True
            if kill_after_lines is not None and observation.lines_read >= kill_after_lines:
                observation.stopped_early = True
                process.kill()
                break
        seen.append(process.stdout.read())  # for the key scan only: not delivered
        for timer in timers:
            timer.cancel()
        observation.returncode = process.wait(timeout=RUN_TIMEOUT_S)
    finally:
        for timer in timers:
            timer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    observation.seconds = time.monotonic() - started
    if fired.is_set() and observation.killed:
        observation.stopped_early = True
    cli_runner.OUTPUTS.extend(["".join(seen), stderr_path.read_text()])
    return observation


def _parse(line: str) -> dict[str, Any] | None:
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and message.get("type") in PROTOCOL_TYPES else None


def _take(observation: RunObservation, message: dict[str, Any]) -> None:
    kind = message["type"]
    if kind == "RECORD" and message["record"].get("stream") == "messages":
        observation.records.append(message["record"]["data"])
        observation.last_record_line = observation.lines_read
    elif kind == "STATE":
        observation.states.append(message["state"])
        observation.state_line_numbers.append(observation.lines_read)
    elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
        observation.errors.append(message["trace"]["error"])


# --- the checks (pure) --------------------------------------------------------------------------------------------


def check_run(seed: int, observation: RunObservation) -> list[str]:
    """What one run got wrong, each as a line naming the seed and the run."""
    where = f"seed {seed} run {observation.index} ({observation.plan.kill})"
    found: list[str] = []
    if observation.timed_out:
        found.append(f"{where}: still running after {RUN_TIMEOUT_S:.0f} s, killed")
    if observation.bad_lines:
        found.append(f"{where}: stdout lines that are not protocol messages: {observation.bad_lines[:3]}")
    if observation.completed:
        if observation.returncode != 0:
            found.append(f"{where}: exit code {observation.returncode}, expected 0")
        if observation.errors:
            found.append(f"{where}: error traces {[e.get('message') for e in observation.errors]}")
        if not observation.states:
            found.append(f"{where}: finished without emitting a STATE")
    elif observation.returncode not in (0, -signal.SIGKILL) and not observation.timed_out:
        found.append(f"{where}: killed run exited {observation.returncode}, expected -9 or 0")
    floor = observation.input_state
    for number, state in enumerate(observation.states):
        enqueued = _enqueued_of(state)
        if enqueued is None:
            found.append(f"{where}: STATE {number} is not {{'enqueued': '<digits>'}} for messages: {state}")
            continue
        if floor is not None and enqueued < floor:
            found.append(f"{where}: STATE {number} moved backwards: {enqueued} < {floor}")
        floor = enqueued if floor is None else max(floor, enqueued)
    if observation.completed and observation.states:
        candidates = [int(r["enqueued"]) for r in observation.records]
        if observation.input_state is not None:
            candidates.append(observation.input_state)
        want = max(candidates, default=None)
        if _enqueued_of(observation.states[-1]) != want:
            found.append(f"{where}: final STATE {observation.states[-1]['stream']['stream_state']} != newest {want}")
    if observation.expected is not None:
        got = observation.records
        want_records = observation.expected if observation.completed else observation.expected[: len(got)]
        if got != want_records:
            got_ids, want_ids = [r.get("id") for r in got], [r.get("id") for r in want_records]
            detail = (
                f"ids {got_ids[:5]}... ({len(got_ids)}) != {want_ids[:5]}... ({len(want_ids)})"
                if got_ids != want_ids
                else f"first differing record {next(g for g, w in zip(got, want_records, strict=True) if g != w)}"
            )
            shape = "exactly the due records" if observation.completed else "a prefix of the due records"
            found.append(f"{where}: expected {shape} from state {observation.input_state}: {detail}")
    return found


def check_scenario(
    plan: ScenarioPlan, observations: Sequence[RunObservation], truth: list[dict[str, Any]], newest: int | None
) -> list[str]:
    """What the whole chain got wrong. `truth`: the emulator's records at the end (newest first, as emitted);
    `newest`: its newest `enqueued`."""
    seed = plan.seed
    found = [line for observation in observations for line in check_run(seed, observation)]
    saved = [o.saved_state for o in observations]
    for index in range(1, len(saved)):
        before, after = saved[index - 1], saved[index]
        if before is not None and (after is None or after < before):
            found.append(f"seed {seed}: the saved state moved backwards after run {index}: {before} -> {after}")
    if observations and not observations[-1].completed:
        found.append(f"seed {seed}: the last run did not finish")
    delivered: dict[str, dict[str, Any]] = {}
    for observation in observations:
        for record in observation.records:
            delivered[record["id"]] = record  # the last delivered version wins, as in append_dedup
    held = {record["id"]: record for record in truth}
    lost = [i for i in held if i not in delivered]
    if lost:
        found.append(f"seed {seed}: {len(lost)} of {len(held)} messages never delivered, e.g. {lost[:5]}")
    phantom = [i for i in delivered if i not in held]
    if phantom:
        found.append(f"seed {seed}: {len(phantom)} delivered ids the emulator does not hold, e.g. {phantom[:5]}")
    final = observations[-1].saved_state if observations else None
    if final != newest:
        found.append(f"seed {seed}: the final state {final} is not the newest enqueued {newest}")
    if final is not None:
        window_start = final - plan.lookback_days * DAY_MS
        stale = [
            (record["id"], delivered[record["id"]].get("status"), record.get("status"))
            for record in truth
            if int(record["enqueued"]) >= window_start
            and record["id"] in delivered
            and delivered[record["id"]] != record
        ]
        if stale:
            found.append(
                f"seed {seed}: {len(stale)} messages enqueued since {window_start} (final state - "
                f"{plan.lookback_days} d) were last delivered out of date, e.g. (id, delivered, current) {stale[:3]}"
            )
    return found


def stale_outside_window(
    plan: ScenarioPlan, observations: Sequence[RunObservation], truth: list[dict[str, Any]]
) -> int:
    """Messages older than the lookback window whose last delivered version is out of date: expected by design
    (docs/courier.md, behaviour 2), counted for the summary, not a violation."""
    final = observations[-1].saved_state if observations else None
    if final is None:
        return 0
    delivered = {r["id"]: r for o in observations for r in o.records}
    start = final - plan.lookback_days * DAY_MS
    return sum(1 for r in truth if int(r["enqueued"]) < start and r["id"] in delivered and delivered[r["id"]] != r)


def leaked(outputs: Sequence[str]) -> bool:
    return any(canary in output for output in outputs for canary in CANARIES)


# --- a scenario ---------------------------------------------------------------------------------------------------


@dataclass
class ScenarioResult:
    plan: ScenarioPlan
    observations: list[RunObservation]
    violations: list[str]
    messages_at_end: int
    stale_outside_window: int
    seconds: float


def run_scenario(seed: int, workdir: Path) -> ScenarioResult:
    """Plans the seed's scenario, runs its chain of reads against a fresh emulator, and checks it."""
    plan = plan_scenario(seed)
    started = time.monotonic()
    observations: list[RunObservation] = []
    with run_in_thread(
        api_key=API_KEY,
        messages=plan.messages,
        spacing_ms=plan.spacing_ms,
        status_window_ms=plan.status_window_ms,
        workspace=None,
    ) as emulator:
        emulator.set_faults(latency_ms=plan.latency_ms)
        state: int | None = None
        for index, run in enumerate(plan.runs):
            observation = run_once(plan, index, emulator, workdir / f"seed{seed}", state)
            observations.append(observation)
            state = observation.saved_state
            emulator.reset_requests()  # the request log is not checked here; keep it small
            if index < len(plan.runs) - 1 and (run.new_messages_after or run.statuses_after):
                emulator.advance(new_messages=run.new_messages_after, advance_statuses=run.statuses_after)
        truth = due_records(emulator, None, 0)
        newest = emulator.log.newest_enqueued
    violations = check_scenario(plan, observations, truth, newest)
    return ScenarioResult(
        plan,
        observations,
        violations,
        len(truth),
        stale_outside_window(plan, observations, truth),
        time.monotonic() - started,
    )


def run_scenarios(seeds: Sequence[int], workdir: Path) -> Iterator[ScenarioResult]:
    for seed in seeds:
        yield run_scenario(seed, workdir)


def describe(result: ScenarioResult) -> str:
    plan = result.plan
    runs = ", ".join(
        f"{o.plan.kill}{'+adv' if o.advanced_during else ''}:{len(o.records)}r/{len(o.states)}s"
        f"{'/-9' if o.killed else ''}"
        for o in result.observations
    )
    return (
        f"seed {plan.seed}: {plan.messages} msgs every {plan.spacing_ms // 60_000} min, lookback {plan.lookback_days} d, "
        f"window {plan.status_window_ms // DAY_MS} d, latency {plan.latency_ms} ms, {result.messages_at_end} at end, "
        f"{result.stale_outside_window} stale outside the lookback; runs [{runs}]; {result.seconds:.1f} s"
        f"{'; VIOLATIONS ' + str(len(result.violations)) if result.violations else ''}"
    )


def summary(results: Sequence[ScenarioResult], seconds: float, leak: bool) -> str:
    observations = [o for r in results for o in r.observations]
    kinds = {kind: sum(1 for o in observations if o.plan.kill == kind) for kind in KILL_KINDS}
    killed = [o for o in observations if o.killed]
    killed_with_state = [o for o in killed if o.states]
    completed = [o for o in observations if o.completed]
    mid_stream = [o for o in observations if o.state_line_numbers and o.state_line_numbers[0] < o.last_record_line]
    violations = [v for r in results for v in r.violations]
    lines = [
        f"{len(results)} scenarios, {len(observations)} runs in {seconds:.0f} s "
        f"({', '.join(f'{k} {n}' for k, n in kinds.items())}; {sum(o.advanced_during for o in observations)} "
        f"with an advance during the run)",
        f"{len(killed)} runs ended by SIGKILL ({len(killed_with_state)} of them after a STATE arrived), "
        f"{len(completed)} finished; {sum(len(o.records) for o in observations)} records delivered",
        f"STATE lines per finished run: {sorted({len(o.states) for o in completed})}; runs with a STATE before "
        f"their last record: {len(mid_stream)}",
        f"messages out of date outside the lookback window (by design): {sum(r.stale_outside_window for r in results)}",
        f"API key in any output: {'YES' if leak else 'no'}",
        f"violations: {len(violations)}",
        *violations,
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", type=int, default=50, help="how many seeds to run (default 50)")
    parser.add_argument("--seed", type=int, default=1, help="the first seed; scenarios use seed, seed+1, ...")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per scenario as it ends")
    args = parser.parse_args(argv)
    seeds = range(args.seed, args.seed + args.scenarios)
    started = time.monotonic()
    results = []
    with tempfile.TemporaryDirectory(prefix="resume-soak-") as workdir:
        for result in run_scenarios(seeds, Path(workdir)):
            results.append(result)
            if args.verbose or result.violations:
                sys.stdout.write(describe(result) + "\n")
                sys.stdout.flush()
    leak = leaked(cli_runner.OUTPUTS)
    sys.stdout.write(summary(results, time.monotonic() - started, leak) + "\n")
    return 1 if leak or any(r.violations for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
