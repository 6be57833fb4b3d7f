"""The process pool explore runs seeds on: results as they complete, errors in one line, cancellation, no leftovers."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

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


def _session(_: int) -> tuple[int, int, int]:
    return os.getpid(), os.getsid(0), os.getpgid(0)


def test_each_worker_is_a_session_of_its_own() -> None:
    """Workers are session leaders (so Linux's autogroup gives each its CPU share, not one for all of explore),
    outside explore's session and process group (a terminal's Ctrl-C reaches explore alone)."""
    with ProcessExecutor(2) as pool:
        seen = set(pool.map_unordered(_session, range(8)))
    assert {pid for pid, _, _ in seen} and all(sid == pid == group for pid, sid, group in seen), seen
    assert os.getsid(0) not in {sid for _, sid, _ in seen}


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


def test_a_worker_is_forked_when_its_first_task_is_sent() -> None:
    """A pool forks a worker only for a task: one item on four workers forks one (the first task waits for no other fork)."""
    with ProcessExecutor(4) as pool:
        assert [r for r, _ in pool.map_unordered(_square, [3])] == [9]
        assert sum(p is not None for p in pool._procs) == 1
        assert sorted(r for r, _ in pool.map_unordered(_square, range(8))) == [0, 1, 4, 9, 16, 25, 36, 49]
        assert sum(p is not None for p in pool._procs) == 4


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


def _sleep_then(x: tuple[float, int]) -> int:
    import time

    time.sleep(x[0])
    return x[1]


def test_cancel_drops_the_unwanted_tasks_in_flight_and_keeps_the_rest() -> None:
    """cancel(pred) mid-call: the matching task's result never comes out, the others' do, and its worker is reused."""
    with ProcessExecutor(2) as pool:
        results = pool.map_unordered(_sleep_then, [(0.1, 1), (30.0, 2), (0.1, 3), (0.1, 4)])
        got = [next(results)]
        assert pool.cancel(lambda item: item[1] == 2) == 1
        got += list(results)
    assert sorted(got) == [1, 3, 4]


# -- the sweep and the shrink run ahead, on a scripted pool of two ---------------------------------


FAILING: set[int] = set()
"""The seeds whose fake runs fail (set by each test)."""


def _fake_outcome(c: Any) -> Any:
    """A seed in FAILING fails while its run keeps >= 2 s and >= 4 nodes; operations shrink with rate and time."""
    from runner.shrink import Outcome

    fails = c.options.seed in FAILING and c.options.time_limit >= 2 and c.options.nodes >= 4
    return Outcome(not fails, ("lost-write",) if fails else (), int(c.options.rate * c.options.time_limit),
                   len(c.schedule.windows))


class _TwoWorkers:
    """A pool of two on a virtual clock: a seed takes 10 units, a shrink candidate 1; outcomes from ``_fake_outcome``."""

    workers = 2

    def __init__(self) -> None:
        self.pulled: list[int] = []
        self.cancelled: list[int] = []
        self._running: list[list[Any]] | None = None

    def map_unordered(self, fn: Any, items: Any) -> Any:
        from runner.explore_trial import TrialReport

        clock, running, source, exhausted = 0.0, [], iter(items), False
        self._running = running
        try:
            while True:
                while not exhausted and len(running) < 2:
                    task = next(source, None)
                    if task is None:
                        exhausted = True
                        break
                    self.pulled.append(task.index)
                    running.append([clock + (10 if task.index >= 0 else 1), task])
                if not running:
                    return
                running.sort(key=lambda r: (r[0], r[1].index))
                clock, task = running.pop(0)
                yield TrialReport(task.index, task.candidate.options.seed, _fake_outcome(task.candidate), (),
                                  {"windows": 0, "bit": 0, "inert": 0, "unknown": 0}, 1.0, 0.0)
        finally:
            self._running = None

    def cancel(self, unwanted: Any) -> int:
        gone = [r for r in self._running or [] if unwanted(r[1])]
        for r in gone:
            self._running.remove(r)  # type: ignore[union-attr]
            self.cancelled.append(r[1].index)
        return len(gone)

    def close(self) -> None:
        pass


def _sweep_and_shrink(executor: Any, seeds: list[int]) -> tuple[Any, Any]:
    """explore's sweep then its shrink, as explore runs them, on ``executor``."""
    import io

    from runner.explore import ExploreProgress, TrialStream, sweep
    from runner.options import RunOptions
    from runner.shrink import Shrinker

    base = RunOptions(mode="sim", nemesis=("partition",), time_limit=4.0, fault_interval=1.0).validate()
    stream = TrialStream(executor, ("test",), "")

    def ahead(i: int, c: Any) -> Shrinker:
        return Shrinker(c, stream.evaluate(i), budget=30)

    found = sweep(base, seeds, executor, argv=("test",), scratch="", progress=ExploreProgress(len(seeds), io.StringIO()),
                  stream=stream, shrink_ahead=ahead if executor.workers > 1 else None)
    assert found.failing is not None and found.failing[1] is not None
    candidate, report = found.failing
    shrinker = found.shrinker or Shrinker(candidate, stream.evaluate(-1), budget=30)
    try:
        return found, shrinker.run(report.outcome)
    finally:
        stream.close()


class _OneWorker(_TwoWorkers):
    workers = 1

    def map_unordered(self, fn: Any, items: Any) -> Any:
        from runner.explore_trial import TrialReport

        for task in items:
            self.pulled.append(task.index)
            yield TrialReport(task.index, task.candidate.options.seed, _fake_outcome(task.candidate), (),
                              {"windows": 0, "bit": 0, "inert": 0, "unknown": 0}, 1.0, 0.0)


@pytest.mark.parametrize("failing", [{1}, {3}, {2, 5}])
def test_two_workers_shrinking_ahead_find_what_one_worker_finds(failing: set[int],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With 2 workers (shrink candidates of the running seed run ahead), the ledger lines, the failing seed and
    the whole shrink (minimal run, steps, trials) equal one worker's, whichever seed fails first."""
    monkeypatch.setattr(f"{__name__}.FAILING", failing)
    one, two = _OneWorker(), _TwoWorkers()
    found_one, shrunk_one = _sweep_and_shrink(one, list(range(1, 9)))
    found_two, shrunk_two = _sweep_and_shrink(two, list(range(1, 9)))
    first = min(failing)
    assert found_one.lines == found_two.lines and [line["seed"] for line in found_two.lines] == list(range(1, first + 1))
    assert found_one.failing[0] == found_two.failing[0] and found_two.failing[0].options.seed == first
    assert shrunk_one == shrunk_two and shrunk_two.steps  # the same minimal run, steps, trials, budget
    assert all(i < 0 for i in one.pulled[first:]) and one.pulled[:first] == list(range(first))  # nothing ahead
    assert two.pulled[:2] == [0, -1]  # while seed 1 runs, the other worker begins its shrink


def test_a_valid_seeds_shrink_run_ahead_is_cancelled_and_a_failing_ones_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """Seed 1 valid: the candidate of its shrink still running is cancelled; seed 1 failing: what ran ahead is judged."""
    monkeypatch.setattr(f"{__name__}.FAILING", {3})
    two = _TwoWorkers()
    _sweep_and_shrink(two, list(range(1, 9)))
    assert two.cancelled and all(i < 0 for i in two.cancelled)
    monkeypatch.setattr(f"{__name__}.FAILING", {1})
    two = _TwoWorkers()
    found, shrunk = _sweep_and_shrink(two, list(range(1, 9)))
    ran_ahead = two.pulled.index(-1) < two.pulled.index(0) + 2 and found.shrinker is not None
    assert ran_ahead and not two.cancelled and 1 not in two.pulled  # seed 2 never started
    run = sum(1 for i in two.pulled if i < 0)
    assert run - 1 <= shrunk.trials + shrunk.speculative <= run  # counted, but one left running at the end


PARENT = """
import os, sys, time
from runner.explore_pool import ProcessExecutor

def pid_then_sleep(x):
    print(os.getpid(), flush=True)
    time.sleep(60)

with ProcessExecutor(1) as pool:
    list(pool.map_unordered(pid_then_sleep, [1]))
"""


def test_a_worker_dies_when_explore_is_killed() -> None:
    """A SIGKILLed explore leaves no worker behind (PR_SET_PDEATHSIG, armed with the C library explore looked up)."""
    import signal
    import subprocess
    import sys
    import time

    with subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}) as proc:
        assert proc.stdout is not None
        worker = int(proc.stdout.readline())
        os.kill(worker, 0)  # running
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                return
            if state == "Z":  # dead, not yet reaped by whoever adopted it
                return
            time.sleep(0.05)
        os.kill(worker, signal.SIGKILL)
        raise AssertionError(f"worker {worker} outlived its killed explore")


def _stop_self(_: int) -> str:
    """A task whose worker is stopped (SIGSTOP) until explore's test continues it."""
    os.kill(os.getpid(), signal.SIGSTOP)
    return "continued"


@pytest.mark.realtime
def test_a_stopped_worker_is_said_once_and_still_waited_for() -> None:
    """A worker SIGSTOPped mid-task: after ``stall_seconds`` without CPU time one note names its pid, the task and
    that it is stopped (before: explore waited forever, silently); once continued, its answer still comes back."""
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        os.kill(int(text.split("pid ")[1].split(")")[0]), signal.SIGCONT)

    with ProcessExecutor(1, stall_seconds=0.5, note=note) as pool:
        assert list(pool.map_unordered(_stop_self, [7])) == ["continued"]
    assert len(notes) == 1, notes
    assert "running task 7 has used no CPU time for" in notes[0] and "it is stopped (SIGSTOP?" in notes[0], notes
