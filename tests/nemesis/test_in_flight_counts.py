"""A simulated run of the store whose delayed datagrams a partition cuts in flight counts each datagram once."""

from __future__ import annotations

from pathlib import Path

import pytest

from nemesis.link_faults import DelayDistribution, FaultCounters, FaultModel
from nemesis.schedule import FaultSchedule, ScheduledFault
from runner.options import RunOptions
from runner.run import run

NODES = ("n1", "n2", "n3")


def test_a_datagram_cut_in_flight_by_a_partition_is_counted_once(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Sim run, 0.3 s delays on every link, then a partition starting while datagrams are delayed: every
    node-to-node datagram the fault model decided is passed, dropped or partitioned, exactly one of them."""
    decided: list[int] = []
    cut: list[bool] = []
    models: list[FaultCounters] = []
    decide_why, admit_due = FaultModel.decide_why, FaultModel.admit_due

    def counting_decide(self: FaultModel, src: str, dst: str) -> tuple[list[float], str | None]:
        if not models or models[-1] is not self.counters:
            models.append(self.counters)
        decided.append(1)
        return decide_why(self, src, dst)

    def watching_admit(self: FaultModel, *args: object) -> bool:
        allowed = admit_due(self, *args)  # type: ignore[arg-type]
        cut.append(not allowed)
        return allowed

    monkeypatch.setattr(FaultModel, "decide_why", counting_decide)
    monkeypatch.setattr(FaultModel, "admit_due", watching_admit)
    delay = {"delay": DelayDistribution.constant(0.3).to_json()}
    partition = {"kind": "halves", "groups": [["n1"], ["n2", "n3"]]}
    schedule = FaultSchedule(nodes=NODES, time_limit=4.0, interval=1.0, windows=(
        ScheduledFault("delay", 0.5, 2.0, delay),  # what is sent in its last 0.3 s is still in flight at 2.0
        ScheduledFault("partition", 2.0, 3.0, partition),
    ))
    options = RunOptions(mode="sim", nodes=3, nemesis=("partition", "delay"), time_limit=4.0, rate=100.0, seed=1,
                         out=str(tmp_path), journal="off", quiesce=1.0)
    result = run(options, ["test"], schedule=schedule, quiet=True, report=False)
    assert result.results.get("valid") is not None
    assert len(models) == 1, "one fault model per run"
    counters = models[0]
    assert any(cut), "no delayed datagram was cut in flight: the schedule proves nothing"
    assert counters.partitioned > sum(cut) > 0
    assert counters.passed + counters.dropped + counters.partitioned == len(decided), counters
