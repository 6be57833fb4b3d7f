"""The workloads of the conflict modes (``--conflict siblings|crdt``, ``--workload set|counter``).

Each is a ``Workload`` whose ``operate`` issues another kind of operation; pacing, process ids
after ``info``, draining and the touched keys are ``Workload``'s. ``--mix`` keeps its three
weights, read in each workload's own order (``OPERATIONS``): a write, a read, a removal.
What they record is docs/HISTORY.md "Conflict modes and workloads":

- **siblings** (``--conflict siblings``, register): puts without a context add siblings; a get
  that returned values is resolved, ``RESOLVE_CHANCE`` of the time, by a put of a new value carrying
  that get's context (``context_from``: the index of its ``ok`` event); a delete first gets the key
  and deletes with that get's context.
- **set**: ``add`` of an element unique in the run (``p<process>-<n>``), ``remove`` of an element
  this workload added to that key (an ``add`` when it added none yet), ``read`` of the elements.
- **counter**: ``incr`` / ``decr`` by 1..``MAX_AMOUNT``, ``read`` of the count.

Every draw comes from the workload's generator, in the order operations start, so a simulated run
is a function of its seed as before.
"""

from __future__ import annotations

from typing import Any

from minikeydb.client import Result

from .workload import Workload

OPERATIONS = {"register": ("put", "get", "delete"), "set": ("add", "read", "remove"),
              "counter": ("incr", "read", "decr")}
"""The operations of each ``--workload``, in the order of ``--mix``'s weights."""
RESOLVE_CHANCE = 0.75
"""How often a siblings client resolves what a get returned by writing back with its context."""
MAX_AMOUNT = 5
"""Counter steps are 1..MAX_AMOUNT."""


def outcome_type(result: Result) -> str:
    return {"ok": "ok", "fail": "fail"}.get(result.outcome, "info")


class ConflictWorkload(Workload):
    """What the three conflict workloads share: the mix read in their own operation names, one recorder call."""

    kind = "register"

    def _choose_f(self) -> str:
        return self.rng.choices(OPERATIONS[self.kind], weights=self.mix)[0]

    def _start(self, process: int) -> tuple[str, str, str]:
        """The operation, key and node of ``process``'s next operation (the key noted as touched)."""
        f = self._choose_f()
        index = self.chooser.choose()
        self.touched.add(index)
        return f, self.keys.name(index), self.rng.choice(self.nodes)

    def _next_value(self, process: int) -> str:
        n = self._op_counts.get(process, 0) + 1
        self._op_counts[process] = n
        return self.value_for(process, n)

    def _complete(self, process: int, f: str, key: str, node: str, value: Any, result: Result,
                  **extra: Any) -> tuple[int, str]:
        """Record the completion of ``f``; returns its index and type. ``value``: what an ``ok`` records."""
        kind = outcome_type(result)
        index = self.recorder.record(process=process, type=kind, f=f, key=key, value=value, node=node,
                                     error=result.error if kind != "ok" else None, **extra)
        return index, kind

    def _after(self, process: int, kind: str) -> int:
        """The process to continue with: a fresh one after ``info`` (its operation may still happen)."""
        if kind == "info":
            self._op_counts.pop(process, None)
            return self.new_process()
        return process


class SiblingsWorkload(ConflictWorkload):
    """Registers under ``--conflict siblings``: sibling-making puts, gets resolved with their context."""

    async def operate(self, process: int) -> int:
        f, key, node = self._start(process)
        if f == "put":
            return await self._put(process, key, node, None, None)
        index, kind, values, context = await self._get(process, key, node)
        if kind != "ok":
            return self._after(process, kind)
        if f == "delete":
            return await self._delete(process, key, node, index, context)
        if values and self.rng.random() < RESOLVE_CHANCE:
            return await self._put(process, key, node, index, context)
        return process

    async def _get(self, process: int, key: str, node: str) -> tuple[int, str, tuple[str, ...], str | None]:
        self.recorder.record(process=process, type="invoke", f="get", key=key, value=None, node=node)
        result = await self.client.get(key, node=node)
        values = tuple(result.values or ())
        index, kind = self._complete(process, "get", key, node, list(values) if result.ok else None, result,
                                     context=result.context if result.ok else None)
        return index, kind, values, result.context

    async def _put(self, process: int, key: str, node: str, seen: int | None, context: str | None) -> int:
        value = self._next_value(process)
        self.recorder.record(process=process, type="invoke", f="put", key=key, value=value, node=node,
                             context_from=seen)
        result = await self.client.put(key, value, context=context, node=node)
        _, kind = self._complete(process, "put", key, node, value, result, context_from=seen)
        return self._after(process, kind)

    async def _delete(self, process: int, key: str, node: str, seen: int, context: str | None) -> int:
        self.recorder.record(process=process, type="invoke", f="delete", key=key, value=None, node=node,
                             context_from=seen)
        result = await self.client.delete(key, context=context, node=node)
        _, kind = self._complete(process, "delete", key, node, None, result, context_from=seen)
        return self._after(process, kind)


class SetWorkload(ConflictWorkload):
    """OR-sets (``--workload set``): adds of unique elements, removes of added ones, reads."""

    kind = "set"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.added: dict[str, list[str]] = {}
        """Elements an add was invoked for, per key: what removes choose from."""

    async def operate(self, process: int) -> int:
        f, key, node = self._start(process)
        if f == "remove" and not self.added.get(key):
            f = "add"
        if f == "read":
            self.recorder.record(process=process, type="invoke", f="read", key=key, value=None, node=node)
            result = await self.client.get(key, node=node)
            _, kind = self._complete(process, "read", key, node,
                                     sorted(result.elements or ()) if result.ok else None, result)
            return self._after(process, kind)
        if f == "add":
            element = self._next_value(process)
            self.added.setdefault(key, []).append(element)
        else:
            element = self.rng.choice(self.added[key])
        self.recorder.record(process=process, type="invoke", f=f, key=key, value=element, node=node)
        if f == "add":
            result = await self.client.add(key, element, node=node)
        else:
            result = await self.client.remove(key, element, node=node)
        _, kind = self._complete(process, f, key, node, element, result)
        return self._after(process, kind)


class CounterWorkload(ConflictWorkload):
    """PN-counters (``--workload counter``): increments and decrements by small amounts, reads."""

    kind = "counter"

    async def operate(self, process: int) -> int:
        f, key, node = self._start(process)
        if f == "read":
            self.recorder.record(process=process, type="invoke", f="read", key=key, value=None, node=node)
            result = await self.client.get(key, node=node)
            _, kind = self._complete(process, "read", key, node, (result.count or 0) if result.ok else None, result)
            return self._after(process, kind)
        amount = self.rng.randint(1, MAX_AMOUNT)
        self.recorder.record(process=process, type="invoke", f=f, key=key, value=amount, node=node)
        if f == "incr":
            result = await self.client.incr(key, amount, node=node)
        else:
            result = await self.client.decr(key, amount, node=node)
        _, kind = self._complete(process, f, key, node, amount, result)
        return self._after(process, kind)


def workload_class(conflict: str, workload: str) -> type[Workload]:
    """The ``Workload`` of a run: the register workload of old under lww and crdt, else one of these."""
    if workload == "set":
        return SetWorkload
    if workload == "counter":
        return CounterWorkload
    return SiblingsWorkload if conflict == "siblings" else Workload


def final_value(conflict: str, workload: str, result: Result) -> Any:
    """What a final read of ``result`` records as ``value``: siblings / elements as a sorted list, a count, a value."""
    if workload == "set":
        return sorted(result.elements or ())
    if workload == "counter":
        return result.count or 0
    if conflict == "siblings":
        return sorted(result.values or ())
    return result.value


def read_f(workload: str) -> str:
    """The ``f`` a read of this workload records."""
    return "get" if workload == "register" else "read"
