"""Workload dimensions: key/value sizes, large key spaces, closed-loop rate, all recorded and replayable."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from checker.history import read_events
from runner.options import OptionError, RunOptions, parse_rate, parse_size
from runner.replay import load_recorded_run
from runner.run import run as run_test
from runner.workload import KeyChooser, KeySpace, padded

from .test_harness_runs import run_harness


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--key-size", "2000"], "--key-size"),
        (["--key-size", "uniform:0-10"], "--key-size"),
        (["--value-size", "uniform:9-3"], "--value-size"),
        (["--value-size", "40000"], "32768"),
        (["--value-size", "big"], "uniform:A-B"),
        (["--rate", "fast"], "'max'"),
        (["--rate", "-5"], "--rate"),
    ],
)
def test_bad_workload_flags_exit_254_with_a_message(args: list[str], mentions: str) -> None:
    """A wrong size or rate gets one line naming the flag, exit 254, no traceback."""
    done = run_harness(*args)
    assert done.returncode == 254, done.stderr
    assert mentions in done.stderr and "Traceback" not in done.stderr


def test_size_and_rate_parsing() -> None:
    """N, uniform:A-B and max parse to what they say; default sizes are None."""
    assert parse_size("--key-size", "200", 1024) is not None
    spec = parse_size("--value-size", "uniform:10-300", 32768)
    assert spec is not None and (spec.low, spec.high) == (10, 300) and str(spec) == "uniform:10-300"
    assert parse_size("--key-size", None, 1024) is None
    assert math.isinf(parse_rate("max")) and parse_rate("250") == 250.0
    with pytest.raises(OptionError, match="1024"):
        parse_size("--key-size", "1025", 1024)


def test_options_round_trip_through_run_json_and_old_files_keep_todays_defaults() -> None:
    """Sizes and rate max survive to_json/from_json (as strict JSON); a run.json without them loads as before."""
    options = RunOptions(key_size="uniform:100-300", value_size="5000", rate=math.inf, keys=100_000).validate()
    data = json.loads(json.dumps(options.to_json(), allow_nan=False))
    assert data["rate"] == "max"
    assert RunOptions.from_json(data) == options
    old = RunOptions().to_json()
    del old["key_size"], old["value_size"]
    restored = RunOptions.from_json(old)
    assert restored.key_size is None and restored.value_size is None and restored.rate == 200.0


def test_keys_are_unique_and_of_the_drawn_length() -> None:
    """Padded keys keep the k<i> prefix, are unique per index and as long as drawn (or the bare name)."""
    spec = parse_size("--key-size", "uniform:1-40", 1024)
    space = KeySpace(5000, spec, random.Random(1))
    names = space.names()
    assert len(set(names)) == 5000
    for i, name in enumerate(names):
        assert name.split("-")[0] == f"k{i}"
        assert len(name) == max(len(f"k{i}"), space._lengths[i])  # type: ignore[index]
    assert KeySpace(3).names() == ["k0", "k1", "k2"]
    assert padded("p1-2", "_", 10) == "p1-2_abcde" and padded("p1-23", "_", 3) == "p1-23"


@pytest.mark.parametrize("dist", ["uniform", "zipf"])
def test_key_chooser_covers_a_hundred_thousand_keys(dist: str) -> None:
    """Index draws stay inside 100,000 keys; zipf favours the first keys, uniform reaches far ones."""
    chooser = KeyChooser(100_000, dist, random.Random(2))
    draws = [chooser.choose() for _ in range(20_000)]
    assert all(0 <= d < 100_000 for d in draws)
    low = sum(d < 100 for d in draws) / len(draws)
    assert (low > 0.2) if dist == "zipf" else (low < 0.01 and max(draws) > 90_000)


def test_a_closed_loop_sim_run_with_sizes_is_valid_traceable_recorded_and_replays(tmp_path: Path) -> None:
    """--rate max with long keys and large values: valid, sizes as asked, achieved rate recorded, replay identical."""
    options = RunOptions(mode="sim", nodes=3, time_limit=1.5, fault_interval=0.5, nemesis=("partition",),
                         rate=math.inf, concurrency=4, keys=3000, key_size="uniform:100-300",
                         value_size="uniform:1000-4000", quiesce=1.0, converge_timeout=5.0, out=str(tmp_path),
                         seed=4).validate()
    result = run_test(options, ["test"], quiet=True, report=False)
    assert result.results["valid"] is True, result.results.get("anomalies", [])[:2]
    events = read_events(result.run_dir / "history.jsonl")
    puts = [e for e in events if e.get("f") == "put" and e["type"] == "invoke"]
    assert puts and all(1000 <= len(e["value"]) <= 4000 and e["value"].startswith("p") for e in puts)
    assert len({e["value"] for e in puts}) == len(puts)
    keys = {e["key"] for e in events if "key" in e}
    assert all(100 <= len(k) <= 300 for k in keys)
    final_keys = {e["key"] for e in events if e.get("final")}
    assert final_keys == {e["key"] for e in events if e.get("type") == "invoke" and not e.get("final")}
    assert len(final_keys) < 3000  # only the keys the run touched are read at the end
    run = json.loads((result.run_dir / "run.json").read_text())
    assert run["options"]["rate"] == "max" and run["achieved"]["achieved_rate"] > 0
    assert result.results["stats"]["workload"]["requested_rate"] == "max"
    recorded = load_recorded_run(result.run_dir)
    assert recorded.options == options
    (tmp_path / "again").mkdir()
    again = run_test(recorded.options, ["test"], quiet=True, report=False, run_dir=tmp_path / "again",
                         schedule=recorded.schedule)
    assert (again.run_dir / "history.jsonl").read_bytes() == (result.run_dir / "history.jsonl").read_bytes()



def test_explore_draws_the_workload_per_seed_reproducibly() -> None:
    """--vary-workload: a seed always draws the same dimensions; a sweep covers long keys, 100k keys and max rate."""
    from runner.explore import draw_workload

    base = RunOptions(mode="sim")
    assert draw_workload(base, 7) == draw_workload(base, 7)
    drawn = [draw_workload(base, seed) for seed in range(1, 60)]
    assert all(o.seed == seed for o, seed in zip(drawn, range(1, 60), strict=True))
    assert any(o.closed_loop for o in drawn) and any(o.keys == 100_000 for o in drawn)
    assert any(o.key_size == "1024" for o in drawn) and any(o.value_size for o in drawn)
    assert RunOptions.from_json(drawn[0].to_json()) == drawn[0]


def test_explore_draws_are_bounded_so_a_seed_stays_cheap() -> None:
    """--vary-workload never draws saturation with many clients or large values, nor large values at high rates."""
    from runner.explore import draw_workload

    base = RunOptions(mode="sim", concurrency=10)
    for seed in range(1, 200):
        o = draw_workload(base, seed)
        spec = o.value_size_spec
        mean_value = 0.0 if spec is None else (spec.low + spec.high) / 2
        if o.closed_loop:
            assert o.concurrency <= 4 and mean_value <= 1000, (seed, o.concurrency, o.value_size)
        else:
            assert o.rate * mean_value <= 2_500_000 or o.rate == 100.0, (seed, o.rate, o.value_size)
        assert o.key_size_spec is None or o.key_size_spec.low >= len(f"k{o.keys - 1}"), (seed, o.key_size, o.keys)


def test_a_saturating_sim_run_warns_of_its_cost_in_one_line(tmp_path: Path) -> None:
    """--mode sim --rate max with 200 clients says first, in one line, how many operations it will simulate."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, str(root / "harness.py"), "--mode", "sim", "--rate", "max",
                             "--concurrency", "200", "--time-limit", "10", "--out", str(tmp_path)],
                            cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
    finally:
        proc.kill()
        proc.communicate()
    assert first.startswith("note: --mode sim --rate max: 200 closed-loop clients complete about 70,000 operations "
                            "per virtual second, some 700,000 in 10 s"), first


def test_a_short_saturating_sim_run_has_no_cost_warning() -> None:
    """The note is for costly runs only: 4 closed-loop clients for 8 virtual s get none."""
    from runner.simulate import saturation_note

    assert saturation_note(RunOptions(mode="sim", rate=math.inf, concurrency=4, time_limit=8)) is None
    assert saturation_note(RunOptions(mode="sim", rate=1000.0, concurrency=200, time_limit=60)) is None


@pytest.mark.parametrize("mix", [(1, 1, 1), (5, 4, 1), (0, 1, 0), (3, 0, 2), (1, 0, 0), (10**6, 1, 3)])
def test_the_operation_draw_is_random_choices_draw(mix: tuple[int, int, int]) -> None:
    """Workload._choose_f draws what rng.choices(weights=mix) draws from the same generator, call for call."""
    from types import SimpleNamespace

    from runner.workload import _FS, Workload

    for seed in range(5):
        workload = SimpleNamespace(mix=mix, rng=random.Random(seed), _cum_mix=None)
        reference = random.Random(seed)
        drawn = [Workload._choose_f(workload) for _ in range(2000)]  # type: ignore[arg-type]
        assert drawn == [reference.choices(_FS, weights=mix)[0] for _ in range(2000)]
        assert workload.rng.getstate() == reference.getstate()


def test_the_operation_draw_refuses_the_weights_random_choices_refuses() -> None:
    """A mix of zero weights raises random.choices' own error, not an index error."""
    from types import SimpleNamespace

    from runner.workload import Workload

    with pytest.raises(ValueError, match="greater than zero"):
        Workload._choose_f(SimpleNamespace(mix=(0, 0, 0), rng=random.Random(1), _cum_mix=None))  # type: ignore[arg-type]
