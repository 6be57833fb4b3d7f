"""Shrinking logic, driven by a fake trial so every step is known (no runs)."""

from __future__ import annotations

from typing import Any

import attrs

from nemesis import FaultSchedule, ScheduledFault
from runner.options import RunOptions
from runner.shrink import (
    Candidate,
    Outcome,
    Shrinker,
    one_at_a_time,
    reductions,
    shrink,
    with_time_limit,
    without_node,
)

NODES = ("n1", "n2", "n3", "n4", "n5")


def _candidate(windows: tuple[ScheduledFault, ...], **options: object) -> Candidate:
    opts = RunOptions(mode="sim", nemesis=("partition", "crash"), time_limit=10.0, fault_interval=1.0, **options)
    nodes = tuple(f"n{i + 1}" for i in range(opts.nodes))
    return Candidate(opts.validate(), FaultSchedule(nodes, opts.time_limit, 1.0, windows))


PARTITION = ScheduledFault("partition", 1.0, 2.0, {"kind": "random-halves", "groups": [["n1", "n4"], ["n2", "n3", "n5"]]})
CRASH = ScheduledFault("crash", 3.0, 4.0, {"nodes": ["n2", "n5"], "targets": "minority"})
PAUSE = ScheduledFault("pause", 5.0, 6.0, {"nodes": ["n2"]})
BRIDGE = ScheduledFault("partition", 7.0, 8.0, {"kind": "bridge", "groups": [["n1", "n2"], ["n2", "n3"]], "bridge": "n2"})


def test_removing_a_node_renumbers_the_rest_and_adapts_windows() -> None:
    """Without n2, n3..n5 become n2..n4 in every window; windows left empty or bridged by n2 go."""
    shrunk = without_node(_candidate((PARTITION, CRASH, PAUSE, BRIDGE)), "n2")
    assert shrunk.options.nodes == 4
    assert shrunk.schedule.nodes == ("n1", "n2", "n3", "n4")
    assert [w.kind for w in shrunk.schedule.windows] == ["partition", "crash"]
    assert shrunk.schedule.windows[0].params["groups"] == [["n1", "n3"], ["n2", "n4"]]
    assert shrunk.schedule.windows[1].params["nodes"] == ["n4"]


def test_cutting_the_time_limit_clips_and_drops_windows() -> None:
    """A shorter time limit cuts the straddling window short and drops later ones, in options and schedule."""
    shrunk = with_time_limit(_candidate((PARTITION, CRASH, PAUSE)), 3.5)
    assert shrunk.options.time_limit == shrunk.schedule.time_limit == 3.5
    assert [(w.kind, w.start, w.stop) for w in shrunk.schedule.windows] == [("partition", 1.0, 2.0), ("crash", 3.0, 3.5)]


def test_reductions_never_go_below_the_replicas_or_break_the_schedule() -> None:
    """Every proposed candidate has nodes >= replicas and a schedule that round-trips through JSON."""
    start = _candidate((PARTITION, CRASH, PAUSE), nodes=5, replicas=3)
    proposed = [c for _, c in reductions(start)]
    assert proposed
    for c in proposed:
        assert c.options.nodes >= c.options.replicas >= max(c.options.write_quorum, c.options.read_quorum)
        assert FaultSchedule.from_json(c.schedule.to_json()) == c.schedule
        assert c.schedule.nodes == tuple(f"n{i + 1}" for i in range(c.options.nodes))


def _fake_trial(calls: list[Candidate]):  # type: ignore[no-untyped-def]
    """Invalid ("lost-write") exactly while a crash window of n2 remains and there are at least 3 keys."""

    def trial(c: Candidate) -> Outcome:
        calls.append(c)
        crash = any(w.kind == "crash" and "n2" in w.params["nodes"] for w in c.schedule.windows)
        fails = crash and c.options.keys >= 3
        ops = int(c.options.rate * c.options.time_limit)
        return Outcome(not fails, ("lost-write",) if fails else (), ops, len(c.schedule.windows))

    return trial


def test_shrink_reaches_the_smallest_run_that_still_fails() -> None:
    """Greedy shrinking keeps only the needed crash, the fewest keys, nodes and clients, and the least time."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20, concurrency=10)
    calls: list[Candidate] = []
    trial = _fake_trial(calls)
    result = shrink(start, trial(start), trial, budget=500)
    c = result.candidate
    assert not result.exhausted
    assert [w.kind for w in c.schedule.windows] == ["crash"]
    assert c.schedule.windows[0].params["nodes"] == ["n2"]
    assert c.options.keys == 3 and c.options.concurrency == 1 and c.options.rate == 1.0
    assert c.options.nodes == 2 and c.options.replicas == 1, "n2 must stay for its crash; one replica is enough"
    assert c.options.time_limit == 0.5 and c.schedule.windows[0].stop <= 0.5
    assert result.outcome.valid is False and result.trials == len(calls) - 1
    assert len({x.key() for x in calls}) == len(calls), "no candidate is tried twice"


def test_shrink_keeps_the_anomaly_type() -> None:
    """A smaller run that fails with a different anomaly type is not taken."""
    start = _candidate((PARTITION, CRASH))

    def trial(c: Candidate) -> Outcome:
        kind = "lost-write" if c.schedule.windows == start.schedule.windows else "divergent"
        return Outcome(False, (kind,), 1, len(c.schedule.windows))

    result = shrink(start, trial(start), trial, budget=200)
    assert result.candidate.schedule.windows == start.schedule.windows
    assert result.outcome.main_anomaly == "lost-write"


def test_shrink_never_keeps_a_run_with_more_operations() -> None:
    """A reduction that still fails the same way but runs more operations (a crash dropped) is not kept."""
    start = _candidate((PARTITION, CRASH))

    def trial(c: Candidate) -> Outcome:
        # Dropping the crash lets more operations complete; everything else changes nothing.
        ops = 100 if any(w.kind == "crash" for w in c.schedule.windows) else 150
        return Outcome(False, ("lost-write",), ops, len(c.schedule.windows))

    result = shrink(start, trial(start), trial, budget=200)
    assert any(w.kind == "crash" for w in result.candidate.schedule.windows)
    assert result.outcome.operations <= 100


def test_shrink_stops_at_the_budget() -> None:
    """With a budget of n trial runs, shrinking runs at most n and says it was cut short."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    calls: list[Candidate] = []
    trial = _fake_trial(calls)
    result = shrink(start, trial(start), trial, budget=3)
    assert result.trials == 3 == len(calls) - 1
    assert result.exhausted


def test_a_candidate_that_cannot_run_is_never_proposed() -> None:
    """With nodes == replicas == quorum, no reduction proposes fewer nodes or replicas."""
    start = _candidate((), nodes=2, replicas=2, write_quorum=2, read_quorum=1)
    proposed = [c for _, c in reductions(start)]
    assert proposed, "other reductions (time, rate, keys) are still proposed"
    assert all(c.options.nodes == 2 and c.options.replicas == 2 for c in proposed)


def _speculative(trial, batch: int):  # type: ignore[no-untyped-def]
    """An Evaluate running ``batch`` candidates at a time and answering each batch in reverse (completion) order."""

    def evaluate(items):  # type: ignore[no-untyped-def]
        pending = []
        for item in items:
            pending.append(item)
            if len(pending) == batch:
                for i, c in reversed(pending):
                    yield i, trial(c)
                pending = []
        for i, c in reversed(pending):
            yield i, trial(c)

    return evaluate


def test_speculative_shrinking_equals_shrinking_one_at_a_time() -> None:
    """Candidates run several at once and finishing out of order shrink to the same run, steps, trials and budget use."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    for budget in (3, 7, 100):
        sequential = shrink(start, _fake_trial([])(start), _fake_trial([]), budget=budget)
        for batch in (2, 3, 5):
            calls: list[Candidate] = []
            parallel = shrink(start, _fake_trial([])(start), evaluate=_speculative(_fake_trial(calls), batch),
                              budget=budget)
            assert parallel == sequential, (budget, batch)
            assert len(calls) >= parallel.trials - 1  # speculation runs more, the count is the sequential one


def test_a_wrong_speculation_still_gives_the_sequential_result() -> None:
    """Rounds whose first candidate is not kept (so the next round run ahead was wasted) judge exactly as one at a time."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    seq_calls: list[Candidate] = []
    seq_judged: list[tuple[int, str, bool]] = []
    sequential = shrink(start, _fake_trial([])(start), _fake_trial(seq_calls), budget=100,
                        on_trial=lambda n, r, c, o, kept: seq_judged.append((n, r, kept)))
    first_of_round = [kept for (_, _, kept), prev in zip(seq_judged, [(0, "", True), *seq_judged], strict=False)
                      if prev[2]]
    assert False in first_of_round, "the case needs a round whose first candidate is not kept"
    calls: list[Candidate] = []
    judged: list[tuple[int, str, bool]] = []
    parallel = shrink(start, _fake_trial([])(start), evaluate=_speculative(_fake_trial(calls), 2), budget=100,
                      on_trial=lambda n, r, c, o, kept: judged.append((n, r, kept)))
    assert parallel == sequential and judged == seq_judged
    wasted = {c.key() for c in calls} - {c.key() for c in seq_calls}
    assert wasted, "some speculation was wrong (run ahead, never judged)"
    assert parallel.speculative == len(calls) - parallel.trials > 0


def test_speculation_never_costs_much_more_than_the_candidate_awaited() -> None:
    """With two workers, no candidate run ahead costs over SPECULATION_COST times the one the search waits for."""
    from runner import shrink as shrink_module

    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    picked: list[tuple[Candidate, Candidate]] = []
    original = shrink_module._Search.pick

    def watched(self: shrink_module._Search) -> Candidate | None:
        choice = original(self)
        r = self.round_
        first = r.entry(r.judged) if r is not None else None
        if choice is not None and first is not None and choice is not first.candidate:
            picked.append((first.candidate, choice))
        return choice

    shrink_module._Search.pick = watched  # type: ignore[method-assign]
    try:
        sequential = shrink(start, _fake_trial([])(start), _fake_trial([]), budget=100)
        parallel = shrink(start, _fake_trial([])(start), evaluate=_speculative(_fake_trial([]), 2), budget=100)
    finally:
        shrink_module._Search.pick = original  # type: ignore[method-assign]
    assert parallel == sequential
    assert picked, "some candidate was run ahead"
    for awaited, ahead in picked:
        assert shrink_module._cost(ahead) <= shrink_module.SPECULATION_COST * shrink_module._cost(awaited)


def _ahead_then_run(start: Candidate, ran_ahead: int, left_in_flight: int,
                    budget: int = 100) -> tuple[Any, list[Candidate]]:
    """Shrinker: ``ran_ahead`` candidates run before the original's outcome is known (the last
    ``left_in_flight`` of them never answered), then the shrink; its result and every candidate run."""
    calls: list[Candidate] = []
    trial = _fake_trial(calls)
    shrinker = Shrinker(start, one_at_a_time(trial), budget=budget)
    handed: list[tuple[int, Candidate]] = []
    for _ in range(ran_ahead):
        task = shrinker.ahead()
        if task is None:
            break
        handed.append(task)
    for number, candidate in handed[: len(handed) - left_in_flight]:
        shrinker.arrived(number, trial(candidate))
    return shrinker.run(_fake_trial([])(start)), calls


def test_a_shrink_begun_before_the_original_failed_equals_the_sequential_one() -> None:
    """Candidates run ahead of the original's outcome, answered or still in flight, change nothing in the shrink's result."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    for budget in (3, 100):
        sequential = shrink(start, _fake_trial([])(start), _fake_trial([]), budget=budget)
        for ran_ahead, in_flight in ((1, 0), (4, 0), (12, 0), (4, 2), (12, 5)):
            result, calls = _ahead_then_run(start, ran_ahead, in_flight, budget)
            assert result == sequential, (budget, ran_ahead, in_flight)
            assert len(calls) >= result.trials  # what ran ahead is counted apart (speculative), not in trials


def test_running_ahead_follows_the_search_past_a_kept_candidate() -> None:
    """ahead() goes on into the next round when a candidate run ahead failed (so would be kept): it never runs dry early."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    sequential_calls: list[Candidate] = []
    shrink(start, _fake_trial([])(start), _fake_trial(sequential_calls), budget=100)
    trial = _fake_trial([])
    shrinker = Shrinker(start, one_at_a_time(trial), budget=100)
    ahead: list[Candidate] = []
    for _ in range(10):  # one worker running ahead, each answer known before the next pick
        task = shrinker.ahead()
        assert task is not None
        ahead.append(task[1])
        shrinker.arrived(task[0], trial(task[1]))
    needed = {c.key() for c in sequential_calls}
    assert sum(c.key() in needed for c in ahead) >= 8  # nearly all of it is work the shrink then judges


def _search_at(start: Candidate, first: str) -> tuple[Any, Any, int]:
    """A search judging ``start``'s first round, every candidate before the one named ``first`` judged not
    kept and that one in flight: (the search, its round, the place of ``first`` in the round)."""
    from runner import shrink as shrink_module

    trial = _fake_trial([])
    outcome = trial(start)
    search = shrink_module._Search(outcome.main_anomaly, one_at_a_time(trial), None, 100)
    r = search.round_ = shrink_module._Round(start, outcome, search.seen, 100)
    i = 0
    while r.entry(i).reduction != first:
        entry = r.entry(i)
        search.known[entry.key] = Outcome(True, (), 0, 0)
        search.seen.add(entry.key)
        r.judged += 1
        i += 1
    search.flying[1] = (r.entry(i).key, r.entry(i).candidate)
    return search, r, i


def test_while_no_faults_runs_a_free_worker_runs_the_rounds_next_candidate() -> None:
    """"no faults" is seldom kept (KEEP_PRIOR), so a free worker runs the round's next candidate, not the round after it."""
    search, r, i = _search_at(_candidate((PARTITION, CRASH, PAUSE), keys=20), "no faults")
    picked = search.pick()
    assert picked is not None and picked.key() == r.entry(i + 1).key, (r.entry(i + 1).reduction, picked)


def test_speculation_follows_a_candidate_known_to_fail_into_the_round_after_it() -> None:
    """With the awaited candidate in flight and its round's first candidate known to fail, a free worker runs the round after that one."""
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20)
    search, r, i = _search_at(start, next(name for name, _ in reductions(start)))
    trial = _fake_trial([])
    child = None
    for _, candidate in reductions(r.entry(i).candidate):  # the round after the awaited one, up to one that fails
        search.known[candidate.key()] = trial(candidate)
        if search.known[candidate.key()].valid is False:
            child = candidate
            break
    assert child is not None, "the case needs a reduction of the awaited candidate that fails too"
    picked = search.pick()
    assert picked is not None and picked.key() in {c.key() for _, c in reductions(child)}, picked


def test_explore_shows_the_shrinks_own_duration_not_the_sessions(monkeypatch: Any) -> None:
    """The shrink's seconds run from its first trial to its result (a fake clock), and explore's line shows them."""
    import runner.shrink as shrink_module
    from runner.explore import ExploreResult, format_report

    clock = [1000.0]
    monkeypatch.setattr(shrink_module.time, "monotonic", lambda: clock[0])
    start = _candidate((PARTITION, CRASH, PAUSE), keys=20, concurrency=10)
    base = _fake_trial([])

    def trial(c: Candidate) -> Outcome:
        clock[0] += 1.0  # each trial run takes one second
        return base(c)

    shrinker = Shrinker(start, one_at_a_time(trial), budget=500)
    clock[0] += 48.0  # the sweep (or a resumed session) goes on before the shrink starts
    result = shrinker.run(base(start))
    assert result.seconds == result.trials
    explored = ExploreResult(24, 0, 1, result, None, None, 62.0, workers=2)
    line = format_report(explored).splitlines()[0]
    assert (f"shrunk in {result.trials} trial runs (the shrink took {result.trials} s of wall-clock time, of the 62 s "
            "this explore command took in all, its sweep included; 2 workers)") in line
    one = format_report(attrs.evolve(explored, workers=1)).splitlines()[0]
    assert "; 1 worker)" in one and "worker(s)" not in one


def test_explore_says_what_its_seconds_are_when_nothing_is_found() -> None:
    """'nothing found' names the seconds as the explore command's wall-clock time, and plurals its workers."""
    from runner.explore import ExploreResult, format_report

    for workers, words in ((1, "1 worker"), (3, "3 workers")):
        line = format_report(ExploreResult(4, 0, None, None, None, None, 9.4, workers=workers)).splitlines()[0]
        assert f"nothing found (the explore command took 9 s of wall-clock time; {words})" in line, line
