"""HistoryRecorder.operation, the workload's per-operation fast path, against record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from runner.recorder import HistoryRecorder

EVENTS: list[dict[str, Any]] = [
    dict(process=0, type="invoke", f="put", key="k1", value="p0-1", node="n1"),
    dict(process=0, type="ok", f="put", key="k1", value="p0-1", node="n1", error=None, final=None,
         meta={"stamp": [1, 0, "c"]}),
    dict(process=1, type="invoke", f="get", key="k2", value=None, node="n2"),
    dict(process=1, type="fail", f="get", key="k2", value=None, node="n2", error="unavailable", final=None, meta=None),
    dict(process=2, type="info", f="delete", key="k3", value=None, node="n3", error="timeout", final=True, meta=None),
    dict(process=3, type="ok", f="get", key="k4", value="x", node="n1", error=None, final=False, meta=None),
    dict(process=4, type="ok", f="get", key="k4", value=2**70, node="n1", error=None, final=None, meta=None),
    dict(process=None, type="invoke", f="get", key="k5", value=None, node="n1"),
    dict(process="nemesis", type="info", f="partition-start", key="k5", value=None, node="n1"),
]


def _write(path: Path, fast: bool) -> tuple[bytes, Any, list[int], list[int], list[int]]:
    async def main() -> tuple[bytes, Any, list[int], list[int], list[int]]:
        recorder = HistoryRecorder(path)
        indices = []
        for n, event in enumerate(EVENTS):
            if n == 2:
                recorder.start_load()
            await trio.sleep(7.0)  # completions fall into several windows
            if fast:
                fields = dict(event)
                indices.append(recorder.operation(fields.pop("process"), fields.pop("type"), **fields))
            else:
                indices.append(recorder.record(**event))
        recorder.close()
        return path.read_bytes(), dict(recorder.outcomes), recorder.window_completed, recorder.window_ok, indices

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_operation_writes_what_record_writes(tmp_path: Path) -> None:
    """operation gives the same history bytes, indices, outcome tallies and rate windows as record, Nones and all."""
    slow = _write(tmp_path / "record.jsonl", fast=False)
    fast = _write(tmp_path / "operation.jsonl", fast=True)
    assert fast == slow
    assert slow[1] == {"ok": 3, "fail": 1, "info": 1} and sum(slow[2]) == 3  # not the one before the load nor the final one
