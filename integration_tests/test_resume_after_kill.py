"""Interruption and resume, short form: a few seeded scenarios of `resume_soak` (the long form is `make soak`).

Each scenario kills the installed CLI with SIGKILL at planned points of an incremental read, resumes from the last
state it emitted while the emulator adds messages and moves statuses, and checks no loss, a state that never
moves backwards and fresh statuses within the lookback window (see `integration_tests/resume_soak.py`). The
checks themselves are tested first, on hand-made runs, so that a check that cannot fail does not pass unnoticed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from courier_emulator.data import MessageLog
from integration_tests.cli_runner import DAY_MS, HOUR_MS, messages_state
from integration_tests.resume_soak import (
    KILL_KINDS,
    RunObservation,
    RunPlan,
    ScenarioPlan,
    as_emitted,
    check_scenario,
    plan_scenario,
    run_scenario,
    stale_outside_window,
)

# Together: every kill kind, an advance during a run, and lookback_days 0, 1 and 2 (checked below).
SHORT_SEEDS = (2, 13, 34)


def test_the_short_seeds_cover_every_kill_kind_an_advance_during_a_run_and_every_lookback():
    plans = [plan_scenario(seed) for seed in SHORT_SEEDS]

    assert {run.kill for plan in plans for run in plan.runs} == set(KILL_KINDS)
    assert any(run.advance_during_share is not None for plan in plans for run in plan.runs)
    assert {plan.lookback_days for plan in plans} == {0, 1, 2}
    assert all(plan.runs[-1].kill == "finish" for plan in plans)


def test_a_plan_depends_on_its_seed_only():
    assert plan_scenario(7) == plan_scenario(7)
    assert plan_scenario(7) != plan_scenario(8)


@pytest.mark.slow  # a soak seed: several reads, kills and waits each
@pytest.mark.parametrize("seed", SHORT_SEEDS)
def test_killed_and_resumed_reads_lose_nothing_keep_state_monotonic_and_end_fresh(seed, tmp_path):
    result = run_scenario(seed, tmp_path)

    assert result.violations == []
    assert result.observations[-1].completed
    assert any(o.stopped_early for o in result.observations)  # a kill landed (a `delay` one may not)


# --- the checks fail when they should -----------------------------------------------------------------------------

PLAN = ScenarioPlan(
    seed=0,
    messages=6,
    spacing_ms=HOUR_MS,
    status_window_ms=DAY_MS,
    lookback_days=0,
    latency_ms=0,
    runs=(RunPlan("lines", 0.5, None, 0, 0, False), RunPlan("finish", 1.0, None, 0, 0, False)),
)


def _log() -> MessageLog:
    return MessageLog(PLAN.messages, spacing_ms=PLAN.spacing_ms)


def _records(log: MessageLog, count: int | None = None) -> list[dict[str, Any]]:
    return [as_emitted(log.message(i)) for i in range(log.count if count is None else count)]


def _state(enqueued: int) -> dict[str, Any]:
    return messages_state(enqueued)[0]


def _chain(log: MessageLog) -> list[RunObservation]:
    """A killed first read that got three records and no state, then a read from scratch that finished."""
    everything = _records(log)
    killed = RunObservation(0, PLAN.runs[0], None, everything, records=everything[:3], returncode=-9)
    killed.stopped_early = True
    finished = RunObservation(
        1, PLAN.runs[1], None, everything, records=everything, states=[_state(log.enqueued(0))] * 2, returncode=0
    )
    return [killed, finished]


def test_a_clean_chain_has_no_violation():
    log = _log()

    assert check_scenario(PLAN, _chain(log), _records(log), log.enqueued(0)) == []


def test_a_message_never_delivered_is_a_loss():
    log = _log()
    runs = _chain(log)
    runs[1].records = runs[1].records[:-1]
    runs[1].expected = None  # leave only the scenario-wide check to catch it

    (violation,) = check_scenario(PLAN, runs, _records(log), log.enqueued(0))
    assert "seed 0: 1 of 6 messages never delivered" in violation


@pytest.mark.parametrize(
    "change, fragments",
    [
        pytest.param(
            lambda log: {"input_state": log.enqueued(1), "states": [_state(log.enqueued(0)), _state(log.enqueued(2))]},
            ("seed 0 run 1 (finish): STATE 1 moved backwards", "final STATE"),
            id="a-state-below-the-input-and-the-previous-state",
        ),
        pytest.param(
            lambda log: {"returncode": 1, "errors": [{"message": "boom"}]},
            ("exit code 1, expected 0", "error traces ['boom']"),
            id="an-error-trace-and-a-bad-exit-code",
        ),
        pytest.param(lambda log: {"states": []}, ("finished without emitting a STATE",), id="no-state"),
    ],
)
def test_a_finished_run_that_breaks_a_rule_is_a_violation(change, fragments):
    log = _log()
    runs = _chain(log)
    runs[1] = dataclasses.replace(runs[1], **change(log))

    violations = check_scenario(PLAN, runs, _records(log), log.enqueued(0))
    for fragment in fragments:
        assert any(fragment in violation for violation in violations), violations


def test_a_stale_status_inside_the_lookback_is_a_violation_and_outside_it_is_only_counted():
    log = _log()
    runs = _chain(log)
    log.advance(new_messages=0, advance_statuses=True)  # statuses move after the last read
    truth = _records(log)
    changed = [r["id"] for r, before in zip(truth, runs[1].records, strict=True) if r != before]
    # Messages 1-4 move a step (OPENED, DELIVERED, SENT, ENQUEUED); 0 is CLICKED and 5 UNDELIVERABLE, final.
    assert changed == [log.message_id(i) for i in (1, 2, 3, 4)]

    (violation,) = check_scenario(dataclasses.replace(PLAN, lookback_days=1), runs, truth, log.enqueued(0))
    assert "seed 0: 4 messages enqueued since" in violation and "were last delivered out of date" in violation
    # With lookback 0 the window holds the newest message only, which did not change.
    assert check_scenario(PLAN, runs, truth, log.enqueued(0)) == []
    assert stale_outside_window(PLAN, runs, truth) == 4


def test_a_killed_run_must_have_emitted_a_prefix_of_the_due_records():
    log = _log()
    runs = _chain(log)
    runs[0].records = [runs[0].records[1]]

    (violation,) = check_scenario(PLAN, runs, _records(log), log.enqueued(0))
    assert "seed 0 run 0 (lines): expected a prefix of the due records" in violation
