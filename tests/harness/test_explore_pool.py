"""The process pool explore runs seeds on: results as they complete, errors in one line, cancellation, no leftovers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.explore_pool import InlineExecutor, ProcessExecutor, TaskFailed


def _square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _boom(x: int) -> int:
    raise ValueError(f"bad item {x}")


def test_every_item_comes_back_once_from_worker_processes() -> None:
    """ProcessExecutor(2) returns each item's result once, computed in processes other than this one."""
    with ProcessExecutor(2) as pool:
        results = list(pool.map_unordered(_square, range(20)))
    assert sorted(r for r, _ in results) == [x * x for x in range(20)]
    assert os.getpid() not in {pid for _, pid in results}


def test_a_task_error_is_one_line_with_the_worker_traceback_as_its_cause() -> None:
    """A task raising in a worker surfaces as TaskFailed naming the error in one line, the traceback in __cause__."""
    with ProcessExecutor(2) as pool, pytest.raises(TaskFailed) as caught:
        list(pool.map_unordered(_boom, [7]))
    assert str(caught.value) == "an explore task failed in a worker: ValueError: bad item 7"
    assert "Traceback" in str(caught.value.__cause__)


def test_leaving_early_cancels_and_the_next_call_sees_only_its_own_results() -> None:
    """Closing map_unordered early cancels tasks in flight; a later call yields only its own items' results."""
    with ProcessExecutor(2) as pool:
        first = pool.map_unordered(_square, range(100, 110))
        next(first)
        first.close()
        assert sorted(r for r, _ in pool.map_unordered(_square, range(5))) == [0, 1, 4, 9, 16]
        workers = list(pool._procs)
    assert all(not p.is_alive() for p in workers)  # close() leaves no worker behind


def test_one_worker_runs_in_this_process() -> None:
    """InlineExecutor (--workers 1) runs each task here, in order."""
    assert [pid for _, pid in InlineExecutor().map_unordered(_square, range(3))] == [os.getpid()] * 3


def _slow(x: int) -> int:
    import time

    time.sleep(0.2)
    return x


def test_a_call_while_every_worker_finishes_an_abandoned_task_still_runs_all_its_items() -> None:
    """Right after a call is left with both workers busy, the next call waits for them and yields all its items."""
    with ProcessExecutor(2) as pool:
        first = pool.map_unordered(_slow, [100, 101, 102])
        assert next(first) in (100, 101)
        first.close()  # one worker still on a task (drained, not killed: it has run < 0.5 s)
        assert sorted(pool.map_unordered(_slow, [1, 2, 3])) == [1, 2, 3]


def _die_once(marker: str) -> int:
    """Kill this worker the first time (``marker`` records it), then return the pid."""
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return os.getpid()


def _die_always(_: object) -> int:
    os._exit(9)


class _Labelled:
    """A task with a long repr and a short label, as explore's TrialTask."""

    label = "seed 42"

    def __repr__(self) -> str:
        return "Labelled(" + "x" * 2000 + ")"


def test_a_worker_dying_mid_task_is_replaced_and_the_task_run_again(tmp_path: Path) -> None:
    """A task whose worker dies (as by kill -9) runs again on a fresh worker and its result arrives."""
    with ProcessExecutor(2) as pool:
        results = list(pool.map_unordered(_die_once, [str(tmp_path / "died")]))
    assert len(results) == 1 and (tmp_path / "died").exists()


def test_a_task_that_kills_its_worker_twice_is_one_short_line_naming_it() -> None:
    """A task whose worker dies twice is a usage-class one-line error naming its label, not its repr."""
    from runner.options import OptionError

    with ProcessExecutor(2) as pool, pytest.raises(OptionError) as caught:
        list(pool.map_unordered(_die_always, [_Labelled()]))
    message = str(caught.value)
    assert "seed 42" in message and "xxx" not in message and "\n" not in message and len(message) < 300
