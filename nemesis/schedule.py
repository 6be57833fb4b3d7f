"""Fault schedules: which fault strikes when, as plain data, and the task that carries one out.

A schedule alternates healthy and fault windows of ``interval`` seconds, starting healthy, up to
the run's time limit. Every choice (which fault, which nodes, which probability, which partition)
is drawn from the run's ``random.Random`` when the schedule is generated, not while it runs, so the
schedule is a value: it goes into run.json, and a replay hands the same value back to
``run_schedule`` and gets the same faults at the same (trio) times.

``run_schedule`` applies each window through two narrow interfaces: the network's link-fault and
partition controls (``NetworkFaultControl``: a ``FaultyNetwork`` in process, or the ``FaultModel``
behind a ``UdpRouter``) and the cluster's process controls (``ClusterControl``: crash, restart,
pause, resume, clock offset), which the harness implements. Every change is recorded as a nemesis
event, and however the run ends (time limit, cancellation, error), everything is undone and
``heal`` is recorded last.

What a kind draws, accepts and does is its object's business (``nemesis.faults.KINDS``); this
module only knows windows, their order and their timing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs
import trio

from nemesis.faults import (
    CRASH_TARGETS,
    FAULT_KINDS,
    KINDS,
    ClusterControl,
    DrawSettings,
    NetworkFaultControl,
    Undo,
)
from nemesis.topology import PARTITION_KINDS

Recorder = Callable[[str, object], None]
"""``record(f, value)``: appends one nemesis event (``f`` like ``"partition-start"``) to the history."""


@attrs.frozen
class ScheduledFault:
    """One fault, active from ``start`` to ``stop`` seconds after the schedule starts."""

    kind: str
    start: float
    stop: float
    params: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "start": self.start, "stop": self.stop, "params": self.params}


@attrs.frozen
class FaultSchedule:
    """A whole run's faults: plain data, generated from a seed, recorded, and replayable."""

    nodes: tuple[str, ...]
    time_limit: float
    interval: float
    windows: tuple[ScheduledFault, ...]

    @classmethod
    def generate(
        cls,
        rng: random.Random,
        kinds: Sequence[str],
        nodes: Sequence[str],
        time_limit: float,
        interval: float,
        partition_kind: str = "random-halves",
        *,
        crash_targets: str,
    ) -> FaultSchedule:
        """Fault windows of ``interval`` s with ``interval`` s of health between them, the last one
        ending at ``time_limit``, drawn from ``rng``.

        The last window ends when the load does, so the final heal comes right before the
        final reads: a run whose last ``interval`` was healthy let later writes overwrite the
        damage a fault did (seeded bugs went unseen at --time-limit 15, 25, 35 with 5 s windows,
        and were caught at 20, 30, 40). The first window starts at least ``min(interval / 2, 1 s)`` in.

        With several kinds, the windows go round-robin through them in an order shuffled by
        ``rng`` for every round, so a run with at least as many windows as kinds tries every kind
        (``all`` in 30 s at 5 s intervals has 3 windows: ``left_out`` names the 5 kinds it could
        not try). One kind draws exactly as before. ``crash_targets`` says which nodes a crash
        window takes down (``CRASH_TARGETS``; no default here: a run's is ``RunOptions.crash_targets``);
        pause windows always take a minority.
        """
        expanded = expand_kinds(kinds)
        node_list = list(nodes)
        if not node_list or any(not isinstance(n, str) or not n for n in node_list):
            raise ValueError(f"nodes must be a non-empty list of node ids, got {nodes!r}")
        if len(set(node_list)) != len(node_list):
            raise ValueError(f"node ids must be distinct, got {node_list!r}")
        _check_positive("time_limit", time_limit)
        _check_positive("interval", interval)
        if crash_targets not in CRASH_TARGETS:
            raise ValueError(f"unknown crash targets {crash_targets!r}; valid: {', '.join(CRASH_TARGETS)}")
        if partition_kind not in PARTITION_KINDS:
            raise ValueError(
                f"unknown partition kind {partition_kind!r}; valid kinds: {', '.join(PARTITION_KINDS)}"
            )
        settings = DrawSettings(partition_kind, crash_targets)
        windows: list[ScheduledFault] = []
        count = fault_windows(time_limit, interval)
        start = time_limit - (2 * count - 1) * interval
        cycle: list[str] = []
        for _ in range(count):
            if len(expanded) == 1:
                kind = rng.choice(expanded)  # the draw one-kind schedules always made
            else:
                if not cycle:
                    cycle = list(expanded)
                    rng.shuffle(cycle)
                    if windows and cycle[-1] == windows[-1].kind:  # no kind twice in a row across rounds
                        cycle[0], cycle[-1] = cycle[-1], cycle[0]
                kind = cycle.pop()
            params = KINDS[kind].draw(rng, node_list, settings)
            windows.append(ScheduledFault(kind, _round(start), _round(min(start + interval, time_limit)), params))
            start += 2 * interval
        return cls(tuple(node_list), time_limit, interval, tuple(windows))

    def to_json(self) -> dict[str, Any]:
        """Plain data for run.json."""
        return {
            "nodes": list(self.nodes),
            "time_limit": self.time_limit,
            "interval": self.interval,
            "windows": [w.to_json() for w in self.windows],
        }

    @classmethod
    def from_json(cls, data: object, where: str = "schedule") -> FaultSchedule:
        """Rebuild from ``to_json`` output; bad data raises ValueError naming the field."""
        if not isinstance(data, dict):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        for field in ("nodes", "time_limit", "interval", "windows"):
            if field not in data:
                raise ValueError(f"{where}: missing field {field!r}")
        nodes = data["nodes"]
        if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            raise ValueError(f"{where}.nodes: expected a list of node ids, got {nodes!r}")
        _check_positive(f"{where}.time_limit", data["time_limit"])
        _check_positive(f"{where}.interval", data["interval"])
        if not isinstance(data["windows"], list):
            raise ValueError(f"{where}.windows: expected a list")
        windows = []
        previous_stop = 0.0
        for i, raw in enumerate(data["windows"]):
            at = f"{where}.windows[{i}]"
            if not isinstance(raw, dict):
                raise ValueError(f"{at}: expected an object, got {raw!r}")
            kind, start, stop, params = (raw.get(k) for k in ("kind", "start", "stop", "params"))
            if not isinstance(kind, str) or kind not in KINDS:
                raise ValueError(f"{at}.kind: unknown fault {kind!r}; valid: {', '.join(FAULT_KINDS)}")
            for name, value in (("start", start), ("stop", stop)):
                if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                    raise ValueError(f"{at}.{name}: expected seconds >= 0, got {value!r}")
            assert isinstance(start, int | float) and isinstance(stop, int | float)
            if stop < start or start < previous_stop:
                raise ValueError(f"{at}: windows must be ordered and not overlap (start {start}, stop {stop})")
            if not isinstance(params, dict):
                raise ValueError(f"{at}.params: expected an object, got {params!r}")
            _check_params(kind, params, nodes, f"{at}.params")
            previous_stop = stop
            windows.append(ScheduledFault(kind, start, stop, params))
        return cls(tuple(nodes), data["time_limit"], data["interval"], tuple(windows))


def check_recorded_schedule(
    schedule: FaultSchedule | object, nodes: Sequence[str], time_limit: float, where: str = "schedule"
) -> FaultSchedule:
    """The schedule a run can carry out: ``schedule`` (a ``FaultSchedule``, or run.json's plain data)
    fully checked, and checked against the run's ``nodes`` and ``time_limit``.

    The one check of a recorded, shrunk or hand-made schedule (``replay``, ``explore``): anything
    wrong raises one ValueError naming the field under ``where``.
    """
    data = schedule.to_json() if isinstance(schedule, FaultSchedule) else schedule
    checked = FaultSchedule.from_json(data, where)
    if checked.nodes != tuple(nodes):
        raise ValueError(f"{where}.nodes {list(checked.nodes)} are not the run's nodes {list(nodes)}")
    if abs(checked.time_limit - time_limit) > 1e-9:
        raise ValueError(f"{where}.time_limit {checked.time_limit:g} s is not the run's time limit {time_limit:g} s")
    return checked


def fault_windows(time_limit: float, interval: float) -> int:
    """How many fault windows ``generate`` fits: every ``2 interval`` back from ``time_limit``, the
    first starting at least ``min(interval / 2, 1 s)`` in."""
    if time_limit <= interval:
        return 0
    count = max(0, math.ceil((time_limit - interval) / (2 * interval)))
    while count > 0 and time_limit - (2 * count - 1) * interval < min(interval / 2, 1.0):
        count -= 1
    return count


def _round(seconds: float) -> float:
    """Window edges to the microsecond, so that float steps leave no 9.999999999 in run.json."""
    return round(seconds, 6)


def too_short(kinds: Sequence[str], time_limit: float, interval: float) -> str | None:
    """Why a run cannot try every kind of ``kinds`` (too few fault windows), or None when it can."""
    wanted = expand_kinds(kinds)
    room = fault_windows(time_limit, interval)
    if room >= len(wanted):
        return None
    need_interval = math.floor(time_limit / (2 * len(wanted)) * 100) / 100
    return (
        f"{time_limit:g} s at --fault-interval {interval:g} has room for {room} fault window"
        f"{'s' if room != 1 else ''}, one kind each, and {len(wanted)} kinds were asked for (every kind needs "
        f"--time-limit {2 * len(wanted) * interval:g} or --fault-interval {need_interval:g})"
    )


def left_out(kinds: Sequence[str], tried: Iterable[str], time_limit: float, interval: float) -> str | None:
    """A sentence naming the kinds of ``kinds`` a run did not try and why, or None when it tried all.

    ``tried`` are the kinds whose windows started (the history's nemesis events).
    """
    tried = set(tried)
    missing = [k for k in expand_kinds(kinds) if k not in tried]
    if not missing:
        return None
    why = too_short(kinds, time_limit, interval) or "the run ended before their windows"
    return f"not tried: {', '.join(missing)}: {why}"


def expand_kinds(kinds: Sequence[str]) -> list[str]:
    """The fault kinds a kinds list stands for (``all`` expands), in a stable order, checked."""
    if isinstance(kinds, str) or not kinds:
        raise ValueError(f"kinds must be a non-empty list of fault names, got {kinds!r}")
    chosen: set[str] = set()
    for kind in kinds:
        if kind == "all":
            chosen.update(FAULT_KINDS)
        elif kind in FAULT_KINDS:
            chosen.add(kind)
        else:
            raise ValueError(f"unknown fault kind {kind!r}; valid: {', '.join(FAULT_KINDS)}, all")
    return [k for k in FAULT_KINDS if k in chosen]


def _check_positive(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")


def _check_params(kind: str, params: dict[str, Any], nodes: list[str], where: str) -> None:
    """Reject parameters the kind could not carry out, naming the field."""
    try:
        KINDS[kind].check(params, nodes)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{where}: {exc}") from None


async def run_schedule(
    schedule: FaultSchedule,
    network: NetworkFaultControl,
    control: ClusterControl,
    record: Recorder,
) -> None:
    """Carry out ``schedule`` on trio's clock from now, recording each change; always ends healed.

    Each start is recorded once the fault is in force and each stop once it is undone. Returns at
    ``time_limit`` after recording ``heal``; when cancelled or failing earlier, the active fault is
    still undone (shielded from the cancellation) and ``heal`` still recorded.
    """
    started_at = trio.current_time()
    undo: list[Undo] = []
    active: ScheduledFault | None = None
    try:
        for window in schedule.windows:
            await trio.sleep_until(started_at + window.start)
            await KINDS[window.kind].apply(window.params, schedule.nodes, network, control, undo)
            record(f"{window.kind}-start", window.params)
            active = window
            await trio.sleep_until(started_at + window.stop)
            await _undo_all(undo)
            active = None
            record(f"{window.kind}-stop", None)
        await trio.sleep_until(started_at + schedule.time_limit)
    finally:
        with trio.CancelScope(shield=True):
            await _undo_all(undo)
            if active is not None:
                record(f"{active.kind}-stop", None)
            network.heal()
            record("heal", None)


async def _undo_all(undo: list[Undo]) -> None:
    while undo:
        await undo.pop()()
