"""Fault schedules: deterministic generation, plain-data round trips, and running them on trio's clock."""

from __future__ import annotations

import json
import random

import pytest
import trio

from minikeydb.testing.network import MemoryNetwork
from nemesis.clock import SkewableClock
from nemesis.control import InProcessControl
from nemesis.faulty_network import FaultyNetwork
from nemesis.schedule import FAULT_KINDS, FaultSchedule, ScheduledFault, expand_kinds, run_schedule

NODES = ["n1", "n2", "n3", "n4", "n5"]


def generate(seed: int, kinds=("all",), time_limit: float = 100.0, interval: float = 5.0) -> FaultSchedule:
    return FaultSchedule.generate(random.Random(seed), list(kinds), NODES, time_limit, interval, "majorities-ring",
                                  crash_targets="minority")


def test_generation_is_deterministic_for_a_seed():
    """The same seed gives the same schedule; another seed gives a different one."""
    assert generate(42) == generate(42)
    assert generate(42).to_json() != generate(43).to_json()


def test_windows_alternate_healthy_and_faulty_and_the_last_ends_with_the_load():
    """Fault windows last one interval with a healthy interval between them, start after a healthy stretch, and the last ends at the time limit."""
    schedule = generate(1, time_limit=23.0, interval=4.0)
    assert [(w.start, w.stop) for w in schedule.windows] == [(3.0, 7.0), (11.0, 15.0), (19.0, 23.0)]
    odd = generate(1, time_limit=15.0, interval=5.0)  # was one window [5, 10], then 5 s of health
    assert [(w.start, w.stop) for w in odd.windows] == [(10.0, 15.0)]


def test_kinds_are_drawn_only_from_the_list_and_all_expands():
    """Windows use only the listed kinds, and 'all' covers every fault kind over a long run."""
    only = generate(3, kinds=["crash", "drop"], time_limit=200.0)
    assert {w.kind for w in only.windows} == {"crash", "drop"}
    every = generate(3, time_limit=1000.0)
    assert {w.kind for w in every.windows} == set(FAULT_KINDS)
    assert expand_kinds(["pause", "all"]) == list(FAULT_KINDS)


def test_parameters_are_sensible():
    """Drawn parameters: minority crashes and pauses, skews of a few seconds, probabilities in (0, 1)."""
    for window in generate(9, time_limit=1000.0).windows:
        params = window.params
        if window.kind in ("crash", "pause"):
            assert 1 <= len(params["nodes"]) <= 2 and set(params["nodes"]) <= set(NODES)
        elif window.kind == "clock-skew":
            assert params["offsets"] and all(1.0 <= abs(v) <= 5.0 for v in params["offsets"].values())
        elif window.kind in ("drop", "duplicate", "reorder"):
            assert 0.0 < params["probability"] < 1.0
        elif window.kind == "partition":
            assert params["kind"] == "majorities-ring"


def test_json_round_trip():
    """A schedule survives to_json, a JSON encode/decode, and from_json unchanged."""
    schedule = generate(5)
    assert FaultSchedule.from_json(json.loads(json.dumps(schedule.to_json()))) == schedule


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("interval"), "missing field 'interval'"),
        (lambda d: d["windows"][0].update(kind="meteor"), r"windows\[0\]\.kind: unknown fault 'meteor'"),
        (lambda d: d["windows"][1].update(start=-1), r"windows\[1\]\.start"),
        (lambda d: d["windows"][0].update(kind="drop", params={"probability": 2}), r"windows\[0\]\.params: drop must be a probability"),
        (lambda d: d["windows"][0].update(kind="crash", params={"nodes": ["n9"]}), r"windows\[0\]\.params: 'nodes'"),
        (lambda d: d.update(time_limit="soon"), "time_limit must be a positive number"),
    ],
)
def test_bad_schedule_data_names_the_field(mutate, message):
    """from_json rejects malformed schedules with a message naming the offending field."""
    data = generate(5).to_json()
    mutate(data)
    with pytest.raises(ValueError, match=message):
        FaultSchedule.from_json(data)


def test_bad_generate_arguments_are_rejected():
    """generate rejects unknown fault kinds, unknown partition kinds and non-positive intervals."""
    with pytest.raises(ValueError, match="unknown fault kind 'flood'"):
        generate(1, kinds=["flood"])
    with pytest.raises(ValueError, match="interval must be a positive"):
        generate(1, interval=0)
    with pytest.raises(ValueError, match="unknown partition kind"):
        FaultSchedule.generate(random.Random(0), ["all"], NODES, 10, 1, "quarters", crash_targets="minority")


class FakeCluster:
    """A ClusterControl that logs every call with trio's time."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, str, float | None]] = []

    async def crash(self, node_id: str) -> None:
        self.calls.append((trio.current_time(), "crash", node_id, None))

    async def restart(self, node_id: str) -> None:
        self.calls.append((trio.current_time(), "restart", node_id, None))

    async def pause(self, node_id: str) -> None:
        self.calls.append((trio.current_time(), "pause", node_id, None))

    async def resume(self, node_id: str) -> None:
        self.calls.append((trio.current_time(), "resume", node_id, None))

    def set_clock_offset(self, node_id: str, seconds: float) -> None:
        self.calls.append((trio.current_time(), "skew", node_id, seconds))


def make_network() -> FaultyNetwork:
    memory = MemoryNetwork()
    return FaultyNetwork(random.Random(0), {n: memory.endpoint().address for n in NODES})


async def test_run_schedule_records_matching_events_ending_in_heal(autojump_clock):
    """Running a schedule records start/stop pairs at the window times, undoes each fault, and ends in heal."""
    schedule = generate(11, time_limit=200.0)
    network, cluster = make_network(), FakeCluster()
    events: list[tuple[float, str, object]] = []
    start = trio.current_time()
    observed: dict[float, bool] = {}

    def record(f: str, value: object) -> None:
        events.append((trio.current_time() - start, f, value))
        observed[trio.current_time() - start] = network.partitioned or not network.faults_for("n1", "n2").healthy

    await run_schedule(schedule, network, cluster, record)

    assert events[-1] == (200.0, "heal", None)
    pairs = list(zip(events[:-1:2], events[1:-1:2], strict=True))
    assert len(pairs) == len(schedule.windows)
    for window, ((t0, f0, v0), (t1, f1, v1)) in zip(schedule.windows, pairs, strict=True):
        assert (t0, f0, v0) == (window.start, f"{window.kind}-start", window.params)
        assert (t1, f1, v1) == (window.stop, f"{window.kind}-stop", None)
        network_fault = window.kind in ("partition", "drop", "delay", "duplicate", "reorder")
        assert observed[t0] == network_fault and observed[t1] is False
    crashes = [c for c in cluster.calls if c[1] == "crash"]
    restarts = [c for c in cluster.calls if c[1] == "restart"]
    assert sorted(c[2] for c in crashes) == sorted(c[2] for c in restarts) and crashes
    skews = [c for c in cluster.calls if c[1] == "skew"]
    assert any(c[3] != 0 for c in skews) and all(
        any(later[2] == c[2] and later[3] == 0 and later[0] > c[0] for later in skews) for c in skews if c[3]
    )
    assert not network.partitioned and network.faults_for("n1", "n2").healthy


async def test_cancelled_schedule_still_undoes_and_heals(autojump_clock):
    """Cancelling mid-window undoes the active fault, records its stop, and records heal."""
    schedule = FaultSchedule(
        tuple(NODES), 100.0, 10.0, (ScheduledFault("crash", 10.0, 20.0, {"nodes": ["n2", "n4"]}),)
    )
    network, cluster = make_network(), FakeCluster()
    events: list[str] = []
    with trio.move_on_after(15.0):
        await run_schedule(schedule, network, cluster, lambda f, v: events.append(f))
    assert events == ["crash-start", "crash-stop", "heal"]
    assert [(c[1], c[2]) for c in cluster.calls] == [
        ("crash", "n2"), ("crash", "n4"), ("restart", "n4"), ("restart", "n2"),
    ]


async def test_in_process_control_pauses_through_network_and_skews_clocks(autojump_clock):
    """InProcessControl pauses via the FaultyNetwork and skews via the node's SkewableClock."""
    network = make_network()
    clocks = {n: SkewableClock(trio.current_time) for n in NODES}
    crashed: list[str] = []

    async def crash(node: str) -> None:
        crashed.append(node)

    control = InProcessControl(network, clocks, crash, crash)
    schedule = FaultSchedule(
        tuple(NODES),
        30.0,
        10.0,
        (
            ScheduledFault("pause", 5.0, 10.0, {"nodes": ["n3"]}),
            ScheduledFault("clock-skew", 15.0, 20.0, {"offsets": {"n1": 3.5, "n5": -2.0}}),
        ),
    )
    seen: dict[str, object] = {}

    def record(f: str, value: object) -> None:
        seen[f] = (network.paused_nodes, {n: c.offset for n, c in clocks.items() if c.offset})

    await run_schedule(schedule, network, control, record)
    assert seen["pause-start"] == (frozenset({"n3"}), {})
    assert seen["pause-stop"] == (frozenset(), {})
    assert seen["clock-skew-start"] == (frozenset(), {"n1": 3.5, "n5": -2.0})
    assert seen["heal"] == (frozenset(), {})
    with pytest.raises(ValueError, match="no clock for node 'n9'"):
        control.set_clock_offset("n9", 1.0)
