"""Shrinking a failing simulated run to a smaller one that fails the same way.

A failing run is a *candidate*: its options (seed included) and its fault schedule. Shrinking
tries smaller candidates one at a time, greedily, and keeps the first that is still invalid with
the same anomaly type and has no more operations than the current one, then starts over from it,
until no reduction helps or the budget of trial runs is spent (the same scheme as QuickCheck's
and Hypothesis's shrinkers, over the run's configuration rather than a byte string). Reductions, tried in this order because the first ones
also make every later trial cheaper:

1. a shorter time limit: end at the last fault window, then halve it;
2. fewer fault windows: none at all, each half, each single window;
3. fewer operations (a lower rate: a tenth, then a half);
4. fewer nodes (never fewer than the replicas; windows naming a removed node are adapted, or
   dropped when nothing of them is left), then fewer replicas, clients and keys (one, a half,
   one less);
5. shorter fault windows, and windows moved earlier.

Because the schedule of a shrunk run is no longer the one its seed generates, the shrunk
schedule is what gets recorded and replayed. Everything here is pure: ``shrink`` is handed a
``trial`` function that runs a candidate, so the logic is testable without running anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from checker.findings import plural
from nemesis import KINDS, FaultSchedule, ScheduledFault

from .options import OptionError, RunOptions, rate_text

MIN_TIME_LIMIT = 0.5
"""Seconds of load below which a run says too little to be worth shrinking further."""
MIN_WINDOW = 0.05
"""Seconds: a fault window is not shortened below this."""


@attrs.frozen
class Candidate:
    """One run to try: its options and the fault schedule it carries out."""

    options: RunOptions
    schedule: FaultSchedule

    @property
    def faults(self) -> int:
        return len(self.schedule.windows)

    def key(self) -> str:
        """Identity for "already tried" (everything but where the run is written)."""
        data = self.options.to_json()
        data.pop("out", None)
        data.pop("name", None)
        return repr((sorted(data.items()), self.schedule.to_json()))

    def describe(self) -> str:
        o = self.options
        return (f"{plural(self.faults, 'fault window')}, {o.time_limit:g} s at {rate_text(o.rate)} ops/s, "
                f"{plural(o.nodes, 'node')} (N={o.replicas}), {plural(o.concurrency, 'client')}, "
                f"{plural(o.keys, 'key')}")


@attrs.frozen
class Outcome:
    """What a trial run gave: its verdict, anomaly types, and its size."""

    valid: object
    anomaly_types: tuple[str, ...]
    operations: int
    faults: int
    history_sha256: str = ""

    @property
    def main_anomaly(self) -> str | None:
        """The commonest anomaly type: what a shrunk run must keep showing."""
        if not self.anomaly_types:
            return None
        return Counter(self.anomaly_types).most_common(1)[0][0]


def fails_like(outcome: Outcome, anomaly: str | None) -> bool:
    """Invalid, and (when ``anomaly`` is given) showing at least one anomaly of that type."""
    return outcome.valid is False and (anomaly is None or anomaly in outcome.anomaly_types)


@attrs.frozen
class ShrinkStep:
    reduction: str
    candidate: Candidate
    outcome: Outcome


@attrs.frozen
class ShrinkResult:
    original: Candidate
    original_outcome: Outcome
    candidate: Candidate
    outcome: Outcome
    trials: int
    steps: tuple[ShrinkStep, ...]
    exhausted: bool
    """True when the budget ran out before no reduction helped (the result may shrink further)."""


Trial = Callable[[Candidate], Outcome]
Evaluate = Callable[[Iterator[tuple[int, Candidate]]], Iterator[tuple[int, Outcome]]]
"""Runs numbered candidates, pulling them lazily, yielding (number, outcome) in completion order;
closing the iterator early cancels those still running (``runner.explore`` runs them on workers)."""


def one_at_a_time(trial: Trial) -> Evaluate:
    """The sequential ``Evaluate``: each candidate tried in turn, in this process."""
    return lambda items: ((i, trial(c)) for i, c in items)


def shrink(
    original: Candidate,
    original_outcome: Outcome,
    trial: Trial | None = None,
    *,
    evaluate: Evaluate | None = None,
    budget: int = 100,
    on_trial: Callable[[int, str, Candidate, Outcome, bool], None] | None = None,
) -> ShrinkResult:
    """Greedy shrinking of ``original`` while it stays invalid with the same main anomaly type.

    With ``evaluate`` (several candidates running at once), candidates after the one in flight are
    tried speculatively, and a round keeps the FIRST kept candidate in reduction order, whatever
    finished first: the result, the steps, the trial count and the budget are those of trying them
    one at a time (``trials`` counts what the sequential search would have run; outcomes of
    speculative candidates are remembered, as the same candidate always gives the same outcome).
    """
    if evaluate is None:
        if trial is None:
            raise TypeError("shrink needs a trial or an evaluate function")
        evaluate = one_at_a_time(trial)
    search = _Search(original_outcome.main_anomaly, evaluate, on_trial)
    search.seen.add(original.key())
    current, current_outcome = original, original_outcome
    steps: list[ShrinkStep] = []
    while True:
        found = search.round(current, current_outcome, budget)
        if found is None:
            break
        reduction, current, current_outcome = found
        steps.append(ShrinkStep(reduction, current, current_outcome))
    return ShrinkResult(original, original_outcome, current, current_outcome, search.trials, tuple(steps),
                        search.exhausted)


class _Search:
    """The state of one shrink: candidates judged, outcomes known, trials counted as the sequential search would."""

    def __init__(self, anomaly: str | None, evaluate: Evaluate,
                 on_trial: Callable[[int, str, Candidate, Outcome, bool], None] | None) -> None:
        self.anomaly = anomaly
        self.evaluate = evaluate
        self.on_trial = on_trial
        self.seen: set[str] = set()
        self.known: dict[str, Outcome] = {}
        self.trials = 0
        self.exhausted = False

    def round(self, current: Candidate, current_outcome: Outcome, budget: int) -> tuple[str, Candidate, Outcome] | None:
        """The first reduction of ``current`` (in reduction order) that is kept, or None when none is."""
        tried: list[tuple[str, Candidate, str]] = []  # (reduction, candidate, key) in reduction order
        more = False
        room = budget - self.trials

        def candidates() -> Iterator[tuple[int, Candidate]]:
            nonlocal more
            keys: set[str] = set()
            for reduction, candidate in reductions(current):
                key = candidate.key()
                if key in self.seen or key in keys:
                    continue
                if len(keys) >= room:
                    more = True
                    return
                keys.add(key)
                tried.append((reduction, candidate, key))
                if key not in self.known:
                    yield len(tried) - 1, candidate

        results = self.evaluate(candidates())
        judged = 0
        finished = False
        try:
            while True:
                # Judge in reduction order what is known (outcomes come in any order; remembered ones at once).
                while judged < len(tried):
                    reduction, candidate, key = tried[judged]
                    outcome = self.known.get(key)
                    if outcome is None:
                        break
                    judged += 1
                    self.seen.add(key)
                    self.trials += 1
                    kept = fails_like(outcome, self.anomaly) and outcome.operations <= current_outcome.operations
                    if self.on_trial is not None:
                        self.on_trial(self.trials, reduction, candidate, outcome, kept)
                    if kept:
                        return reduction, candidate, outcome
                if finished:
                    self.exhausted = self.exhausted or more
                    return None
                try:
                    index, outcome = next(results)
                    self.known[tried[index][2]] = outcome
                except StopIteration:
                    finished = True
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()  # speculative candidates still running are not wanted


# -- reductions ---------------------------------------------------------------------------------


def reductions(c: Candidate) -> Iterator[tuple[str, Candidate]]:
    """Every smaller candidate worth a trial, best first; each is checked to be a valid run."""
    for name, made in _raw_reductions(c):
        checked = _checked(made)
        if checked is not None:
            yield name, checked


def _raw_reductions(c: Candidate) -> Iterator[tuple[str, Candidate]]:
    o, s = c.options, c.schedule
    windows = s.windows
    # 1. shorter time limit
    if windows and windows[-1].stop < o.time_limit - 1e-9:
        yield "end at the last fault", with_time_limit(c, max(windows[-1].stop, MIN_TIME_LIMIT))
    if o.time_limit / 2 >= MIN_TIME_LIMIT:
        yield "halve the time limit", with_time_limit(c, _round(o.time_limit / 2))
    # 2. fewer fault windows
    if windows:
        yield "no faults", with_windows(c, ())
    if len(windows) >= 4:
        half = len(windows) // 2
        yield "first half of the faults", with_windows(c, windows[:half])
        yield "second half of the faults", with_windows(c, windows[half:])
    if len(windows) >= 2:
        for i in reversed(range(len(windows))):
            yield f"drop fault {i + 1} ({windows[i].kind})", with_windows(c, windows[:i] + windows[i + 1 :])
    # 3. fewer operations (the boldest cut first)
    open_loop = (200.0, 1000.0) if o.closed_loop else (max(1.0, _round(o.rate / 10)), max(1.0, _round(o.rate / 2)))
    for rate in sorted(set(open_loop)):
        if rate < o.rate:
            yield f"rate {rate_text(o.rate)} -> {rate:g} ops/s", _evolve(c, rate=rate)
    # 4. fewer nodes, then fewer replicas, clients and keys
    if o.nodes > o.replicas:
        for node in reversed(s.nodes):
            yield f"remove node {node}", without_node(c, node)
    if o.replicas > max(o.write_quorum, o.read_quorum, 1):
        yield "fewer replicas", _evolve(c, replicas=o.replicas - 1)
    for field in ("concurrency", "keys"):
        value = getattr(o, field)
        for smaller in sorted({1, value // 2, value - 1}):
            if 1 <= smaller < value:
                yield f"{field} {value} -> {smaller}", _evolve(c, **{field: smaller})
    # 5. shorter and earlier windows
    if any(w.stop - w.start > MIN_WINDOW for w in windows):
        yield "halve every fault window", with_windows(c, tuple(_halved(w) for w in windows))
        for i, w in enumerate(windows):
            if w.stop - w.start > MIN_WINDOW and len(windows) > 1:
                yield f"halve fault {i + 1} ({w.kind})", with_windows(c, windows[:i] + (_halved(w),) + windows[i + 1 :])
    if windows and windows[0].start > MIN_WINDOW:
        shift = _round(windows[0].start / 2)
        moved = tuple(attrs.evolve(w, start=_round(w.start - shift), stop=_round(w.stop - shift)) for w in windows)
        limit = max(min(MIN_TIME_LIMIT, o.time_limit), _round(o.time_limit - shift))
        yield "move the faults earlier", with_time_limit(with_windows(c, moved), limit)


def _round(seconds: float) -> float:
    return round(seconds, 3)


def _halved(w: ScheduledFault) -> ScheduledFault:
    return attrs.evolve(w, stop=_round(w.start + max(MIN_WINDOW, (w.stop - w.start) / 2)))


def _evolve(c: Candidate, **changes: Any) -> Candidate:
    return attrs.evolve(c, options=attrs.evolve(c.options, **changes))


def with_windows(c: Candidate, windows: tuple[ScheduledFault, ...]) -> Candidate:
    return attrs.evolve(c, schedule=attrs.evolve(c.schedule, windows=tuple(windows)))


def with_time_limit(c: Candidate, limit: float) -> Candidate:
    """Load for ``limit`` seconds: windows past it are dropped, one straddling it is cut short."""
    windows = []
    for w in c.schedule.windows:
        if w.start >= limit:
            continue
        windows.append(attrs.evolve(w, stop=min(w.stop, limit)))
    interval = min(c.schedule.interval, limit)
    schedule = attrs.evolve(c.schedule, time_limit=limit, interval=interval, windows=tuple(windows))
    return Candidate(attrs.evolve(c.options, time_limit=limit, fault_interval=interval), schedule)


def without_node(c: Candidate, node: str) -> Candidate:
    """The run with ``node`` gone: later nodes are renumbered, windows naming it adapted or dropped.

    Simulated nodes are ``n1..nN`` by position, so removing ``n2`` of five renames ``n3..n5`` to
    ``n2..n4`` everywhere in the schedule.
    """
    nodes = list(c.schedule.nodes)
    kept = [n for n in nodes if n != node]
    rename = {old: f"n{i + 1}" for i, old in enumerate(kept)}
    windows = []
    for w in c.schedule.windows:
        params = _params_without(w.kind, w.params, node, rename)
        if params is not None:
            windows.append(attrs.evolve(w, params=params))
    schedule = FaultSchedule(tuple(rename[n] for n in kept), c.schedule.time_limit, c.schedule.interval,
                             tuple(windows))
    return Candidate(attrs.evolve(c.options, nodes=len(kept)), schedule)


def _params_without(kind: str, params: dict[str, Any], node: str, rename: dict[str, str]) -> dict[str, Any] | None:
    """``params`` with ``node`` removed and the rest renamed, or None when the window means nothing now."""
    return KINDS[kind].without_node(params, node, rename)


def _checked(c: Candidate) -> Candidate | None:
    """The candidate if its options and schedule make a run, else None (it is skipped)."""
    try:
        options = c.options.validate()
        schedule = FaultSchedule.from_json(c.schedule.to_json())
    except (OptionError, ValueError):
        return None
    if schedule.nodes != tuple(f"n{i + 1}" for i in range(options.nodes)):
        return None
    return Candidate(options, schedule)
