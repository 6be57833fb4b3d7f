"""A delayed datagram whose sender crashed before it came due is counted in exactly one fate (lost_in_flight)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemesis.link_faults import DelayDistribution, FaultCounters, FaultModel
from nemesis.schedule import FaultSchedule, ScheduledFault
from runner.options import RunOptions
from runner.run import run

NODES = ("n1", "n2", "n3")


def test_a_datagram_lost_in_flight_to_a_crash_is_counted_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sim run, 0.3 s delays then a crash of every node while datagrams are delayed: each decided datagram
    is in exactly one of passed, dropped, partitioned and lost_in_flight (lost_in_flight ones are not passed)."""
    decided: list[int] = []
    models: list[FaultCounters] = []
    decide_why = FaultModel.decide_why

    def counting_decide(self: FaultModel, src: str, dst: str) -> tuple[list[float], str | None]:
        if not models or models[-1] is not self.counters:
            models.append(self.counters)
        decided.append(1)
        return decide_why(self, src, dst)

    monkeypatch.setattr(FaultModel, "decide_why", counting_decide)
    delay = {"delay": DelayDistribution.constant(0.3).to_json()}
    schedule = FaultSchedule(nodes=NODES, time_limit=4.0, interval=1.0, windows=(
        ScheduledFault("delay", 0.5, 2.0, delay),  # what is sent in its last 0.3 s is still in flight at 2.0
        ScheduledFault("crash", 2.0, 3.0, {"nodes": list(NODES)}),
    ))
    options = RunOptions(mode="sim", nodes=3, nemesis=("crash", "delay"), time_limit=4.0, rate=100.0, seed=1,
                         out=str(tmp_path), journal="off", quiesce=1.0)
    run(options, ["test"], schedule=schedule, quiet=True, report=False)
    assert len(models) == 1
    c = models[0]
    assert c.lost_in_flight > 0, "no delayed datagram died with its sender: the schedule proves nothing"
    assert c.passed + c.dropped + c.partitioned + c.lost_in_flight == len(decided), (c, len(decided))
