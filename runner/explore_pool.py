"""Where explore's seeds run: the ``SeedExecutor`` protocol, in process or on a pool of processes.

``explore`` hands an executor a module-level function and a lazy stream of picklable tasks (a seed
with its options, or a shrink candidate) and reads small picklable results back as they complete.
Three executors implement the protocol:

- ``InlineExecutor`` (``--workers 1``): each task runs in this process, in order, as today;
- ``ProcessExecutor(workers)`` (``--workers N``, the default every core): forked worker processes;
- ``runner.explore_cluster.ClusterExecutor(address)`` (``--cluster ADDRESS``): another engine's
  cluster, an optional extra.

An executor pulls tasks from ``items`` lazily, only when it can start one (at most ``workers`` in
flight, or a small multiple of it), so that the caller can stop feeding it: explore stops drawing
seeds past the first known failure. Results carry what identifies their task (the seed); their
order is the order of completion, never relied on by the caller for the outcome. An executor may
also have ``cancel(unwanted)``, which cancels the running call's tasks in flight that are no longer
wanted while the others go on (``ProcessExecutor`` has it: explore drops a valid seed's shrink run
ahead and the seeds past a failure, keeping that failure's shrink running); without it their
results are dropped when they come.

Process pool choices: workers are *forked*, measured against spawned ones (2 workers up and their
first trivial task back: fork 73-94 ms, spawn 6.7-7.4 s on the shared 2-core machine at load 7.5
with no bytecode cache, since a spawned worker imports and compiles Trio, attrs, orjson, the store
and the harness again; 70-100 us per task after that for both). Explore imports what a trial
imports lazily before it forks (``explore_trial.warm_up``), so a fresh worker starts warm, forks a
worker when its first task is sent (the first seed, which the sweep waits for, runs while the next
forks: 18-19 ms from the pool's creation to the first task sent, against 36-63 ms forking all first,
bench/explore_timeline.py at load 10), and
freezes what it holds then (``gc.freeze``, as Python's documentation advises before a fork): a
worker's collections no longer write to the objects it shares with explore, so no longer copy their
pages (bench/explore_timeline.py at load 6: 28-34k minor faults per worker against 36.5-37k for the
same 24-30 tasks). Each
worker is a session of its own (``setsid``): so a terminal's Ctrl-C reaches only explore, which then
kills them, and Linux's autogroup scheduler (``/proc/sys/kernel/sched_autogroup_enabled``, on here)
gives each worker a session's share of the CPU; in explore's session all of explore shared one
(measured with two busy workers beside other sessions' work at load 4.3: 0.50-0.68 of a core for
the two in explore's session, 0.81-0.97 in sessions of their own), so ``--workers 2`` ran hardly
faster than 1 whenever anything else ran. And with ``PR_SET_PDEATHSIG`` = SIGKILL (Linux) so that a SIGKILLed explore leaves no
worker behind. A worker that dies (out of memory, a signal) is replaced and its task run again on
the new one, once, as Dask's cluster does; a task whose worker dies twice is a ``WorkerDied``, one
line naming the task (its ``label``: "seed 3"), exit 254.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from .options import OptionError

T = TypeVar("T")
R = TypeVar("R")

DRAIN_BELOW = 0.5
"""Seconds: a cancelled task running for less is left to finish (its answer dropped), as killing and
forking a worker again costs more than a short trial; one running longer is killed with its worker."""

TASK_TRIES = 2
"""Workers a task may kill (by dying while running it) before it is reported: the first death may be
someone else's doing (a kill -9, the OOM killer choosing it), the second is likely the task's."""

PR_SET_PDEATHSIG = 1
"""``prctl`` option (linux/prctl.h): the signal the calling process gets when its parent thread dies."""


class SeedExecutor(Protocol):
    """Runs ``fn`` over tasks, several at once, yielding results as they complete."""

    workers: int
    """How many tasks run at once."""

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """``fn(item)`` for every item, results in completion order; ``items`` is pulled lazily.

        ``fn`` is a module-level (picklable) function, each item and result picklable. An exception
        ``fn`` raises is raised here (a ``TaskFailed`` naming it in one line, caused by its traceback).
        Closing the iterator early (explore does, past the first failing seed and once a shrink
        round has its answer) cancels the tasks still running: their results must never come out
        of a later call (``ProcessExecutor`` kills and replaces those workers). Items are pulled only
        when a task can start, so at most about ``workers`` are in flight.
        """
        ...

    def close(self) -> None:
        """Cancel what is pending and release the workers (idempotent)."""
        ...

    def __enter__(self) -> SeedExecutor: ...

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class TaskFailed(RuntimeError):
    """A task raised in a worker (the message is its last line; the cause carries the traceback), or its worker died."""


class WorkerDied(OptionError):
    """A task's worker process died each time it was tried (killed, out of memory): one line naming the task."""


def task_label(item: object) -> str:
    """What names a task in one line: its ``label`` ("seed 3"), else a short repr."""
    label = getattr(item, "label", None)
    if isinstance(label, str):
        return label
    text = repr(item)
    return f"task {text if len(text) <= 60 else text[:57] + '...'}"


class WorkerTraceback(Exception):
    """The traceback text of an exception raised in a worker (the cause of a ``TaskFailed``: ``-v`` prints it)."""


class InlineExecutor:
    """``--workers 1``: every task runs here, one after the other, exceptions raised as they are."""

    workers = 1

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        for item in items:
            yield fn(item)

    def close(self) -> None:
        pass

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


_LIBC: list[Any] = []
"""The C library (``_libc``), looked up once: in explore before it forks, so a forked worker has it."""


def _libc() -> Any:
    """The C library, or None where there is none to find. ``find_library`` runs ``ldconfig -p`` (2-8 ms here):
    looked up in every worker, it delayed each one's first task (the failing seed's, on the critical path)."""
    if not _LIBC:
        name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
        try:
            _LIBC.append(None if name is None else ctypes.CDLL(name, use_errno=True))
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


def process_cpu(pid: int) -> tuple[int, str] | None:
    """A process's CPU time (user + system, in clock ticks) and its state letter, from ``/proc`` (None: not there)."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
        fields = data[data.rindex(")") + 2:].split()  # after the command name, which may hold spaces
        return int(fields[11]) + int(fields[12]), fields[0]
    except (OSError, ValueError, IndexError):
        return None


def _die_with_parent(parent: int) -> None:
    """In a worker: SIGKILL when explore dies (Linux; elsewhere nothing), and a session of its own (no terminal's
    process group; its own autogroup: its own share of the CPU, see the module's docstring)."""
    try:
        os.setsid()  # its own session and group: Ctrl-C at the terminal goes to explore alone, and its own CPU share
    except OSError:
        pass
    libc = _libc()
    if libc is not None:
        try:
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except AttributeError:
            pass
    if os.getppid() != parent:  # explore died before the death signal was armed
        os._exit(1)


def _worker(conn: multiprocessing.connection.Connection, parent: int) -> None:
    """A worker's loop: receive (fn, item), send ("ok", result) or ("error", traceback text)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # first: until then a SIGINT would run explore's handler here
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent(parent)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, item = message
        try:
            reply: tuple[str, Any] = ("ok", fn(item))
        except OptionError as exc:  # the task's one-line refusal (a full scratch directory): raised as it is there
            reply = ("refused", exc) if _picklable(exc) else ("error", traceback.format_exc())
        except BaseException:  # noqa: BLE001 - everything a task raises goes back to explore as text
            reply = ("error", traceback.format_exc())
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return


def _picklable(value: object) -> bool:
    try:
        pickle.dumps(value)
    except Exception:  # noqa: BLE001 - whatever pickling raises, the value goes back as text instead
        return False
    return True


class ProcessExecutor:
    """A pool of ``workers`` processes (forked where the platform can, else spawned), one task each at a time."""

    def __init__(self, workers: int, start_method: str | None = None,
                 before_kill: Callable[[list[int]], Callable[[], None]] | None = None,
                 stall_seconds: float | None = None, note: Callable[[str], None] | None = None) -> None:
        """``before_kill(pids)``, when given, is called with the pids of workers about to be SIGKILLed (a cancelled
        task's, or every worker at ``close``) while they still live; what it returns is called once they are
        dead: maelstrom explore finds the node processes under them first and kills what outlived them.
        ``stall_seconds``: a worker whose task has used no CPU time for that long (stopped by SIGSTOP, or stuck)
        is said once per stall through ``note`` (CPU-bound tasks only: explore's simulated trials); it is
        still waited for (its outcome unchanged)."""
        if workers < 1:
            raise ValueError(f"workers must be 1 or more, got {workers}")
        self.workers = workers
        self._before_kill = before_kill
        if start_method is None:
            start_method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.start_method = start_method
        self._context = multiprocessing.get_context(start_method)
        self._procs: list[Any] = []
        self._conns: list[multiprocessing.connection.Connection] = []
        self._closed = False
        self._draining: set[int] = set()
        """Workers still running a task whose caller left: its answer is dropped when it comes."""
        self._current: tuple[dict[int, Any], list[int]] | None = None
        """The running call's tasks in flight (by worker) and idle workers, for ``cancel``."""
        self._stall_seconds = stall_seconds
        self._note = note
        self._progress: dict[int, tuple[tuple[int, float], int, float, bool]] = {}
        """By worker: ((pid, task start), CPU ticks last seen, when they last changed, stall said)."""

    def _start(self) -> None:
        """Room for every worker; each is forked when its first task is sent (``_run``), so the first task (explore's
        first seed, the one the whole sweep waits for) starts before the other forks rather than after all of them."""
        _libc()  # looked up here, once, rather than in each forked worker
        while len(self._procs) < self.workers:
            self._procs.append(None)
            self._conns.append(None)  # type: ignore[arg-type]

    def _spawn(self, w: int) -> None:
        if self.start_method == "fork":
            gc.freeze()  # the parent's objects out of the collector's reach: a worker never writes to, so copies, their pages
        mine, theirs = self._context.Pipe()
        proc = self._context.Process(  # type: ignore[attr-defined]
            target=_worker, args=(theirs, os.getpid()), daemon=False)
        proc.start()
        theirs.close()
        self._procs[w] = proc
        self._conns[w] = mine

    def _replace(self, w: int) -> None:
        """Kill worker ``w`` (its task is no longer wanted) and start a fresh one in its place."""
        after = self._before_kill([self._procs[w].pid]) if self._before_kill is not None else None
        self._procs[w].kill()
        self._procs[w].join()
        if after is not None:
            after()
        self._conns[w].close()
        self._spawn(w)

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        if self._closed:
            raise RuntimeError("the executor is closed")
        self._start()
        source = iter(items)
        idle = [w for w in range(self.workers) if w not in self._draining]
        busy: dict[int, tuple[T, float, int]] = {}
        self._current = (busy, idle)
        try:
            yield from self._run(fn, source, idle, busy)
        finally:
            self._current = None
            if busy and not self._closed:  # the caller left early: those tasks are not wanted
                self._drop(busy, list(busy), None)

    def _drop(self, busy: dict[int, Any], workers: list[int], idle: list[int] | None) -> None:
        """Tasks of ``workers`` are not wanted: a short one is left to finish (answer dropped), a long one's
        worker killed and replaced (the new one joins ``idle`` when a call is running)."""
        now = time.monotonic()
        for w in workers:
            _, started, _tries = busy.pop(w)
            if now - started < DRAIN_BELOW:
                self._draining.add(w)  # likely soon done: its result is dropped when it comes
            else:
                self._replace(w)
                if idle is not None:
                    idle.append(w)

    def cancel(self, unwanted: Callable[[Any], bool]) -> int:
        """Cancel the running call's tasks in flight for which ``unwanted(item)`` is true: their results never
        come out (explore: seeds past a failure, a valid seed's shrink run ahead). Returns how many."""
        if self._current is None or self._closed:
            return 0
        busy, idle = self._current
        workers = [w for w, (item, _, _) in busy.items() if unwanted(item)]
        self._drop(busy, workers, idle)
        return len(workers)

    def _run(self, fn: Callable[[T], R], source: Iterator[T], idle: list[int],
             busy: dict[int, tuple[T, float, int]]) -> Iterator[R]:
        exhausted = False
        while True:
            while idle and not exhausted:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    break
                w = idle.pop()
                if self._procs[w] is None:
                    self._spawn(w)
                self._conns[w].send((fn, item))
                busy[w] = (item, time.monotonic(), 1)
            if not busy and (exhausted or not self._draining):
                return  # (with items left and every worker draining, wait for one)
            watched = set(busy) | self._draining
            waiting = {self._conns[w]: w for w in watched} | {self._procs[w].sentinel: w for w in watched}
            timeout = None if self._stall_seconds is None else max(0.1, min(5.0, self._stall_seconds / 2))
            readies = multiprocessing.connection.wait(list(waiting), timeout)
            if self._stall_seconds is not None:
                self._check_stalls(busy)
            for ready in readies:
                w = waiting[ready]
                if w not in busy and w not in self._draining:
                    continue  # its connection and its sentinel both became ready
                if ready is not self._conns[w] and ready is not self._procs[w].sentinel:
                    continue  # the dead worker's other handle: its task already went to the new worker
                conn = self._conns[w]
                if ready is conn or conn.poll():
                    try:
                        status, value = conn.recv()
                    except (EOFError, OSError):
                        status, value = "died", None
                else:
                    status, value = "died", None
                if w in self._draining:  # the answer of a task no longer wanted: dropped
                    self._draining.discard(w)
                    if status == "died":
                        self._spawn(w)
                    idle.append(w)
                    continue
                item, _, tries = busy.pop(w)
                if status == "died":
                    self._procs[w].join(5)
                    code = self._procs[w].exitcode
                    if tries < TASK_TRIES:  # replace the worker and run the task again on the new one
                        self._conns[w].close()
                        self._spawn(w)
                        self._conns[w].send((fn, item))
                        busy[w] = (item, time.monotonic(), tries + 1)
                        continue
                    self.close()
                    how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                    raise WorkerDied(f"the explore worker running {task_label(item)} died {tries} times ({how}; out "
                                     "of memory? killed?): the sweep stops there")
                if status == "refused":  # an OptionError the task raised: one line, exit 254, as in process
                    self.close()
                    raise value
                if status == "error":
                    self.close()
                    last = str(value).strip().splitlines()[-1] if str(value).strip() else "?"
                    raise TaskFailed(f"an explore task failed in a worker: {last}") from WorkerTraceback(value)
                idle.append(w)
                yield value

    def _check_stalls(self, busy: dict[int, tuple[Any, float, int]]) -> None:
        """Say (once per stall) a worker whose task has used no CPU time for ``stall_seconds``."""
        now = time.monotonic()
        assert self._stall_seconds is not None
        for w, (item, started, _tries) in busy.items():
            pid = self._procs[w].pid
            seen = process_cpu(pid)
            if seen is None:
                continue
            ticks, state = seen
            key = (pid, started)
            last = self._progress.get(w)
            if last is None or last[0] != key or last[1] != ticks:
                self._progress[w] = (key, ticks, now, False)
            elif not last[3] and now - last[2] >= self._stall_seconds:
                self._progress[w] = (key, ticks, last[2], True)
                how = (f": it is stopped (SIGSTOP? continue it with kill -CONT {pid})" if state in ("T", "t")
                       else f" (state {state})")
                text = (f"explore: the worker (pid {pid}) running {task_label(item)} has used no CPU time for "
                        f"{now - last[2]:.0f} s{how}; still waiting for it")
                if self._note is not None:
                    self._note(text)
                else:
                    print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        """Kill the workers (a trial they run is in a scratch directory explore deletes) and wait for them."""
        if self._closed:
            return
        self._closed = True
        alive = [proc for proc in self._procs if proc is not None and proc.is_alive()]
        after = self._before_kill([proc.pid for proc in alive]) if self._before_kill is not None and alive else None
        for proc in alive:
            proc.kill()
        for proc in self._procs:
            if proc is not None:
                proc.join(5)
        if after is not None:
            after()
        for conn in self._conns:
            if conn is not None:
                conn.close()

    def __enter__(self) -> ProcessExecutor:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
