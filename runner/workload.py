"""The client workload: concurrent logical processes doing puts, gets and deletes at a rate.

Each worker is one logical process at a time. It picks an operation by the mix and a key by the
distribution, records the invocation, waits for the outcome, and records the completion as ``ok``,
``fail`` (definitely did not happen) or ``info`` (unknown). A process that got ``info`` never
invokes again, as in Jepsen: its operation may still take effect at any later time, so the worker
continues under a fresh process id. Every written value is unique (``p<process>-<n>``), so every
read can be traced to the write it saw.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Awaitable, Callable

import attrs
import trio

from minikeydb.client import Client, Result
from minikeydb.messaging import coalesced

from .recorder import HistoryRecorder


def key_names(count: int) -> list[str]:
    return [f"k{i}" for i in range(count)]


class KeyChooser:
    """Uniform or Zipf (s = 1) choice of keys, from the run's random generator."""

    def __init__(self, keys: list[str], dist: str, rng: random.Random) -> None:
        self.keys = keys
        self.rng = rng
        weights = [1.0 / (rank + 1) for rank in range(len(keys))] if dist == "zipf" else [1.0] * len(keys)
        self._cumulative = list(itertools.accumulate(weights))

    def choose(self) -> str:
        point = self.rng.random() * self._cumulative[-1]
        return self.keys[min(bisect.bisect_right(self._cumulative, point), len(self.keys) - 1)]


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
        keys: list[str],
        key_dist: str,
        mix: tuple[int, int, int],
        rate: float,
        concurrency: int,
        pace: Pace = REAL_TIME,
    ) -> None:
        self.client = client
        self.recorder = recorder
        self.rng = rng
        self.nodes = nodes
        self.chooser = KeyChooser(keys, key_dist, rng)
        self.mix = mix
        self.interval = concurrency / rate
        self.concurrency = concurrency
        self.pace = pace
        self._next_process = itertools.count(concurrency)
        self._op_counts: dict[int, int] = {}
        self._stopping = False
        self._in_flight = 0
        self._idle = trio.Event()
        self._idle.set()

    def new_process(self) -> int:
        return next(self._next_process)

    async def run(self) -> None:
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
            started = trio.current_time()
            self._in_flight += 1
            self._idle = trio.Event() if self._in_flight == 1 else self._idle
            try:
                process = await self.operate(process)
            finally:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.set()
            spent = trio.current_time() - started
            await self._think(max(0.0, self.interval * self.rng.uniform(0.5, 1.5) - spent))

    async def _think(self, delay: float) -> None:
        """Wait ``delay`` before the next operation; with a ``tick``, until the next whole tick after it."""
        when = trio.current_time() + delay
        if self.pace.tick > 0:
            when = coalesced(when, self.pace.tick)
        await self.pace.sleep_until(when)

    def _choose_f(self) -> str:
        return self.rng.choices(("put", "get", "delete"), weights=self.mix)[0]

    async def operate(self, process: int) -> int:
        """One operation by ``process``; returns the process id to continue with."""
        f = self._choose_f()
        key = self.chooser.choose()
        node = self.rng.choice(self.nodes)
        n = self._op_counts.get(process, 0) + 1
        self._op_counts[process] = n
        value = f"p{process}-{n}" if f == "put" else None
        self.recorder.record(process=process, type="invoke", f=f, key=key, value=value, node=node)
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
        kind = {"ok": "ok", "fail": "fail"}.get(result.outcome, "info")
        read = result.value if f == "get" else value
        meta = {"stamp": list(result.stamp)} if result.stamp is not None and kind == "ok" else None
        self.recorder.record(
            process=process, type=kind, f=f, key=key, value=read if kind == "ok" else value,
            node=node, error=result.error if kind != "ok" else None, final=final, meta=meta,
        )
