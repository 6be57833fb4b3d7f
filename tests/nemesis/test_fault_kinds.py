"""Each fault kind's object: what it draws it accepts, what it rejects it names, and the registry is the schedule's."""

from __future__ import annotations

import random

import pytest

from nemesis.faults import FAULT_KINDS, KINDS, DrawSettings, FaultKind
from nemesis.schedule import FaultSchedule, ScheduledFault, check_recorded_schedule, expand_kinds

NODES = ["n1", "n2", "n3", "n4", "n5"]


def test_the_registry_is_every_kind_a_schedule_offers_in_its_recorded_order():
    """KINDS is the list the schedule draws from ('all'), in the order recorded runs were drawn in."""
    assert FAULT_KINDS == ("partition", "drop", "delay", "duplicate", "reorder", "crash", "pause", "clock-skew")
    assert expand_kinds(["all"]) == list(KINDS)
    for name, kind in KINDS.items():
        assert isinstance(kind, FaultKind) and kind.name == name and kind.description


@pytest.mark.parametrize("name", FAULT_KINDS)
@pytest.mark.parametrize("seed", range(20))
def test_every_kind_accepts_what_it_draws_and_survives_losing_a_node(name: str, seed: int):
    """Drawn parameters pass the kind's own check, and removing a node leaves checkable parameters or None."""
    kind = KINDS[name]
    settings = DrawSettings("bridge" if seed % 2 else "random-halves", "mixed")
    params = kind.draw(random.Random(seed), NODES, settings)
    kind.check(params, NODES)
    rename = {n: f"n{i + 1}" for i, n in enumerate(n for n in NODES if n != "n2")}
    smaller = kind.without_node(params, "n2", rename)
    if smaller is not None:
        kind.check(smaller, list(rename.values()))


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("drop", {"probability": 2}, "probability"),
        ("delay", {}, "delay"),
        ("crash", {"nodes": ["n9"]}, "'nodes' must list schedule nodes"),
        ("clock-skew", {"offsets": {"n1": "soon"}}, "'offsets' must map"),
        ("partition", {"kind": "halves", "groups": "n1"}, "field 'groups'"),
    ],
)
def test_a_bad_recorded_window_is_one_error_naming_its_field(name: str, params: dict, message: str):
    """A recorded window the kind could not carry out is refused with the window's path and the reason."""
    schedule = FaultSchedule(tuple(NODES), 10.0, 2.0, (ScheduledFault(name, 1.0, 3.0, params),))
    with pytest.raises(ValueError, match=r"schedule\.windows\[0\]\.params: .*" + message):
        check_recorded_schedule(schedule.to_json(), NODES, 10.0)


def test_check_recorded_schedule_checks_it_against_the_run():
    """A sound schedule comes back equal; other nodes or another time limit are refused, naming the field."""
    schedule = FaultSchedule.generate(random.Random(3), ["all"], NODES, 40.0, 2.0, crash_targets="all")
    assert check_recorded_schedule(schedule.to_json(), NODES, 40.0) == schedule
    assert check_recorded_schedule(schedule, NODES, 40.0) == schedule
    with pytest.raises(ValueError, match=r"run\.json schedule\.nodes \['n1'.*are not the run's nodes \['n1', 'n2', 'n3'\]"):
        check_recorded_schedule(schedule, NODES[:3], 40.0, where="run.json schedule")
    with pytest.raises(ValueError, match=r"schedule\.time_limit 40 s is not the run's time limit 30 s"):
        check_recorded_schedule(schedule, NODES, 30.0)
    with pytest.raises(ValueError, match=r"schedule\.windows\[0\]\.kind: unknown fault 'flood'"):
        check_recorded_schedule({**schedule.to_json(), "windows": [{"kind": "flood", "start": 1, "stop": 2, "params": {}}]},
                                NODES, 40.0)
