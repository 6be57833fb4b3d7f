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

import re
import time
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
    speculative: int = attrs.field(default=0, eq=False)
    """Trial runs made ahead (workers otherwise idle) whose outcome the search never judged: not in ``trials``."""
    seconds: float = attrs.field(default=0.0, eq=False)
    """Wall seconds of the shrink itself: from its first trial handed out (ahead, or in ``run``) to its result,
    not the explore session's (a resumed or --keep-going sweep may have run long before it)."""


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

    With ``evaluate`` (several candidates running at once), a worker that is free runs either the
    next candidate of the round after the one in flight, or (speculation across rounds) the first
    candidate of the NEXT round computed as if the candidate in flight were kept, whichever is
    likelier to be needed (``_Search.pick``). Candidates are still judged one at a time in
    reduction order from the outcomes known, so the result, the steps, the kept sequence, the trial
    count and the budget are those of trying them one at a time; outcomes nobody judged are counted
    in ``ShrinkResult.speculative``.
    """
    if evaluate is None:
        if trial is None:
            raise TypeError("shrink needs a trial or an evaluate function")
        evaluate = one_at_a_time(trial)
    return Shrinker(original, evaluate, budget=budget, on_trial=on_trial).run(original_outcome)


class Shrinker:
    """One shrink of ``original``, which may start before the original's own outcome is known.

    ``shrink`` is ``Shrinker(original, evaluate, ...).run(outcome)``. Explore creates one while the
    seed it shrinks is still running (``--workers`` 2 or more): a worker the sweep does not need
    runs ``ahead()``'s candidates, numbered, and hands their outcomes to ``arrived``; ``run`` then
    judges with those outcomes already known (and those still running as in flight, their
    outcomes coming from ``evaluate``). Judging is the same sequential search either way, so the
    result does not depend on what ran ahead.
    """

    def __init__(self, original: Candidate, evaluate: Evaluate, *, budget: int = 100,
                 on_trial: Callable[[int, str, Candidate, Outcome, bool], None] | None = None) -> None:
        self.original = original
        self._search = _Search(None, evaluate, on_trial, budget)
        self._search.seen.add(original.key())
        self._began: float | None = None  # when the first trial was handed out (`ShrinkResult.seconds`)

    def ahead(self) -> tuple[int, Candidate] | None:
        """The next candidate worth running before the original's outcome is known (numbered), or None.

        The search is followed as far as the outcomes known take it, as if the original failed with
        any anomaly (an invalid outcome with no more operations is taken as kept): the candidates
        picked are those of the round reached, and the next round of one running (``_Search.pick``).
        """
        s = self._search
        seen = set(s.seen)
        current, outcome = self.original, None
        trials = 0
        while True:
            r = _Round(current, outcome, seen, s.budget - trials)
            while True:
                entry = r.entry(r.judged)
                if entry is None:
                    return None  # the search would end here: nothing left to run ahead
                known = s.known.get(entry.key)
                if known is None:
                    s.round_ = r
                    task = s.next_task()
                    if task is not None and self._began is None:
                        self._began = time.monotonic()
                    return task
                r.judged += 1
                trials += 1
                seen.add(entry.key)
                if s._kept(known, outcome):
                    current, outcome = entry.candidate, known
                    break

    def arrived(self, number: int, outcome: Outcome) -> None:
        """The outcome of a candidate ``ahead`` handed out (one no longer in flight is ignored)."""
        flying = self._search.flying.pop(number, None)
        if flying is not None:
            self._search.known[flying[0]] = outcome

    @property
    def in_flight(self) -> int:
        """Candidates handed out and not yet answered."""
        return len(self._search.flying)

    def run(self, original_outcome: Outcome) -> ShrinkResult:
        """Shrink the original, whose outcome is ``original_outcome``: the greedy search's result."""
        search = self._search
        if self._began is None:
            self._began = time.monotonic()
        search.anomaly = original_outcome.main_anomaly
        current, current_outcome = self.original, original_outcome
        steps: list[ShrinkStep] = []
        try:
            while True:
                found = search.round(current, current_outcome)
                if found is None:
                    break
                reduction, current, current_outcome = found
                steps.append(ShrinkStep(reduction, current, current_outcome))
        finally:
            search.stop()
        return ShrinkResult(self.original, original_outcome, current, current_outcome, search.trials, tuple(steps),
                            search.exhausted, len(search.known) - search.trials,
                            seconds=time.monotonic() - self._began)


@attrs.frozen
class _Entry:
    reduction: str
    candidate: Candidate
    key: str


class _Round:
    """The candidates of one round, in reduction order, made lazily (unseen, no duplicates, at most ``room``)."""

    def __init__(self, current: Candidate, outcome: Outcome | None, seen: set[str], room: int) -> None:
        self.current = current
        self.outcome = outcome
        self.entries: list[_Entry] = []
        self.judged = 0
        self.more = False
        """A candidate past ``room`` exists (the budget, not the reductions, ended the round)."""
        self._keys: set[str] = set()
        self._seen = seen
        self._room = room
        self._made = reductions(current)
        self._done = False

    def entry(self, i: int) -> _Entry | None:
        while len(self.entries) <= i and not self._done:
            for reduction, candidate in self._made:
                key = candidate.key()
                if key in self._seen or key in self._keys:
                    continue
                if len(self._keys) >= self._room:
                    self.more = True
                    self._done = True
                    break
                self._keys.add(key)
                self.entries.append(_Entry(reduction, candidate, key))
                break
            else:
                self._done = True
        return self.entries[i] if i < len(self.entries) else None


def _kind(reduction: str) -> str:
    """A reduction's name without its numbers ("rate 200 -> 20 ops/s" and "rate 20 -> 2 ops/s" are one kind)."""
    return re.sub(r"\d+(\.\d+)?", "#", reduction)


class _Search:
    """The state of one shrink: candidates judged, outcomes known and in flight, trials counted as the sequential search would."""

    def __init__(self, anomaly: str | None, evaluate: Evaluate,
                 on_trial: Callable[[int, str, Candidate, Outcome, bool], None] | None, budget: int) -> None:
        self.anomaly = anomaly
        self.evaluate = evaluate
        self.on_trial = on_trial
        self.budget = budget
        self.seen: set[str] = set()
        self.known: dict[str, Outcome] = {}
        self.trials = 0
        self.exhausted = False
        self.flying: dict[int, tuple[str, Candidate]] = {}
        """Tasks handed to ``evaluate`` and not yet answered, by number."""
        self.numbered = 0
        self.ahead: dict[str, list[_Entry]] = {}
        """Per candidate in flight or kept: the first candidates of the round that would follow it."""
        self.kinds: dict[str, list[int]] = {}
        """Per reduction kind: [kept, judged] in this shrink (how likely a candidate of it is kept)."""
        self.results: Iterator[tuple[int, Outcome]] | None = None
        self.round_: _Round | None = None

    # -- judging, in reduction order ------------------------------------------------------------

    def round(self, current: Candidate, current_outcome: Outcome) -> tuple[str, Candidate, Outcome] | None:
        """The first reduction of ``current`` (in reduction order) that is kept, or None when none is."""
        r = self.round_ = _Round(current, current_outcome, self.seen, self.budget - self.trials)
        while True:
            entry = r.entry(r.judged)
            if entry is None:
                self.exhausted = self.exhausted or r.more
                return None
            outcome = self.known.get(entry.key)
            if outcome is None:
                self._wait()
                continue
            r.judged += 1
            self.seen.add(entry.key)
            self.trials += 1
            kept = self._kept(outcome, current_outcome)
            tally = self.kinds.setdefault(_kind(entry.reduction), [0, 0])
            tally[0] += kept
            tally[1] += 1
            if self.on_trial is not None:
                self.on_trial(self.trials, entry.reduction, entry.candidate, outcome, kept)
            if kept:
                return entry.reduction, entry.candidate, outcome

    def _wait(self) -> None:
        """One more outcome from ``evaluate`` (a new stream of tasks when the last one ran dry)."""
        if self.results is None:
            self.results = self.evaluate(self._tasks())
        try:
            number, outcome = next(self.results)
        except StopIteration:
            self.results = None
            self.flying.clear()
            return
        key, _ = self.flying.pop(number)
        self.known[key] = outcome

    def stop(self) -> None:
        """Cancel what is still running (speculation nobody needs any more)."""
        results, self.results = self.results, None
        close = getattr(results, "close", None)
        if close is not None:
            close()
        self.flying.clear()

    # -- what a free worker runs ----------------------------------------------------------------

    def _tasks(self) -> Iterator[tuple[int, Candidate]]:
        """Pulled by ``evaluate`` whenever it can start a task: the pick of the moment; ends when nothing is worth running."""
        while True:
            task = self.next_task()
            if task is None:
                return
            yield task

    def next_task(self) -> tuple[int, Candidate] | None:
        """The pick of the moment, numbered and counted in flight; None when nothing is worth running."""
        picked = self.pick()
        if picked is None:
            return None
        self.numbered += 1
        self.flying[self.numbered] = (picked.key(), picked)
        return self.numbered, picked

    def _busy(self, key: str) -> bool:
        return key in self.known or any(k == key for k, _ in self.flying.values())

    def pick(self) -> Candidate | None:
        """The candidate the search needs first, else the speculation likeliest to be needed, else None.

        The candidate being waited for (the first unjudged of the round) comes first. Otherwise a
        free worker runs the candidate likeliest to be needed (the cheaper one of two as likely),
        among the round's later candidates (needed when every one before is not kept) and the first
        candidates of the round that would follow each candidate in flight or known kept (needed
        when it is kept; one of those known to fail leads on to the round after it). A candidate's
        chance of being kept is how often its reduction kind was kept in this shrink, starting from
        the kind's ``KEEP_PRIOR`` (even for most). A speculation costing more than
        ``SPECULATION_COST`` times the awaited candidate (``_cost``) is not run: a long run nobody
        needs holds its worker when the next needed one comes (bench/explore.py: a round's 8-second
        second candidate beside a 4-second first). Chosen on recorded shrinks (3 seeded bugs x 3
        seeds, trial times measured, 2 workers simulated, bench/shrink_schedule.py): 0.55 of one
        worker's time (mean of the 9 ratios), 0.61 with every kind starting at even and no
        speculation past a candidate known to fail, 0.71 with the next-round-first-else-next-candidate rule.
        """
        r = self.round_
        if r is None:
            return None
        first = r.entry(r.judged)
        if first is None:
            return None
        if not self._busy(first.key):
            return first.candidate
        limit = SPECULATION_COST * _cost(first.candidate)
        best: Candidate | None = None
        best_worth = (0.0, 0.0)
        for chance, candidate in self._options(r):
            cost = _cost(candidate)
            worth = (round(chance, 3), -cost)
            if cost <= limit and (best is None or worth > best_worth):
                best, best_worth = candidate, worth
        return best

    def _options(self, r: _Round) -> Iterator[tuple[float, Candidate]]:
        """Candidates not running or known, each with the chance that the search will need it."""
        reach = 1.0  # the chance that every candidate of the round before this one is not kept
        for i in range(r.judged, r.judged + SPECULATION_DEPTH):
            entry = r.entry(i)
            if entry is None or reach < MIN_CHANCE:
                return
            outcome = self.known.get(entry.key)
            if outcome is not None:
                if self._kept(outcome, r.outcome):  # the round ends here: its next round is certain
                    yield from self._next_round(entry, outcome, reach)
                    return
                continue
            keep = self._keep_chance(entry.reduction)
            if self._busy(entry.key):
                yield from self._next_round(entry, None, reach * keep)
            else:
                yield reach, entry.candidate
            reach *= 1 - keep

    def _next_round(self, parent: _Entry, outcome: Outcome | None, reach: float,
                    depth: int = 0) -> Iterator[tuple[float, Candidate]]:
        """The first candidates of the round that follows if ``parent`` is kept (``reach``: the chance it is).

        One of them known to fail like the original (kept, or maybe kept while ``parent`` runs) ends
        that round: the candidates of the round after it follow, as likely (at most ``SPECULATION_ROUNDS``
        rounds on), so that a free worker keeps to the branch the search is likeliest to take."""
        if self.budget - self.trials - 1 - depth < 1:
            return
        made = self.ahead.get(parent.key)
        if made is None:
            made = self.ahead[parent.key] = []
            for reduction, candidate in reductions(parent.candidate):
                key = candidate.key()
                if key in self.seen or key == parent.key:
                    continue
                made.append(_Entry(reduction, candidate, key))
                if len(made) >= SPECULATION_DEPTH:
                    break
        for entry in made:
            if reach < MIN_CHANCE:
                return
            if entry.key in self.seen:
                continue
            known = self.known.get(entry.key)
            if known is not None:
                if fails_like(known, self.anomaly) and (outcome is None or known.operations <= outcome.operations):
                    if depth + 1 < SPECULATION_ROUNDS:  # kept (or, ``parent`` still running, maybe): a round further on
                        yield from self._next_round(entry, known, reach, depth + 1)
                    return
                continue
            keep = self._keep_chance(entry.reduction)
            if not self._busy(entry.key):
                yield reach, entry.candidate
            reach *= 1 - keep

    def _kept(self, outcome: Outcome, current: Outcome | None) -> bool:
        """Kept against ``current`` (None: the original, not known yet: any invalid outcome counts as kept)."""
        return fails_like(outcome, self.anomaly) and (current is None or outcome.operations <= current.operations)

    def _keep_chance(self, reduction: str) -> float:
        """How likely a candidate of this reduction's kind is kept: this shrink's tally, starting from the kind's
        ``KEEP_PRIOR`` as if ``PRIOR_WEIGHT`` candidates had been judged (a kind without a prior starts at even)."""
        kept, judged = self.kinds.get(_kind(reduction), (0, 0))
        return (kept + PRIOR_WEIGHT * keep_prior(reduction)) / (judged + PRIOR_WEIGHT)


SPECULATION_COST = 1.5
"""A speculation may cost at most this many times the candidate being waited for (see ``_Search.pick``)."""
SPECULATION_DEPTH = 6
"""Candidates looked at per round when choosing a speculation (the round's later ones, the next round's first ones)."""
SPECULATION_ROUNDS = 8
"""Rounds ahead of the one judged a speculation may reach along candidates known to fail (``_Search._next_round``)."""
MIN_CHANCE = 0.02
"""A speculation less likely than this to be needed is not run.

Not raised for contention (two trials side by side each run 10-20 % slower on this 2-core machine, so a
speculation of chance p slows the needed trial beside it by C and is worth it only when p > C): the
speculations the sweeps run are 0.33 likely or more (one at 0.14 in 90: first-writer-wins), and
bench/shrink_schedule.py --sweep 40 --contention 0/0.1/0.15/0.2 gave the same ratios (0.58-0.61 at 0,
0.65-0.68 at 0.15, with 0.4 s serial) and the same speculative runs (8, 12, 5) for MIN_CHANCE 0.02 to 0.4;
the unneeded ones are short (30-100 ms). SPECULATION_COST, _DEPTH, _ROUNDS scanned at C 0 and 0.15
(1-3, 3-10, 1-8): the values here were the best at both."""
PRIOR_WEIGHT = 2.0
"""How many judged candidates a reduction kind's ``KEEP_PRIOR`` counts for against this shrink's own tally."""
KEEP_PRIOR: tuple[tuple[str, float], ...] = (
    ("no faults", 0.05),
    ("halve every fault window", 0.1),
)
"""Per reduction kind (by the start of its name), the chance a candidate of it is kept, where the measured rate is
far from even: on recorded shrinks (3 seeded bugs x 3 seeds, 443 candidates judged) "no faults" was kept 0
times in 53 and "halve every fault window" 0 in 9. Every other kind starts at even: their rates (a rate cut
23 in 112, "remove node" 15 in 81, "halve the time limit" 20 in 73, "concurrency" 8 in 41, ...) put in this
table made the replay slower for no-repair and first-writer-wins (0.74-0.95 of one worker against 0.51-0.57:
a first "halve the time limit", kept more often than later ones, then looked unlikely and a free worker left
its branch). Only which speculation a free worker runs depends on it, never what is judged. With "no faults"
at even, while a long one ran a free worker ran the round that would follow it rather than the round's next
candidate, the one needed (bench/shrink_schedule.py --sweep 40, no-tombstones: 0.67 of one worker's time;
0.56 with this table and speculation past a candidate known to fail)."""


def keep_prior(reduction: str) -> float:
    """The chance, before this shrink judged any, that a candidate of ``reduction``'s kind is kept."""
    for prefix, chance in KEEP_PRIOR:
        if reduction.startswith(prefix):
            return chance
    return 0.5


def _cost(c: Candidate) -> float:
    """A trial's rough cost: its operations, plus node-seconds of load and quiescence (timers, anti-entropy)."""
    o = c.options
    rate = o.concurrency * 350.0 if o.closed_loop else o.rate
    return 10.0 + rate * o.time_limit + 2.0 * (o.time_limit + o.quiesce) * o.nodes


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
