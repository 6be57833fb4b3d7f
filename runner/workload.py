"""The client workload: concurrent logical processes doing puts, gets and deletes at a rate.

Each worker is one logical process at a time. It picks an operation by the mix and a key by the
distribution, records the invocation, waits for the outcome, and records the completion as ``ok``,
``fail`` (definitely did not happen) or ``info`` (unknown). A process that got ``info`` never
invokes again, as in Jepsen: its operation may still take effect at any later time, so the worker
continues under a fresh process id. Every written value is unique (``p<process>-<n>``), so every
read can be traced to the write it saw.

Sizes (``--key-size``, ``--value-size``): a key is still ``k<i>`` and a value still starts with
``p<process>-<n>``; each is padded with deterministic ASCII filler (after a ``-`` or ``_``, which
no digit run can continue into) to a length drawn per key index or per write, so names stay unique.
A key's length is fixed for the run (drawn once per index from ``<seed>/key-size``); a value's is
drawn per write from ``<seed>/value-size``, apart from the workload's own generator, so the
default workload's random stream (and every recorded simulated history) is unchanged.

``--rate max`` makes the clients closed-loop: each starts its next operation as soon as the last
one answered.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from array import array
from collections.abc import Awaitable, Callable

import attrs
import trio

from minikeydb.client import Client, Result
from minikeydb.messaging import clock_reader, coalesced

from .options import SizeSpec
from .recorder import HistoryRecorder

FILLER = ("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 600)[: 32 * 1024]
"""Deterministic padding: ASCII, so a character is one byte encoded, as the store counts sizes."""


def padded(base: str, separator: str, length: int) -> str:
    """``base`` padded to ``length`` characters after ``separator`` (``base`` alone when it is as long)."""
    room = length - len(base) - 1
    return base if room < 0 else base + separator + FILLER[:room]


_FS = ("put", "get", "delete")
_KINDS = {"ok": "ok", "fail": "fail"}
"""History event type per client outcome (anything else: info)."""

class KeySpace:
    """Key names by index, ``k<i>``, padded to a length drawn once per index; names are made on demand.

    Only the lengths are kept (two bytes a key), so 100,000 keys of 1 KiB cost 200 KB, not 100 MB.
    """

    def __init__(self, count: int, size: SizeSpec | None = None, rng: random.Random | None = None) -> None:
        self.count = count
        self._lengths: array[int] | None = None
        if size is not None:
            draw = rng or random.Random(0)
            self._lengths = array("H", (size.draw(draw) for _ in range(count)))

    def __len__(self) -> int:
        return self.count

    def name(self, index: int) -> str:
        base = f"k{index}"
        return base if self._lengths is None else padded(base, "-", self._lengths[index])

    def names(self, indices: list[int] | None = None) -> list[str]:
        return [self.name(i) for i in (range(self.count) if indices is None else indices)]


class KeyChooser:
    """Uniform or Zipf (s = 1) choice of key indices, from the run's random generator.

    Uniform needs no table (one draw, the same draw and result a cumulative table of ones gave);
    Zipf bisects a cumulative table of ``count`` floats: microseconds per choice at 100,000 keys.
    """

    def __init__(self, count: int, dist: str, rng: random.Random) -> None:
        self.count = count
        self.rng = rng
        self._cumulative: list[float] | None = None
        if dist == "zipf":
            self._cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(count)))

    def choose(self) -> int:
        if self._cumulative is None:
            return min(math.floor(self.rng.random() * self.count), self.count - 1)
        point = self.rng.random() * self._cumulative[-1]
        return min(bisect.bisect_right(self._cumulative, point), self.count - 1)


@attrs.frozen
class Pace:
    """How a worker waits for its next operation.

    In simulation datagrams arrive on a grid of ``tick``s, and every distinct wake-up time costs
    the autojumping clock a scheduler pass: starting operations on the same grid keeps a client's
    think time from being a wake-up of its own, and the network's ``sleep_until`` wakes it as
    it wakes receivers, without a cancel scope.
    """

    tick: float = 0.0
    sleep_until: Callable[[float], Awaitable[None]] = trio.sleep_until


REAL_TIME = Pace()


class Workload:
    """Drives ``concurrency`` workers against ``client`` until cancelled."""

    def __init__(
        self,
        client: Client,
        recorder: HistoryRecorder,
        rng: random.Random,
        *,
        nodes: list[str],
        keys: KeySpace,
        key_dist: str,
        mix: tuple[int, int, int],
        rate: float,
        concurrency: int,
        pace: Pace = REAL_TIME,
        value_size: SizeSpec | None = None,
        value_rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.rng = rng
        self.nodes = nodes
        self.keys = keys
        self.chooser = KeyChooser(len(keys), key_dist, rng)
        self.touched: set[int] = set()
        """Indices of keys some operation was invoked on: the final reads read these (bounded by --keys)."""
        self.value_size = value_size
        self.value_rng = value_rng or random.Random(0)
        self.mix = mix
        self.interval = 0.0 if math.isinf(rate) else concurrency / rate
        self.concurrency = concurrency
        self.pace = pace
        self._next_process = itertools.count(concurrency)
        self._op_counts: dict[int, int] = {}
        self._stopping = False
        self._in_flight = 0
        self._idle = trio.Event()
        self._idle.set()
        self._now: Callable[[], float] = trio.current_time
        self._cum_mix: tuple[tuple[int, int, int], list[int], float] | None = None

    def new_process(self) -> int:
        return next(self._next_process)

    async def run(self) -> None:
        self._now = clock_reader()  # trio.current_time's value, read three times an operation
        async with trio.open_nursery() as nursery:
            for process in range(self.concurrency):
                nursery.start_soon(self._worker, process)

    def stop(self) -> None:
        """Issue no new operations; those in flight still complete (see ``drained``)."""
        self._stopping = True

    async def drained(self) -> None:
        """Wait until no operation is in flight, so none is left without its completion."""
        await self._idle.wait()

    async def _worker(self, process: int) -> None:
        # Stagger the start so workers do not fire in lockstep.
        await self._think(self.rng.uniform(0, self.interval))
        while not self._stopping:
            started = self._now()
            self._in_flight += 1
            self._idle = trio.Event() if self._in_flight == 1 else self._idle
            try:
                process = await self.operate(process)
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()
            spent = self._now() - started
            await self._think(max(0.0, self.interval * self.rng.uniform(0.5, 1.5) - spent))

    async def _think(self, delay: float) -> None:
        """Wait ``delay`` before the next operation; with a ``tick``, until the next whole tick after it."""
        when = self._now() + delay
        if self.pace.tick > 0:
            when = coalesced(when, self.pace.tick)
        await self.pace.sleep_until(when)

    def _choose_f(self) -> str:
        # rng.choices(_FS, weights=mix)[0], drawn as random.Random.choices draws it (one random() times
        # the weights' total, bisected among the cumulative weights), without summing the weights, its
        # checks and its list per operation: the same draw from the same generator state.
        cum_mix = self._cum_mix
        if cum_mix is None or cum_mix[0] is not self.mix:
            cum = list(itertools.accumulate(self.mix))
            total = cum[-1] + 0.0 if cum else 0.0
            if len(cum) != len(_FS) or not 0.0 < total < math.inf:
                return self.rng.choices(_FS, cum_weights=cum)[0]  # (weights it refuses: its own error)
            cum_mix = self._cum_mix = (self.mix, cum, total)
        return _FS[bisect.bisect(cum_mix[1], self.rng.random() * cum_mix[2], 0, 2)]

    def value_for(self, process: int, n: int) -> str:
        """The unique value of write ``n`` by ``process``, padded to a drawn length if sizes are set."""
        base = f"p{process}-{n}"
        return base if self.value_size is None else padded(base, "_", self.value_size.draw(self.value_rng))

    def touched_keys(self) -> list[str]:
        """Every key an operation was invoked on, in index order."""
        return self.keys.names(sorted(self.touched))

    async def operate(self, process: int) -> int:
        """One operation by ``process``; returns the process id to continue with."""
        f = self._choose_f()
        index = self.chooser.choose()
        self.touched.add(index)
        key = self.keys.name(index)
        node = self.rng.choice(self.nodes)
        n = self._op_counts.get(process, 0) + 1
        self._op_counts[process] = n
        value = self.value_for(process, n) if f == "put" else None
        self.recorder.operation(process, "invoke", f, key, value, node)
        if f == "put":
            assert value is not None
            result = await self.client.put(key, value, node=node)
        elif f == "get":
            result = await self.client.get(key, node=node)
        else:
            result = await self.client.delete(key, node=node)
        self.record_completion(process, f, key, value, node, result)
        if result.outcome == "unknown":
            self._op_counts.pop(process, None)
            return self.new_process()
        return process

    def record_completion(
        self, process: int, f: str, key: str, value: str | None, node: str, result: Result, final: bool | None = None
    ) -> None:
        kind = _KINDS.get(result.outcome, "info")
        read = result.value if f == "get" else value
        meta = {"stamp": list(result.stamp)} if result.stamp is not None and kind == "ok" else None
        self.recorder.operation(
            process, kind, f, key, read if kind == "ok" else value, node,
            result.error if kind != "ok" else None, final, meta,
        )
