"""One object per fault kind: everything the nemesis knows about a kind, in one place.

After Jepsen's ``nemesis/combined.clj`` packages, a fault kind is a ``FaultKind`` that

- ``draw``\\ s a window's parameters from the schedule's ``random.Random`` when a schedule is
  generated (the parameters are plain JSON data: they go into run.json and the history),
- ``check``\\ s a recorded window's parameters (replay, shrinking), raising ``ValueError``,
- ``apply``\\ s them to the network and the cluster, pushing onto a stack how to undo each step,
- says what they become ``without_node`` (shrinking a run by a node),

and has a ``name`` (the ``<name>-start``/``<name>-stop`` nemesis events) and a ``description``.
``KINDS`` is the registry, in the order the schedule draws from; ``nemesis.schedule`` only
iterates over it. Adding a kind means adding one class here and one entry in ``KINDS``.

A kind carries no report colour: the checker reads histories (Jepsen's and Knossos's too) whose
kinds no object here knows, and never imports the nemesis; it keeps its own table for the kinds
below and gives any other kind a colour derived from its name (``checker.report.fault_color``).

Never change an existing kind's draws (their order or their ranges): a recorded simulated run
replays byte for byte only while the same seed draws the same schedule.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs

from nemesis.link_faults import DELAY_KINDS, DelayDistribution, LinkFaults
from nemesis.topology import LinkGraph, graph_from_description, make_partition

if TYPE_CHECKING:
    import networkx as nx

Params = dict[str, Any]
"""A window's parameters: plain JSON data."""

Undo = Callable[[], Awaitable[None]]
"""One step back: ``apply`` pushes one per step it took; they are run last-in first-out."""


class ClusterControl(Protocol):
    """What the nemesis needs from the harness to act on node processes."""

    async def crash(self, node_id: str) -> None: ...

    async def restart(self, node_id: str) -> None: ...

    async def pause(self, node_id: str) -> None: ...

    async def resume(self, node_id: str) -> None: ...

    def set_clock_offset(self, node_id: str, seconds: float) -> None: ...


class NetworkFaultControl(Protocol):
    """The network-side controls (``FaultModel`` and ``FaultyNetwork`` implement them)."""

    def set_link_faults(self, faults: LinkFaults, links: None = None) -> None: ...

    def clear_link_faults(self) -> None: ...

    def partition(self, graph: LinkGraph | nx.DiGraph) -> None: ...

    def heal_partition(self) -> None: ...

    def heal(self) -> None: ...


@attrs.frozen
class DrawSettings:
    """The run's options that shape what a kind draws (``--partition``, ``--crash-targets``)."""

    partition_kind: str = "random-halves"
    crash_targets: str = "minority"


class FaultKind:
    """The interface every fault kind implements (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        """A window's parameters, drawn from ``rng`` (the order of draws is part of the recorded runs)."""
        raise NotImplementedError

    def check(self, params: Params, nodes: Sequence[str]) -> None:
        """Raise ValueError (or TypeError/KeyError) when ``apply`` could not carry ``params`` out."""
        raise NotImplementedError

    async def apply(self, params: Params, nodes: Sequence[str], network: NetworkFaultControl,
                    control: ClusterControl, undo: list[Undo]) -> None:
        """Start the fault, pushing onto ``undo`` how to reverse each step as soon as it is taken."""
        raise NotImplementedError

    def without_node(self, params: Params, node: str, rename: dict[str, str]) -> Params | None:
        """``params`` with ``node`` gone and the other nodes renamed, or None when the window means nothing now."""
        return params


class LinkFaultKind(FaultKind):
    """A fault every link suffers at once (``FaultModel``'s per-datagram settings)."""

    def link_faults(self, params: Params) -> LinkFaults:
        raise NotImplementedError

    def check(self, params: Params, nodes: Sequence[str]) -> None:
        self.link_faults(params)

    async def apply(self, params: Params, nodes: Sequence[str], network: NetworkFaultControl,
                    control: ClusterControl, undo: list[Undo]) -> None:
        network.set_link_faults(self.link_faults(params))

        async def clear() -> None:
            network.clear_link_faults()

        undo.append(clear)


class PartitionFault(FaultKind):
    name = "partition"
    description = "cut links between groups of nodes (the topology --partition names)"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        return make_partition(settings.partition_kind, nodes, rng).description

    def check(self, params: Params, nodes: Sequence[str]) -> None:
        graph_from_description(params, nodes)

    async def apply(self, params: Params, nodes: Sequence[str], network: NetworkFaultControl,
                    control: ClusterControl, undo: list[Undo]) -> None:
        network.partition(graph_from_description(params, nodes))

        async def heal_partition() -> None:
            network.heal_partition()

        undo.append(heal_partition)

    def without_node(self, params: Params, node: str, rename: dict[str, str]) -> Params | None:
        if params.get("bridge") == node:
            return None
        out: Params = {}
        for field, value in params.items():
            if field == "groups":
                groups = [[rename[n] for n in g if n != node] for g in value]
                out[field] = [g for g in groups if g]
                if len(out[field]) < 2:
                    return None
            elif field in ("from", "to"):
                out[field] = [rename[n] for n in value if n != node]
                if not out[field]:
                    return None
            elif field == "views":
                out[field] = {rename[r]: [rename[n] for n in view if n != node] for r, view in value.items() if r != node}
            elif field == "bridge":
                out[field] = rename[value]
            else:
                out[field] = value
        return out


class DropFault(LinkFaultKind):
    name = "drop"
    description = "lose each datagram with a probability of 0.1 to 0.5"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        return {"probability": round(rng.uniform(0.1, 0.5), 4)}

    def link_faults(self, params: Params) -> LinkFaults:
        return LinkFaults(drop=params["probability"])


class DelayFault(LinkFaultKind):
    name = "delay"
    description = "delay each datagram (constant, uniform or exponential, mean 5 to 100 ms)"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        mean = round(rng.uniform(0.005, 0.1), 4)
        delay_kind = rng.choice(DELAY_KINDS)
        if delay_kind == "constant":
            delay = DelayDistribution.constant(mean)
        elif delay_kind == "uniform":
            delay = DelayDistribution.uniform(0.0, round(2 * mean, 4))
        else:
            delay = DelayDistribution.exponential(mean, cap=round(10 * mean, 4))
        return {"delay": delay.to_json()}

    def link_faults(self, params: Params) -> LinkFaults:
        return LinkFaults(delay=DelayDistribution.from_json(params["delay"], "delay"))


class DuplicateFault(LinkFaultKind):
    name = "duplicate"
    description = "deliver each datagram twice with a probability of 0.1 to 0.5"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        return {"probability": round(rng.uniform(0.1, 0.5), 4)}

    def link_faults(self, params: Params) -> LinkFaults:
        return LinkFaults(duplicate=params["probability"])


class ReorderFault(LinkFaultKind):
    name = "reorder"
    description = "hold back each datagram with a probability of 0.1 to 0.5, by 5 to 50 ms, so later ones overtake it"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        return {
            "probability": round(rng.uniform(0.1, 0.5), 4),
            "extra_delay": DelayDistribution.uniform(0.005, 0.05).to_json(),
        }

    def link_faults(self, params: Params) -> LinkFaults:
        extra = DelayDistribution.from_json(params["extra_delay"], "extra_delay")
        return LinkFaults(reorder=params["probability"], reorder_delay=extra)


class _NodesKind(FaultKind):
    """A fault on some nodes (``params["nodes"]``), one step per node."""

    def check(self, params: Params, nodes: Sequence[str]) -> None:
        listed = params.get("nodes")
        if not isinstance(listed, list) or not all(n in nodes for n in listed):
            raise ValueError(f"'nodes' must list schedule nodes, got {listed!r}")

    def without_node(self, params: Params, node: str, rename: dict[str, str]) -> Params | None:
        remaining = [rename[n] for n in params.get("nodes", []) if n != node]
        return {**params, "nodes": remaining} if remaining else None


class CrashFault(_NodesKind):
    name = "crash"
    description = "kill nodes (--crash-targets: one, a minority, a majority, all, or mixed) and restart them from what was durable"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        return {"nodes": targets(rng, nodes, settings.crash_targets)}

    async def apply(self, params: Params, nodes: Sequence[str], network: NetworkFaultControl,
                    control: ClusterControl, undo: list[Undo]) -> None:
        for node in params["nodes"]:
            await control.crash(node)
            undo.append(_bind(control.restart, node))


class PauseFault(_NodesKind):
    name = "pause"
    description = "freeze a minority of nodes (SIGSTOP in processes mode) and resume them"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        return {"nodes": minority(rng, nodes)}

    async def apply(self, params: Params, nodes: Sequence[str], network: NetworkFaultControl,
                    control: ClusterControl, undo: list[Undo]) -> None:
        for node in params["nodes"]:
            await control.pause(node)
            undo.append(_bind(control.resume, node))


class ClockSkewFault(FaultKind):
    name = "clock-skew"
    description = "move the wall clocks of a minority of nodes 1 to 5 s ahead or behind"

    def draw(self, rng: random.Random, nodes: list[str], settings: DrawSettings) -> Params:
        offsets = {}
        for node in minority(rng, nodes):
            magnitude = round(rng.uniform(1.0, 5.0), 3)
            offsets[node] = magnitude if rng.random() < 0.5 else -magnitude
        return {"offsets": offsets}

    def check(self, params: Params, nodes: Sequence[str]) -> None:
        offsets = params.get("offsets")
        if not isinstance(offsets, dict) or not all(
            n in nodes and isinstance(v, int | float) and math.isfinite(v) for n, v in offsets.items()
        ):
            raise ValueError(f"'offsets' must map schedule nodes to seconds, got {offsets!r}")

    async def apply(self, params: Params, nodes: Sequence[str], network: NetworkFaultControl,
                    control: ClusterControl, undo: list[Undo]) -> None:
        for node, offset in params["offsets"].items():
            control.set_clock_offset(node, offset)
            undo.append(_bind_offset(control, node))

    def without_node(self, params: Params, node: str, rename: dict[str, str]) -> Params | None:
        offsets = {rename[n]: v for n, v in params.get("offsets", {}).items() if n != node}
        return {**params, "offsets": offsets} if offsets else None


KINDS: dict[str, FaultKind] = {
    kind.name: kind
    for kind in (PartitionFault(), DropFault(), DelayFault(), DuplicateFault(), ReorderFault(), CrashFault(), PauseFault(), ClockSkewFault())
}
"""Every fault kind by name, in the order a schedule draws from (part of the recorded runs)."""

FAULT_KINDS: tuple[str, ...] = tuple(KINDS)
"""Every fault a schedule can hold; ``all`` in a kinds list stands for all of them."""

CRASH_TARGETS: tuple[str, ...] = ("one", "minority", "majority", "all", "mixed")
"""Which nodes a crash window takes down. ``all`` is a whole-cluster power loss, the only crash
under which an acknowledged-but-not-durable write can vanish from every replica before a later
write hides it; ``mixed`` draws one of the others per window, as Jepsen's kill nemesis does."""


def minority(rng: random.Random, nodes: list[str]) -> list[str]:
    """1 to (n-1)//2 distinct nodes (at least one), in node order."""
    count = rng.randint(1, max(1, (len(nodes) - 1) // 2))
    chosen = set(rng.sample(nodes, count))
    return [n for n in nodes if n in chosen]


def targets(rng: random.Random, nodes: list[str], spec: str) -> list[str]:
    """The nodes one crash window takes down (``CRASH_TARGETS``), in node order."""
    if spec == "mixed":
        spec = rng.choice(("one", "minority", "majority", "all"))
    if spec == "minority":
        return minority(rng, nodes)
    count = {"one": 1, "majority": len(nodes) // 2 + 1, "all": len(nodes)}[spec]
    chosen = set(rng.sample(nodes, count))
    return [n for n in nodes if n in chosen]


def _bind(action: Callable[[str], Awaitable[None]], node: str) -> Undo:
    async def run() -> None:
        await action(node)

    return run


def _bind_offset(control: ClusterControl, node: str) -> Undo:
    async def run() -> None:
        control.set_clock_offset(node, 0.0)

    return run
