"""Check a whole history for linearizability, part by part, and build the results object.

The history is split into independent parts (P-compositionality: a history is linearizable
exactly when each part is), each part is searched on its own with its own time and memory
budget, and the verdicts are combined: any violating part makes the history invalid; otherwise
any part that ran out of budget makes it unknown. One part running out never hides another
part's verdict.

Parts are searched on all cores (worker processes forked once the parts are compiled, so nothing
is pickled on the way in) when there are several and enough operations to pay for the workers;
otherwise in this process. A worker that dies (the out-of-memory killer's SIGKILL) is noticed at
once: its part is `unknown` naming the death, and a new worker takes the remaining parts. By default the first refuted part ends the check (the verdict is
known); `all_parts=True` searches every part, as a report wants. An overall `time_limit` bounds
the whole check, and a default memory budget per part bounds each search, so a check always ends
with a verdict or `unknown` with its reason.
"""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

# (`import a.b as c`, not `from a import b as c`: a missing module is then named as missing)
import checker.linearizable.direct as _direct_source
import checker.linearizable.pairing as _pairing_source

# The defaults and bounds live with the check options (checker/api.py).
from checker.api import DEFAULT_MEMORY_BUDGET, DEFAULT_TIME_LIMIT, MAX_MEMORY_BUDGET, MAX_SECONDS
from checker.linearizable.compiled import pick
from checker.linearizable.explain import nonlinearizable_anomaly
from checker.linearizable.initial import init_both_note, init_note
from checker.linearizable.models import (
    CompiledOp,
    CompiledPart,
    Flags,
    Model,
    ModelArgumentError,
    init_names_both,
    make_model,
    unused_init_keys,
)
from checker.linearizable.operations import R_F, R_STATUS
from checker.linearizable.search import SearchOutcome, configuration_bytes, drop_unobserved, search
from checker.timelimit import COMPILING, TimeLimit, TimeLimitExceeded

#: `direct.py`'s `direct_parts`, compiled when a current compiled copy is built (`compiled.py`).
direct_parts = pick("direct", _direct_source).direct_parts
#: `pairing.py`'s `pair_records` (the general path's pairing), compiled the same way.
pair_records = pick("pairing", _pairing_source).pair_records

#: Below this many operations to search in all, a pool of processes costs more than it saves.
PARALLEL_MIN_OPS = 4000

#: The parts a forked worker searches: set just before the pool forks, read by index in the worker.
_JOBS: list[tuple[Sequence[CompiledOp], Any, float | None, float | None, int | None, int | None]] = []


def _max_configurations(memory_budget: int | None, n_ops: int) -> int | None:
    if memory_budget is None:
        return None
    return max(1, memory_budget // configuration_bytes(n_ops))


def _check_number(name: str, value: Any, unit: str) -> None:
    if value is not None and (type(value) not in (int, float) or not 0 < value <= MAX_SECONDS):
        raise ModelArgumentError(f"{name} must be a positive number of {unit} up to {MAX_SECONDS:g}, got {value!r}")


def _search_one(job: tuple[Sequence[CompiledOp], Any, float | None, float | None, int | None, int | None]) -> SearchOutcome:
    cops, init, budget, deadline, memory, max_conf = job
    return search(cops, init, time_budget=budget, deadline=deadline, memory_budget=memory, max_configurations=max_conf)


def _limit_address_space(memory_budget: int | None) -> None:
    """In a worker: a hard cap well above the budget, so a runaway allocation is a MemoryError
    (an `unknown` part) instead of the kernel's out-of-memory killer."""
    if memory_budget is None:
        return
    try:
        import resource

        with open("/proc/self/statm", "rb") as fh:
            vm = int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        cap = vm + 2 * memory_budget + (256 << 20)
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if cap < resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or cap < hard):
            resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError, OverflowError):
        pass  # not Linux: the resident-memory check in the search still applies


def _daemonic() -> bool:
    """Whether this process is a daemonic multiprocessing worker (a caller's pool), which may not
    have children: its parts are then searched in this process."""
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def _check_workers(requested: int | None) -> None:
    if requested is not None and (type(requested) is not int or requested < 1):
        raise ModelArgumentError(f"workers must be a positive integer, got {requested!r}")


def _workers(requested: int | None) -> int:
    """How many processes search parts at once: `requested`, or the usable cores (looked up only
    when a pool may be used: a system call per check of a small history adds up)."""
    if requested is not None:
        return requested
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class _Worker:
    """One forked worker process, the pipe to it and the part it is searching (None when idle)."""

    __slots__ = ("conn", "part", "process")

    def __init__(self, process: Any, conn: Any) -> None:
        self.process = process
        self.conn = conn
        self.part: int | None = None


#: ``prctl`` option (linux/prctl.h): the signal a process gets when the thread that forked it dies.
PR_SET_PDEATHSIG = 1


def _become_worker(parent: int) -> None:
    """In a new worker: die with the parent (SIGKILL when the thread that forked it ends, Linux, so
    not even a SIGKILLed checker leaves a search running), leave Ctrl-C to the parent (it stops
    the workers), and take SIGTERM/SIGHUP plainly, not through the parent's handlers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the death signal was asked for
        os._exit(0)


def _worker_main(conn: Any, memory_budget: int | None, parent: int) -> None:
    """In a worker: search the parts the parent sends (by index into `_JOBS`) until told to stop.

    Never raises and never prints: a part whose search fails is sent back as its exception's text,
    and a parent that has gone (a closed pipe) just ends the worker.
    """
    try:
        _become_worker(parent)
        _limit_address_space(memory_budget)
        while True:
            i = conn.recv()
            if i is None:
                break
            try:
                outcome: SearchOutcome | None = _search_one(_JOBS[i])
                error = ""
            except Exception as exc:  # a bug in a model or the search: this part is unknown, not the check
                outcome, error = None, f"{type(exc).__name__}: {exc}"
            conn.send((i, outcome, error))
    except BaseException:  # noqa: BLE001 - EOF/broken pipe (the parent has gone), an interrupt: end quietly
        pass
    finally:
        os._exit(0)


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "an unknown signal"
        return f"the worker searching it died (signal {-exitcode}, {name})"
    return f"the worker searching it died (exit status {exitcode})"


#: Longest single wait for a worker (seconds): longer waits are made of several of these.
_MAX_WAIT = 3600.0


def _run_parallel(
    order: list[int], workers: int, outcomes: dict[int, SearchOutcome], lost: dict[int, str],
    deadline: float | None, all_parts: bool, memory_budget: int | None,
) -> bool:
    """Search the parts in `order` on forked worker processes, filling `outcomes` as they finish
    and `lost` with why a part could not be searched (its worker died); stop at the first refuted
    part (unless `all_parts`) or at `deadline`. A dead worker is noticed at once (its sentinel)
    and replaced. Returns False when no worker could be started (the caller searches in process);
    parts left unsearched because no worker could be (re)started stay out of both dicts.
    """
    import multiprocessing
    from multiprocessing.connection import wait as wait_for

    ctx = multiprocessing.get_context("fork")
    pending = list(reversed(order))  # pop() takes the next part
    pool: list[_Worker] = []

    def spawn() -> bool:
        try:
            parent_end, child_end = ctx.Pipe()
            process = ctx.Process(target=_worker_main, args=(child_end, memory_budget, os.getpid()), daemon=True)
            process.start()
        except (OSError, RuntimeError, AssertionError, MemoryError):
            return False  # no process (limits, a daemonic caller): fewer workers, or none
        child_end.close()
        pool.append(_Worker(process, parent_end))
        return True

    refuted = [False]

    def stopped() -> bool:
        return refuted[0] and not all_parts

    def receive(w: _Worker) -> None:
        while w.conn.poll(0):
            i, outcome, error = w.conn.recv()
            w.part = None
            if outcome is not None:
                outcomes[i] = outcome
                refuted[0] = refuted[0] or outcome.valid is False
            else:
                lost[i] = f"the search failed ({error})"

    try:
        for _ in range(workers):
            if not spawn():
                break
        if not pool:
            return False
        while not stopped():
            for w in pool:
                if w.part is None and pending:
                    w.part = pending.pop()
                    try:
                        w.conn.send(w.part)
                    except OSError:
                        pass  # it died: its sentinel says so below
            busy = [w for w in pool if w.part is not None]
            if not busy:
                break
            wait = _MAX_WAIT if deadline is None else min(_MAX_WAIT, max(0.0, deadline - time.perf_counter()) + 0.5)
            ready = wait_for([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=wait)
            if not ready and deadline is not None and time.perf_counter() > deadline + 0.5:
                break  # the searches should have stopped at the deadline: give up on them
            for w in busy:
                try:
                    receive(w)
                except (EOFError, OSError):
                    pass  # the pipe closed: the worker died, as its sentinel says
                if w.part is not None and not w.process.is_alive():
                    lost[w.part] = _death_reason(w.process.exitcode)
                    w.part = None
                    w.conn.close()
                    pool.remove(w)
                    if pending and not stopped():
                        spawn()
            if not pool:
                break
        return True
    finally:
        for w in pool:
            w.process.kill()
        for w in pool:
            w.process.join()
            w.conn.close()


#: The `Flags` made so far, by (null_read, fail_cas): a frozen dataclass costs a few microseconds.
_FLAGS: dict[tuple[Any, Any], Flags] = {}


def _flags(null_read: Any, fail_cas: Any) -> Flags:
    """`Flags(null_read=..., fail_cas=...)` (which names a bad value), made once per pair."""
    try:
        return _FLAGS[null_read, fail_cas]
    except (KeyError, TypeError):
        pass
    flags = Flags(null_read=null_read, fail_cas=fail_cas)
    _FLAGS[null_read, fail_cas] = flags
    return flags


def _compile_general(
    events: list[dict], mdl: Model, flags: Flags, init: Any, limit: TimeLimit | None = None, counts: bool = True
) -> tuple[list[tuple[Any, Any, Sequence[CompiledOp], int, Any]], dict[str, dict[str, int]], int]:
    """The general path: the events paired into records, split into parts, each compiled by the
    model; (compiled parts, operation counts per f and status (empty unless `counts`),
    operations). Raises the input errors (`HistoryInputError`, naming the event and field), and
    `TimeLimitExceeded` when `limit` runs out (looked at every few thousand events and between parts)."""
    # Records, not `Operation`s: the model makes objects only for what it compiles or explains.
    ops = pair_records(events, limit)
    parts = mdl.split_records(ops)
    compiled: list[tuple[Any, Any, Sequence[CompiledOp], int, Any]] = []
    for n, (part, part_items) in enumerate(parts.items()):
        if limit is not None and limit.passed():
            raise limit.exceeded(COMPILING, f"part {n + 1:,} of {len(parts):,}")
        init_state = mdl.initial_state(part, init)
        cops: Sequence[CompiledOp] = mdl.compile_part(part_items, part, flags)
        searched = drop_unobserved(cops)
        compiled.append((part, part_items, searched, len(cops) - len(searched), init_state))
    op_counts: dict[str, dict[str, int]] = {}
    for rec in ops if counts else ():
        of_f = op_counts.get(rec[R_F])
        if of_f is None:
            of_f = op_counts[rec[R_F]] = {"ok": 0, "fail": 0, "info": 0}
        of_f[rec[R_STATUS]] += 1
    return compiled, op_counts, len(ops)


def _explainable(
    events: list[dict], mdl: Model, flags: Flags, init: Any,
    compiled: list[tuple[Any, Any, Sequence[CompiledOp], int, Any]],
    outcomes: dict[int, SearchOutcome], jobs: list[Any],
) -> list[tuple[Any, Any, Sequence[CompiledOp], int, Any]]:
    """The general path's compiled parts for a history `direct_parts` made, so that its refuted,
    unknown or unchecked parts can be explained from their operations. Its arrays are the direct
    ones (same operations, same order), so the outcomes stand; a part where they differ (a defect
    of the direct path) is searched again, so an explanation never names the wrong operation."""
    general = _compile_general(events, mdl, flags, init, counts=False)[0]  # (the counts are the direct path's)
    if [g[0] for g in general] != [c[0] for c in compiled]:
        raise AssertionError("direct_parts split the history unlike the general path")
    for i, (g, c) in enumerate(zip(general, compiled, strict=True)):
        if i in outcomes and not _same_arrays(g[2], c[2]):
            outcomes[i] = _search_one((g[2],) + tuple(jobs[i][1:]))
    return general


def _same_arrays(a: Sequence[CompiledOp], b: Sequence[CompiledOp]) -> bool:
    """Whether two compiled parts are searched alike (the same operations in the same order)."""
    if type(a) is not CompiledPart or type(b) is not CompiledPart:
        return False
    return a.call == b.call and a.ret == b.ret and a.kind == b.kind and a.va == b.va and a.vb == b.vb


def out_of_time_result(
    exc: TimeLimitExceeded, *, model: str, init: Any = None, null_read: str = "any", fail_cas: str = "not-applied",
    all_parts: bool = True, memory_budget: int | None = None, started: float | None = None,
) -> dict[str, Any]:
    """The results object of a check whose overall time limit ran out before any part was searched
    (while reading, pairing or compiling): `unknown`, with the reason naming the phase."""
    return {
        "valid": "unknown",
        "anomalies": [],
        "unknown": [
            {
                "key": None,
                "kind": "linearizability-time-limit",
                "reason": exc.reason,
                "explanation": f"not decided: {exc.reason}.",
            }
        ],
        "stats": {
            "checker": "linearizable", "model": model, "init": init, "null_read": null_read, "fail_cas": fail_cas,
            "operations": 0, "ops": {}, "anomaly_counts": {}, "unknown_keys": 1, "parts": 0, "parts_valid": 0,
            "parts_invalid": 0, "parts_unknown": 0, "parts_not_checked": 0, "all_parts": all_parts, "workers": 1,
            "time_limit": exc.limit, "memory_budget": memory_budget, "stopped_while": exc.phase,
            "configurations": 0,
            "seconds": 0.0 if started is None else round(time.perf_counter() - started, 6),
            "slowest_part": None, "per_part": [],
        },
    }


def _unknown_facts(cops: Sequence[CompiledOp], events: list[dict], blocked: int | None) -> tuple[int, int | None]:
    """(how many of a part's operations must take effect, the `index` of the completion of its
    operation `blocked`, None when it never completed or no `blocked`), as the part's `CompiledOp`s
    say; for a part made by `direct_parts` (no records), from its arrays and the events: an
    operation must take effect exactly when it has a return position (an `ok`), and an uncertain
    one's completion is its process's next event (an `info`; none when it never completed)."""
    if type(cops) is not CompiledPart or cops.recs is not None:
        must = sum(1 for c in cops if c.must)
        op = cops[blocked].op if blocked is not None else None
        return must, (op.complete_index if op is not None else None)
    must = len(cops.ret) - cops.ret.count(None)
    if blocked is None:
        return must, None
    ret = cops.ret[blocked]
    if ret is not None:
        return must, events[ret]["index"]
    call = cops.call[blocked]
    process = events[call]["process"]
    for pos in range(call + 1, len(events)):
        if events[pos].get("process") == process:
            return must, events[pos]["index"]
    return must, None


def _count(part_ops: Any) -> int:
    """How many operations a part has: its items (general path) or their count (direct path)."""
    return part_ops if type(part_ops) is int else len(part_ops)


def check_events(
    events: list[dict],
    model: str,
    *,
    init: Any = None,
    null_read: str = "any",
    fail_cas: str = "not-applied",
    time_budget: float | None = None,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
    all_parts: bool = True,
    workers: int | None = None,
    parallel_min_ops: int = PARALLEL_MIN_OPS,
    started: float | None = None,
) -> dict[str, Any]:
    """Decide whether a history is linearizable under `model`; the results object of docs/HISTORY.md.

    `time_budget` (seconds) and `memory_budget` (bytes a part's search may grow its process by)
    apply to each part separately; `time_limit` (seconds) to the whole check. `all_parts=False`
    ends the check at the first refuted part (the other parts are `not-checked`). `workers` is
    how many processes search parts at once (default: the usable cores); a pool is used only for
    several parts with `parallel_min_ops` operations or more in all. `started` (a
    `time.perf_counter()` moment, default now) is when `time_limit` began to count, so that a
    caller's reading of the history counts too. When the limit runs out before the search (while
    pairing or compiling), the verdict is `unknown` naming the phase. Raises `HistoryInputError`
    for a malformed history and `ModelArgumentError` for a bad model name, flag, budget or
    `init`; both are `ValueError`s with a message that names the event or argument.
    """
    # The cyclic garbage collector is paused while checking (and resumed after, unless the caller
    # had paused it): a check allocates many short-lived tuples and lists but makes no cycles
    # (reference counting frees all of it), yet every 700 allocations set off a collection that
    # walks the young objects.
    if not gc.isenabled():
        return _check_events(events, model, init=init, null_read=null_read, fail_cas=fail_cas,
                             time_budget=time_budget, memory_budget=memory_budget, time_limit=time_limit,
                             all_parts=all_parts, workers=workers, parallel_min_ops=parallel_min_ops, started=started)
    gc.disable()
    try:
        return _check_events(events, model, init=init, null_read=null_read, fail_cas=fail_cas,
                             time_budget=time_budget, memory_budget=memory_budget, time_limit=time_limit,
                             all_parts=all_parts, workers=workers, parallel_min_ops=parallel_min_ops, started=started)
    finally:
        gc.enable()


def _check_events(
    events: list[dict],
    model: str,
    *,
    init: Any = None,
    null_read: str = "any",
    fail_cas: str = "not-applied",
    time_budget: float | None = None,
    memory_budget: int | None = DEFAULT_MEMORY_BUDGET,
    time_limit: float | None = DEFAULT_TIME_LIMIT,
    all_parts: bool = True,
    workers: int | None = None,
    parallel_min_ops: int = PARALLEL_MIN_OPS,
    started: float | None = None,
) -> dict[str, Any]:
    """`check_events` with the garbage collector paused (see there)."""
    began = time.perf_counter()
    started = began if started is None else started
    flags = _flags(null_read, fail_cas)
    _check_number("time_budget", time_budget, "seconds")
    _check_number("time_limit", time_limit, "seconds")
    if memory_budget is not None and (type(memory_budget) is not int or not 0 < memory_budget <= MAX_MEMORY_BUDGET):
        raise ModelArgumentError(f"memory_budget must be a positive number of bytes, got {memory_budget!r}")
    _check_workers(workers)
    limit = None if time_limit is None else TimeLimit(time_limit, started)
    deadline = None if limit is None else limit.deadline
    mdl = make_model(model)
    compiled: list[tuple[Any, Any, Sequence[CompiledOp], int, Any]]
    try:
        # Straight from the events to the search's arrays for a well-formed register, cas-register
        # or kv history (no record per operation); anything else takes the general path.
        direct = direct_parts(events, mdl, flags, limit)
        if direct is None:
            compiled, op_counts, n_ops = _compile_general(events, mdl, flags, init, limit)
        else:
            compiled = []
            part_operations = direct.part_operations
            for n, (part, arrays) in enumerate(direct.parts.items()):
                if limit is not None and limit.passed():
                    raise limit.exceeded(COMPILING, f"part {n + 1:,} of {len(direct.parts):,}")
                searched = drop_unobserved(arrays)
                compiled.append((part, part_operations[part], searched, len(arrays) - len(searched),
                                 mdl.initial_state(part, init)))
            op_counts, n_ops = direct.op_counts, direct.operations
    except TimeLimitExceeded as exc:
        return out_of_time_result(exc, model=model, init=init, null_read=null_read, fail_cas=fail_cas,
                                  all_parts=all_parts, memory_budget=memory_budget, started=started)

    outcomes: dict[int, SearchOutcome] = {}
    lost: dict[int, str] = {}  # parts that could not be searched, and why (their worker died)
    jobs = [
        (cops, init_state, time_budget, deadline, memory_budget, _max_configurations(memory_budget, len(cops)))
        for _part, _ops, cops, _dropped, init_state in compiled
    ]
    # Largest parts first: the pool's last part to finish is then a small one.
    order = sorted(range(len(jobs)), key=lambda i: -len(jobs[i][0])) if len(jobs) > 1 else [0] * len(jobs)
    total_ops = sum(len(j[0]) for j in jobs) if len(jobs) > 1 else 0
    used_workers = 1
    n_workers = _workers(workers) if len(jobs) > 1 and total_ops >= parallel_min_ops else 1
    if n_workers > 1 and not _daemonic():
        _JOBS[:] = jobs
        try:
            if _run_parallel(order, min(n_workers, len(jobs)), outcomes, lost, deadline, all_parts, memory_budget):
                used_workers = min(n_workers, len(jobs))
        finally:
            _JOBS.clear()
    # In this process: every part for a small history (or when no worker could be started), else
    # what the workers left (none could be restarted after one died).
    refuted = bool(outcomes) and any(o.valid is False for o in outcomes.values())
    todo = [i for i in order if i not in outcomes and i not in lost]
    if deadline is not None and len(todo) > 1:
        # Under an overall limit, each part first gets a fair share of the time left, so that one
        # hard part cannot hold back the easy ones; the parts that used up their share are then
        # searched again, in turn, with the rest of the time.
        again = []
        for n, i in enumerate(todo):
            now = time.perf_counter()
            if (not all_parts and refuted) or now >= deadline:
                break
            cops, init_state, budget, _deadline, memory, max_conf = jobs[i]
            share_ends = now + (deadline - now) / (len(todo) - n)  # (a deadline: no reason to format)
            found = search(cops, init_state, time_budget=budget, deadline=share_ends, memory_budget=memory,
                           max_configurations=max_conf)
            if found.valid == "unknown" and found.reason == "the overall time limit ran out" \
                    and time.perf_counter() < deadline:
                again.append(i)  # its share ran out: searched again below, else unknown for the limit
            outcomes[i] = found
            refuted = refuted or found.valid is False
        todo = again
    for i in todo:
        if (not all_parts and refuted) or (deadline is not None and time.perf_counter() > deadline):
            break
        if i not in lost:
            outcomes[i] = _search_one(jobs[i])
            refuted = refuted or outcomes[i].valid is False
    for i, reason in lost.items():
        outcomes[i] = SearchOutcome(valid="unknown", configurations=0, placements=0, seconds=0.0, reason=reason)
    refuted = any(o.valid is False for o in outcomes.values())
    if direct is not None and refuted:
        # A part to explain: its operations, from the general path (same arrays). Unknown and
        # unchecked parts are reported from their arrays (`_unknown_facts`): after a time limit
        # ran out, pairing the whole history again would take as long as the first time.
        compiled = _explainable(events, mdl, flags, init, compiled, outcomes, jobs)

    anomalies: list[dict[str, Any]] = []
    unknown: list[dict[str, Any]] = []
    per_part: list[dict[str, Any]] = []
    for i, (part, part_ops, cops, dropped, _init_state) in enumerate(compiled):
        name = mdl.part_name(part)
        outcome = outcomes.get(i)
        if outcome is None:
            # Never searched: an earlier part was refuted, or the overall time limit ran out.
            per_part.append(
                {"key": name, "operations": _count(part_ops), "searched": len(cops), "dropped_unobserved": dropped,
                 "valid": "not-checked", "seconds": 0.0, "configurations": 0, "placements": 0}
            )
            if not refuted:
                unknown.append(
                    {
                        "key": name,
                        "kind": "linearizability-budget",
                        "reason": f"the overall time limit of {time_limit} s ran out before this part was decided",
                        "placed": 0,
                        "must_place": _unknown_facts(cops, events, None)[0],
                        "reached_index": None,
                        "configurations": 0,
                        "seconds": 0.0,
                        "explanation": f"{name}: not decided: the overall time limit of {time_limit} s ran out "
                        "before its search finished.",
                    }
                )
            continue
        per_part.append(
            {
                "key": name,
                "operations": _count(part_ops),
                "searched": len(cops),
                "dropped_unobserved": dropped,
                "valid": outcome.valid,
                "seconds": round(outcome.seconds, 6),
                "configurations": outcome.configurations,
                "placements": outcome.placements,
            }
        )
        if outcome.valid is False:
            made = list(cops)  # (a `CompiledPart` makes its `CompiledOp`s now, for the explanation)
            anomalies.append(nonlinearizable_anomaly(mdl, part, made, mdl.part_operations(part_ops, made), outcome))
        elif outcome.valid == "unknown":
            reason = outcome.reason
            if reason == "the overall time limit ran out":
                reason = f"the overall time limit of {time_limit} s ran out"
            must, reached = _unknown_facts(cops, events, outcome.blocked)
            unknown.append(
                {
                    "key": name,
                    "kind": "linearizability-budget",
                    "reason": reason,
                    "placed": len(outcome.prefix),
                    "must_place": must,
                    "reached_index": reached,
                    "configurations": outcome.configurations,
                    "seconds": round(outcome.seconds, 6),
                    "explanation": (
                        f"{name}: the search stopped ({reason}) after exploring "
                        f"{outcome.configurations} configurations; its longest linearizable prefix "
                        f"placed {len(outcome.prefix)} of the {must} operations that must take effect"
                        + (
                            f" and got as far as the completion at event {reached}."
                            if outcome.blocked is not None
                            else "."
                        )
                    ),
                }
            )
    if anomalies:
        valid: bool | str = False
    elif unknown:
        valid = "unknown"
    else:
        valid = True
    slowest = max(per_part, key=lambda p: p["seconds"], default=None)
    # (the direct path counted them in its own pass; the general path's histories are counted here)
    null_any = 0 if null_read != "any" else direct.null_reads if direct is not None else _null_reads(events, model)
    stats = {
        "checker": "linearizable",
        "model": model,
        "init": init,
        "null_read": null_read,
        "fail_cas": fail_cas,
        "operations": n_ops,
        "ops": op_counts,
        "anomaly_counts": {"nonlinearizable": len(anomalies)} if anomalies else {},
        "unknown_keys": len(unknown),
        "parts": len(per_part),
        "parts_valid": sum(1 for p in per_part if p["valid"] is True),
        "parts_invalid": len(anomalies),
        "parts_unknown": len(unknown),
        "parts_not_checked": sum(1 for p in per_part if p["valid"] == "not-checked"),
        "all_parts": all_parts,
        "workers": used_workers,
        "time_limit": time_limit,
        "memory_budget": memory_budget,
        "configurations": sum(p["configurations"] for p in per_part),
        "seconds": round(time.perf_counter() - began, 6),
        "slowest_part": None if slowest is None else {"key": slowest["key"], "seconds": slowest["seconds"]},
        "per_part": per_part,
        "null_reads_any": null_any,
        "notes": [null_read_note(null_any)] if null_any else [],
    }
    part_keys = getattr(mdl, "part_keys", None)
    if part_keys is not None and isinstance(init, dict):
        history_keys = [k for entry in compiled for k in part_keys(entry[0])]
        unused = unused_init_keys(init, iter(history_keys))
        if unused:
            stats["init_unused"] = unused
            stats["notes"].append(init_note(unused))
        both = init_names_both(init, history_keys)
        if both:
            stats["init_names_both"] = both
            stats["notes"].append(init_both_note(both))
    return {"valid": valid, "anomalies": anomalies, "unknown": unknown, "stats": stats}


#: The models whose reads can return null (the others have no reads).
_READ_MODELS = ("register", "cas-register", "kv", "multi-register")


def _null_reads(events: list[dict], model: str) -> int:
    """How many acknowledged reads returned null (each txn micro-read counts): under ``--null-read any``
    each was taken to match any value, so the verdict says how many. A completion without ``f`` is its
    invocation's, as the pairing has it; events of no client process (the nemesis) are not reads."""
    if model not in _READ_MODELS:
        return 0
    invoked: dict[int, Any] = {}
    n = 0
    for event in events:
        if not isinstance(event, dict) or type(event.get("process")) is not int:
            continue
        kind, f = event.get("type"), event.get("f")
        if kind == "invoke":
            invoked[event["process"]] = f
            continue
        f = invoked.pop(event["process"], None) if f is None else f
        if kind != "ok":
            continue
        if f in ("read", "get"):
            n += event.get("value") is None
        elif f == "txn" and isinstance(event.get("value"), list | tuple):
            n += sum(1 for m in event["value"]
                     if isinstance(m, list | tuple) and len(m) == 3 and m[0] == "read" and m[2] is None)
    return n


def null_read_note(n: int) -> str:
    """What the verdict says when ``n`` null reads were taken to match anything (``--null-read any``)."""
    reads = "1 read returned null and was" if n == 1 else f"{n:,} reads returned null and were"
    return (f"{reads} taken to match any value (--null-read any, Knossos's convention); "
            "if null means the key is absent in your system, use --null-read absent")
