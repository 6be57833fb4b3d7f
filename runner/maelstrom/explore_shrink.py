"""Shrinking a failing Maelstrom run: smaller configurations that still fail the same way, confirmed.

A Maelstrom run is real time and its node may be nondeterministic, so a seed does not fix the run
the way it fixes a simulated one: a shrink here tries smaller *configurations* (the seed kept) and
keeps one only when it fails with the same main anomaly type, with no more operations, in each of
``1 + confirm`` runs (a run that failed once is run again, ``MaelstromTask.confirm``). Reductions,
in this order (the first ones make every later trial cheaper):

1. a shorter ``--time-limit``: end at the last fault window, then halve it (not below 1 s);
2. fewer fault windows: none, one fault kind fewer, each half, each single window;
3. a lower ``--rate`` (a tenth, a half; ``--rate 0``, as fast as the clients can: 100, then 20);
4. fewer nodes (the highest-numbered ones go: ``n0..`` stay; windows naming a removed node are
   adapted, or dropped when nothing of them is left), then fewer clients;
5. no ``--latency``; every fault window halved.

The search is greedy, as ``runner.shrink``'s: a round tries the current run's reductions in that
order and keeps the first that fails (confirmed), then starts over from it, until no reduction is
kept or the budget of trials is spent; a kind of reduction that was not kept in an earlier round
("halve the time limit") is tried after the others in the later ones, not first again. A round's candidates run ``executor.workers`` at a time, in
order; once a candidate is kept and every one before it is known not to be, the round's others are
cancelled. Which candidate is kept does not depend on the number of workers, as far as the node is
deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from nemesis import KINDS, FaultSchedule, ScheduledFault
from runner.explore_pool import SeedExecutor
from runner.shrink import Outcome, fails_like

from .explore_trial import MaelstromCandidate, MaelstromTask, MaelstromTrial, anomaly_text, run_trial

MIN_TIME_LIMIT = 1.0
"""Seconds of load below which a real-time run is not shrunk (start-up and timeouts dwarf it)."""
MIN_WINDOW = 0.2
"""Seconds: a fault window is not shortened below this."""


@attrs.frozen
class MaelstromStep:
    reduction: str
    candidate: MaelstromCandidate
    outcome: Outcome
    tries: int


@attrs.frozen
class MaelstromShrink:
    original: MaelstromCandidate
    original_outcome: Outcome
    candidate: MaelstromCandidate
    outcome: Outcome
    trials: int
    """Candidates judged (each counted once, however many times it ran)."""
    runs: int
    """Runs made for the judged candidates, confirmations included."""
    steps: tuple[MaelstromStep, ...]
    exhausted: bool
    """The budget ran out before no reduction helped (the result may shrink further)."""
    speculative: int = 0
    """Runs of a round's later candidates, cancelled or never judged once an earlier one was kept."""
    kept_tries: int = 0
    """Runs of the kept candidate (all of which failed): 0 when nothing was kept."""


# -- reductions -------------------------------------------------------------------------------


def reductions(c: MaelstromCandidate) -> Iterator[tuple[str, MaelstromCandidate]]:
    """Every smaller candidate worth a trial, best first; each is checked to make a run."""
    for name, made in _raw_reductions(c):
        checked = _checked(made)
        if checked is not None and checked.key() != c.key():
            yield name, checked


def _raw_reductions(c: MaelstromCandidate) -> Iterator[tuple[str, MaelstromCandidate]]:
    o, windows = c.options, c.schedule.windows
    # 1. shorter time limit
    if windows and max(windows[-1].stop, MIN_TIME_LIMIT) < o.time_limit - 1e-9:
        yield "end at the last fault", with_time_limit(c, max(windows[-1].stop, MIN_TIME_LIMIT))
    if o.time_limit / 2 >= MIN_TIME_LIMIT:
        yield "halve the time limit", with_time_limit(c, round(o.time_limit / 2, 3))
    # 2. fewer fault windows
    if windows:
        yield "no faults", with_windows(c, ())
    kinds = list(dict.fromkeys(w.kind for w in windows))
    if len(kinds) >= 2:
        for kind in kinds:
            yield f"no {kind} faults", with_windows(c, tuple(w for w in windows if w.kind != kind))
    if len(windows) >= 4:
        half = len(windows) // 2
        yield "first half of the faults", with_windows(c, windows[:half])
        yield "second half of the faults", with_windows(c, windows[half:])
    if len(windows) >= 2:
        for i in reversed(range(len(windows))):
            yield f"drop fault {i + 1} ({windows[i].kind})", with_windows(c, windows[:i] + windows[i + 1:])
    # 3. fewer operations
    rates = (100.0, 20.0) if o.rate == 0 else (round(o.rate / 10, 2), round(o.rate / 2, 2))
    for rate in sorted(set(rates)):
        if rate >= 0.1 and (o.rate == 0 or rate < o.rate):
            yield f"rate {'max' if o.rate == 0 else f'{o.rate:g}'} -> {rate:g} ops/s", _evolve(c, rate=rate)
    # 4. fewer nodes (the last ones), then fewer clients
    for count in sorted({o.node_count // 2, o.node_count - 1}):
        if 1 <= count < o.node_count:
            yield f"nodes {o.node_count} -> {count}", with_nodes(c, count)
    for count in sorted({1, o.concurrency // 2, o.concurrency - 1}):
        if 1 <= count < o.concurrency:
            yield f"clients {o.concurrency} -> {count}", _evolve(c, concurrency=count)
    # 5. no latency, shorter windows
    if o.latency > 0:
        yield f"latency {o.latency:g} -> 0 ms", _evolve(c, latency=0.0)
    if any(w.stop - w.start > MIN_WINDOW for w in windows):
        yield "halve every fault window", with_windows(c, tuple(_halved(w) for w in windows), keep_kinds=True)


def _halved(w: ScheduledFault) -> ScheduledFault:
    return attrs.evolve(w, stop=round(w.start + max(MIN_WINDOW, (w.stop - w.start) / 2), 3))


def _evolve(c: MaelstromCandidate, **changes: Any) -> MaelstromCandidate:
    return attrs.evolve(c, options=attrs.evolve(c.options, **changes))


def with_windows(c: MaelstromCandidate, windows: tuple[ScheduledFault, ...],
                 keep_kinds: bool = False) -> MaelstromCandidate:
    """The run with these fault windows; ``--nemesis`` then names the kinds left (what the run did)."""
    schedule = attrs.evolve(c.schedule, windows=tuple(windows))
    if keep_kinds:
        return attrs.evolve(c, schedule=schedule)
    left = {w.kind for w in windows}
    nemesis = tuple(k for k in c.options.nemesis if k in left)
    return MaelstromCandidate(attrs.evolve(c.options, nemesis=nemesis), schedule)


def with_time_limit(c: MaelstromCandidate, limit: float) -> MaelstromCandidate:
    """Load for ``limit`` seconds: windows past it are dropped, one straddling it is cut short."""
    windows = tuple(attrs.evolve(w, stop=min(w.stop, limit)) for w in c.schedule.windows if w.start < limit)
    interval = min(c.schedule.interval, limit)
    schedule = attrs.evolve(c.schedule, time_limit=limit, interval=interval, windows=windows)
    return MaelstromCandidate(attrs.evolve(c.options, time_limit=limit, nemesis_interval=interval), schedule)


def with_nodes(c: MaelstromCandidate, count: int) -> MaelstromCandidate:
    """The run on ``n0..n{count-1}``: windows naming a removed node adapted, or dropped when nothing is left."""
    nodes = [f"n{i}" for i in range(c.options.node_count)]
    windows = list(c.schedule.windows)
    for node in reversed(nodes[count:]):  # one node at a time, as the kinds know how to lose one
        keep = [n for n in nodes if n != node]
        rename = {n: n for n in keep}
        adapted = []
        for w in windows:
            params = KINDS[w.kind].without_node(w.params, node, rename)
            if params is not None:
                adapted.append(attrs.evolve(w, params=params))
        windows, nodes = adapted, keep
    schedule = FaultSchedule(tuple(nodes), c.schedule.time_limit, c.schedule.interval, tuple(windows))
    left = {w.kind for w in windows}
    nemesis = tuple(k for k in c.options.nemesis if k in left)
    return MaelstromCandidate(attrs.evolve(c.options, node_count=count, nemesis=nemesis), schedule)


def _checked(c: MaelstromCandidate) -> MaelstromCandidate | None:
    """The candidate if its schedule makes a run on its nodes, else None (it is skipped)."""
    try:
        schedule = FaultSchedule.from_json(c.schedule.to_json())
    except ValueError:
        return None
    if schedule.nodes != tuple(c.options.node_ids) or c.options.time_limit < MIN_TIME_LIMIT - 1e-9:
        return None
    if any(w.kind == "partition" for w in schedule.windows) and c.options.node_count < 2:
        return None
    return MaelstromCandidate(c.options, schedule)


# -- the search -------------------------------------------------------------------------------


def _kind(reduction: str) -> str:
    """A reduction's name without its numbers ("rate 20 -> 2 ops/s" and "rate 2 -> 0.2 ops/s" are one kind)."""
    return re.sub(r"\d+(\.\d+)?", "#", reduction)

OnTrial = Callable[[int, str, MaelstromCandidate, MaelstromTrial, "str | None"], None]
"""Called for each judged candidate: its number, reduction, candidate, trial, and why it was not kept (None: kept)."""


def refusal(t: MaelstromTrial, anomaly: str | None, operations: int) -> str | None:
    """Why a candidate whose trial is ``t`` is not kept in place of a run of ``operations`` operations failing with
    ``anomaly`` (None: it is kept): it did not fail so, not in every run of it, or with more operations."""
    o = t.report.outcome
    if t.failures == 0:
        if t.report.verdict == "invalid":
            return f"invalid, but not with {anomaly or 'the same anomaly'} ({anomaly_text(o)})"
        return t.report.verdict
    if not t.always_failed:
        return f"failed in only {t.failures} of {t.tries} run(s)"
    if o.operations > operations:
        return (f"failed in all {t.tries} run(s), but with more operations than the run it would replace "
                f"({o.operations} > {operations})")
    return None


def shrink(original: MaelstromCandidate, outcome: Outcome, executor: SeedExecutor, *, argv: tuple[str, ...],
           scratch: str, budget: int, confirm: int, on_trial: OnTrial | None = None) -> MaelstromShrink:
    """Greedy shrinking of ``original`` while it fails with the same main anomaly type in every run of a candidate."""
    anomaly = outcome.main_anomaly
    seen = {original.key()}
    current, current_outcome = original, outcome
    steps: list[MaelstromStep] = []
    trials = runs = speculative = kept_tries = 0
    exhausted = False
    refused: set[str] = set()
    """Kinds of reduction not kept in an earlier round: tried after the others (a real-time trial is dear)."""
    while True:
        fresh: list[tuple[str, MaelstromCandidate]] = []
        again: list[tuple[str, MaelstromCandidate]] = []
        keys: set[str] = set()
        for name, c in reductions(current):
            key = c.key()
            if key in seen or key in keys:
                continue
            keys.add(key)
            (again if _kind(name) in refused else fresh).append((name, c))
        candidates = (fresh + again)[:max(0, budget - trials)]
        exhausted = exhausted or len(fresh) + len(again) > len(candidates)
        if not candidates:
            break
        tasks = (MaelstromTask(i, c, argv, scratch, anomaly, confirm) for i, (_, c) in enumerate(candidates))
        got: dict[int, MaelstromTrial] = {}
        judged = 0
        kept: tuple[str, MaelstromCandidate, MaelstromTrial] | None = None
        results = executor.map_unordered(run_trial, tasks)
        try:
            for trial in results:
                got[trial.report.index] = trial
                while kept is None and judged < len(candidates) and judged in got:
                    name, c = candidates[judged]
                    t = got.pop(judged)
                    judged += 1
                    trials += 1
                    runs += t.tries
                    seen.add(c.key())
                    why = refusal(t, anomaly, current_outcome.operations)
                    ok = why is None and fails_like(t.report.outcome, anomaly)
                    if not ok:
                        refused.add(_kind(name))
                    if on_trial is not None:
                        on_trial(trials, name, c, t, why)
                    if ok:
                        kept = (name, c, t)
                if kept is not None or judged == len(candidates):
                    break
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        speculative += sum(t.tries for t in got.values())
        if kept is None:
            break
        name, current, t = kept
        current_outcome = t.report.outcome
        kept_tries = t.tries
        steps.append(MaelstromStep(name, current, current_outcome, t.tries))
    return MaelstromShrink(original, outcome, current, current_outcome, trials, runs, tuple(steps), exhausted,
                           speculative, kept_tries)
