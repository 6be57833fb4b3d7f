"""Speculative shrinking on worker processes, of a real failing simulated run: the sequential search, step for step."""

from __future__ import annotations

import tempfile

import pytest

from runner.explore import candidate_for, executor_evaluate
from runner.explore_pool import ProcessExecutor
from runner.explore_trial import TrialTask, run_task, warm_up
from runner.options import RunOptions
from runner.shrink import Candidate, Outcome, shrink


@pytest.mark.realtime  # 10-17 s of real processes: with .ci/run's second step, off the 10-minute default suite
def test_speculative_shrink_of_a_real_failure_equals_the_sequential_one() -> None:
    """Seed 1 of no-repair under partitions shrinks on 2 workers to the same run, steps and judged sequence as in-process."""
    base = RunOptions(mode="sim", bug="no-repair", nemesis=("partition",), time_limit=4.0, fault_interval=1.0,
                      quiesce=1.0, converge_timeout=3.0).validate()
    start = candidate_for(base, 1, False)
    with tempfile.TemporaryDirectory() as scratch:
        argv = ("harness.py", "explore")

        def trial(c: Candidate) -> Outcome:
            return run_task(TrialTask(0, c, argv, scratch)).outcome

        outcome = trial(start)
        assert outcome.valid is False
        seq: list[tuple[int, str, bool, str]] = []
        sequential = shrink(start, outcome, trial, budget=20,
                            on_trial=lambda n, r, c, o, kept: seq.append((n, r, kept, o.history_sha256)))
        warm_up()
        par: list[tuple[int, str, bool, str]] = []
        with ProcessExecutor(2) as pool:
            parallel = shrink(start, outcome, evaluate=executor_evaluate(pool, argv, scratch), budget=20,
                              on_trial=lambda n, r, c, o, kept: par.append((n, r, kept, o.history_sha256)))
    assert sequential.steps, "the failure shrinks at all"
    assert parallel == sequential  # the minimal run, its outcome (history sha256), every step, trials, budget
    assert par == seq  # the same candidates judged in the same order with the same outcomes and verdicts
    assert parallel.speculative >= 0 and sequential.speculative == 0
