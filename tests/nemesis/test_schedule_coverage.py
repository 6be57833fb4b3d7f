"""A multi-kind nemesis tries every kind it was given before repeating one, and a run too short says what it skipped."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from nemesis.schedule import FAULT_KINDS, FaultSchedule, expand_kinds, fault_windows, left_out, too_short
from runner.options import RunOptions
from runner.phases import make_schedule

ROOT = Path(__file__).resolve().parents[2]
NODES = ["n1", "n2", "n3", "n4", "n5"]


@pytest.mark.parametrize("kinds", [["all"], ["crash", "drop", "partition"], ["pause", "clock-skew"]])
@pytest.mark.parametrize("seed", range(25))
def test_every_kind_is_tried_once_per_round(seed: int, kinds: list[str]) -> None:
    """Every run of len(kinds) consecutive windows from the start is a permutation of the kinds (round-robin)."""
    wanted = expand_kinds(kinds)
    schedule = FaultSchedule.generate(random.Random(seed), kinds, NODES, 2 * len(wanted) * 3 * 1.0 + 0.5, 1.0, crash_targets="minority")
    seen = [w.kind for w in schedule.windows]
    assert len(seen) >= 3 * len(wanted)
    for start in range(0, len(seen) - len(wanted) + 1, len(wanted)):
        assert sorted(seen[start:start + len(wanted)]) == sorted(wanted)
    assert all(a != b for a, b in zip(seen, seen[1:], strict=False)), seen
    counts = Counter(seen)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_all_in_eighty_seconds_at_five_tries_all_eight() -> None:
    """--nemesis all for 80 s at 5 s intervals has 8 windows and tries all 8 kinds (it used to be random)."""
    schedule = FaultSchedule.generate(random.Random(7), ["all"], NODES, 80.0, 5.0, crash_targets="minority")
    assert fault_windows(80.0, 5.0) == len(schedule.windows) == len(FAULT_KINDS)
    assert {w.kind for w in schedule.windows} == set(FAULT_KINDS)


def test_the_order_is_seeded() -> None:
    """The same seed gives the same schedule; another seed another order."""
    def kinds_of(seed: int) -> list[str]:
        return [w.kind for w in FaultSchedule.generate(random.Random(seed), ["all"], NODES, 100.0, 1.0, crash_targets="minority").windows]

    assert kinds_of(3) == kinds_of(3)
    assert len({tuple(kinds_of(s)) for s in range(10)}) > 1


@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "histories" / "examples").iterdir()
                                           if not p.name.startswith("shrunk-")))
def test_one_kind_schedules_are_drawn_as_before(example: str) -> None:
    """A single-kind schedule is still what the seed gave when the examples were recorded."""
    run = json.loads((ROOT / "histories" / "examples" / example / "run.json").read_text())
    options = RunOptions.from_json(run["options"])
    assert len(options.nemesis) == 1
    assert make_schedule(options, tuple(run["schedule"]["nodes"])).to_json() == run["schedule"]


def test_a_short_run_says_which_kinds_it_left_out_and_why() -> None:
    """30 s of 'all' at 5 s intervals: 3 windows; the note names the 5 kinds not tried and what would fit all."""
    schedule = FaultSchedule.generate(random.Random(1), ["all"], NODES, 30.0, 5.0, crash_targets="minority")
    tried = [w.kind for w in schedule.windows]
    note = left_out(["all"], tried, 30.0, 5.0)
    assert note is not None
    missing = [k for k in FAULT_KINDS if k not in tried]
    assert len(missing) == 5 and note.startswith("not tried: " + ", ".join(missing))
    assert "room for 3 fault windows" in note and "--time-limit 80" in note and "--fault-interval 1.87" in note
    assert left_out(["all"], FAULT_KINDS, 80.0, 5.0) is None
    assert too_short(["all"], 80.0, 5.0) is None
    assert fault_windows(30.0, 1.87) >= len(FAULT_KINDS)


def test_simulated_run_summary_names_the_kinds_left_out(tmp_path: Path) -> None:
    """End to end: a short simulated 'all' run's summary lists the kinds it injected and the ones it did not."""
    from runner.run import run
    from runner.summary import format_summary

    options = RunOptions(nemesis=("all",), time_limit=6.0, fault_interval=1.0, quiesce=0.5, rate=40.0, keys=4,
                         concurrency=3, mode="sim", out=str(tmp_path), seed=5).validate()
    result = run(options, ["test"], quiet=True, report=False)
    summary = format_summary(result)
    assert sum(result.faults.values()) == 3 and len(result.faults) == 3  # three windows, three kinds
    missing = [k for k in FAULT_KINDS if k not in result.faults]
    assert f"not tried: {', '.join(missing)}: 6 s at --fault-interval 1 has room for 3 fault windows" in summary
