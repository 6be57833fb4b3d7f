"""The fault model: what happens to one datagram on one directed node-to-node link.

Both ways of putting faults between nodes, the in-process ``FaultyNetwork`` (wrapping each node's
transport) and the ``UdpRouter`` (a proxy between node processes), ask the same ``FaultModel``
for a decision, so a drop probability or a partition means exactly the same thing in every mode.
The decision for a datagram is a list of delivery delays: empty when it is lost (partition or
drop), two entries when it is duplicated, and a delay larger than its neighbours' when it is
reordered. Every random draw comes from the ``random.Random`` handed in, in a fixed order, so a
seeded run makes the same decisions again.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from nemesis.topology import LinkGraph, is_graph, link_allowed

if TYPE_CHECKING:
    import networkx as nx

Link = tuple[str, str]
"""A directed node-to-node link: (source node id, destination node id)."""

DELAY_KINDS = ("constant", "uniform", "exponential")
FAULT_PRECEDENCE = ("partition", "drop", "delay", "duplicate", "reorder")
"""The faults ``FaultModel.decide_why`` names, in order of precedence: the first that applied wins."""


def _check_probability(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0 or math.isnan(value):
        raise ValueError(f"{name} must be a probability between 0 and 1, got {value!r}")


def _check_seconds(name: str, value: float) -> None:
    if not isinstance(value, int | float) or not 0.0 <= value < math.inf:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, got {value!r}")


@attrs.frozen
class DelayDistribution:
    """How long a datagram waits before delivery, in seconds of trio time.

    ``constant``: always ``low``. ``uniform``: between ``low`` and ``high``. ``exponential``:
    mean ``low`` (memoryless, the classic model of queueing delay), capped at ``high`` when
    ``high`` is set so one unlucky draw cannot stall a test.
    """

    kind: str
    low: float
    high: float | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind not in DELAY_KINDS:
            raise ValueError(f"unknown delay kind {self.kind!r}; valid kinds: {', '.join(DELAY_KINDS)}")
        _check_seconds(f"{self.kind} delay 'low'", self.low)
        if self.kind == "uniform":
            if self.high is None:
                raise ValueError("uniform delay needs 'high'")
            _check_seconds("uniform delay 'high'", self.high)
            if self.high < self.low:
                raise ValueError(f"uniform delay needs low <= high, got {self.low} > {self.high}")
        elif self.kind == "exponential" and self.high is not None:
            _check_seconds("exponential delay cap 'high'", self.high)

    @classmethod
    def constant(cls, seconds: float) -> DelayDistribution:
        """Every datagram waits exactly ``seconds``."""
        return cls("constant", seconds)

    @classmethod
    def uniform(cls, low: float, high: float) -> DelayDistribution:
        """Each datagram waits a uniform draw from [low, high]."""
        return cls("uniform", low, high)

    @classmethod
    def exponential(cls, mean: float, cap: float | None = None) -> DelayDistribution:
        """Each datagram waits an exponential draw with ``mean``, at most ``cap`` when given."""
        return cls("exponential", mean, cap)

    def sample(self, rng: random.Random) -> float:
        """One delay, drawn from ``rng``."""
        if self.kind == "constant":
            return self.low
        if self.kind == "uniform":
            assert self.high is not None
            return rng.uniform(self.low, self.high)
        if self.low == 0:
            return 0.0
        delay = rng.expovariate(1.0 / self.low)
        return delay if self.high is None else min(delay, self.high)

    def to_json(self) -> dict[str, Any]:
        """Plain data for run.json and history values."""
        out: dict[str, Any] = {"kind": self.kind, "low": self.low}
        if self.high is not None:
            out["high"] = self.high
        return out

    @classmethod
    def from_json(cls, data: object, where: str = "delay") -> DelayDistribution:
        """Rebuild from ``to_json`` output; bad data raises ValueError naming ``where``."""
        if not isinstance(data, dict) or "kind" not in data or "low" not in data:
            raise ValueError(f"{where}: expected an object with 'kind' and 'low', got {data!r}")
        try:
            return cls(data["kind"], data["low"], data.get("high"))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}: {exc}") from None


DEFAULT_REORDER_DELAY = DelayDistribution.uniform(0.005, 0.05)
"""The extra hold-back of a reordered datagram: long enough for its successors to overtake it."""


@attrs.frozen
class LinkFaults:
    """The faults on one link. The default (all zero, no delay) is a healthy link."""

    drop: float = 0.0
    delay: DelayDistribution | None = None
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: DelayDistribution = DEFAULT_REORDER_DELAY

    def __attrs_post_init__(self) -> None:
        _check_probability("drop", self.drop)
        _check_probability("duplicate", self.duplicate)
        _check_probability("reorder", self.reorder)

    @property
    def healthy(self) -> bool:
        return self.drop == 0 and self.delay is None and self.duplicate == 0 and self.reorder == 0


HEALTHY = LinkFaults()


@attrs.define
class FaultCounters:
    """How often each fault struck, for tests and run statistics."""

    passed: int = 0
    """Datagrams on node-to-node links that were not lost (each counted once, copies aside)."""
    dropped: int = 0
    delayed: int = 0
    duplicated: int = 0
    reordered: int = 0
    partitioned: int = 0
    """Datagrams blocked by a partition, at send time or when delayed ones came due (every copy cut in flight)."""
    held_by_pause: int = 0
    pause_overflow: int = 0
    """Datagrams lost because a paused node's hold buffer was full."""
    lost_in_flight: int = 0
    """Datagrams whose sending endpoint had closed by the time they came due (no copy got through; not
    ``passed``), and datagrams held for a paused node whose endpoint had closed when it resumed."""


class DatagramObserver(Protocol):
    """What a fault layer tells an observer (the harness's journal); never given to a node.

    ``sent``: one datagram from ``src`` to ``dst`` (node ids, or "client"), the fault that decided
    its fate (None: none) and how many copies will be delivered (0: lost). ``delivered``: one
    copy of ``data`` reached ``dst``. The observer matches a delivery to its send by the bytes.
    """

    def sent(self, src: str, dst: str, data: bytes, fault: str | None, copies: int) -> None: ...

    def delivered(self, dst: str, data: bytes) -> None: ...


class FaultModel:
    """Link faults and the partition, and the per-datagram decision both transports share.

    Faults set for all links (``links=None``) become the default and replace any per-link
    settings; faults set for given links override the default on those links only.
    """

    def __init__(self, rng: random.Random) -> None:
        if not isinstance(rng, random.Random):
            raise TypeError(f"FaultModel needs a random.Random, got {type(rng).__name__}")
        self.rng = rng
        self.counters = FaultCounters()
        self._default = HEALTHY
        self._links: dict[Link, LinkFaults] = {}
        self._partition: LinkGraph | nx.DiGraph | None = None

    # -- link faults ---------------------------------------------------------------------

    def faults_for(self, src: str, dst: str) -> LinkFaults:
        """The faults currently in force on src -> dst."""
        return self._links.get((src, dst), self._default)

    def set_link_faults(self, faults: LinkFaults, links: Iterable[Link] | None = None) -> None:
        """Put ``faults`` on the given links, or on every link when ``links`` is None."""
        if links is None:
            self._default = faults
            self._links.clear()
        else:
            for link in links:
                self._links[_check_link(link)] = faults

    def _update(self, links: Iterable[Link] | None, **changes: Any) -> None:
        if links is None:
            self._default = attrs.evolve(self._default, **changes)
            self._links = {k: attrs.evolve(v, **changes) for k, v in self._links.items()}
        else:
            for link in links:
                link = _check_link(link)
                self._links[link] = attrs.evolve(self.faults_for(*link), **changes)

    def set_drop(self, probability: float, links: Iterable[Link] | None = None) -> None:
        """Lose each datagram with ``probability``."""
        self._update(links, drop=probability)

    def set_delay(self, delay: DelayDistribution | None, links: Iterable[Link] | None = None) -> None:
        """Hold each datagram for a draw from ``delay`` (None: no delay)."""
        self._update(links, delay=delay)

    def set_duplicate(self, probability: float, links: Iterable[Link] | None = None) -> None:
        """Deliver a second copy of each datagram with ``probability``."""
        self._update(links, duplicate=probability)

    def set_reorder(
        self,
        probability: float,
        extra_delay: DelayDistribution = DEFAULT_REORDER_DELAY,
        links: Iterable[Link] | None = None,
    ) -> None:
        """Hold back each datagram with ``probability`` by ``extra_delay`` so later ones overtake it."""
        self._update(links, reorder=probability, reorder_delay=extra_delay)

    def clear_link_faults(self) -> None:
        """Every link healthy again (the partition is separate)."""
        self._default = HEALTHY
        self._links.clear()

    # -- partitions ----------------------------------------------------------------------

    def partition(self, graph: LinkGraph | nx.DiGraph) -> None:
        """Allow only the directed links that are edges of ``graph`` (see ``topology``)."""
        if not is_graph(graph):
            raise TypeError(f"partition needs a LinkGraph or networkx.DiGraph of allowed links, "
                            f"got {type(graph).__name__}")
        self._partition = graph.copy()

    def heal_partition(self) -> None:
        """Every link open again (link faults are separate)."""
        self._partition = None

    @property
    def partitioned(self) -> bool:
        return self._partition is not None

    def link_allowed(self, src: str, dst: str) -> bool:
        """Does the current partition (if any) let src -> dst through?"""
        return self._partition is None or link_allowed(self._partition, src, dst)

    def heal(self) -> None:
        """Clear link faults and the partition."""
        self.clear_link_faults()
        self.heal_partition()

    # -- decisions -----------------------------------------------------------------------

    def decide(self, src: str, dst: str) -> list[float]:
        """The delivery delays for one datagram on src -> dst: [] lost, two entries duplicated."""
        return self.decide_why(src, dst)[0]

    def decide_why(self, src: str, dst: str) -> tuple[list[float], str | None]:
        """``decide``, and the fault that decided the datagram's fate (None: delivered normally).

        The fault is the first that applied in the order ``FAULT_PRECEDENCE``: "partition" or
        "drop" (lost), else "delay", "duplicate" or "reorder". The random draws are exactly
        ``decide``'s (it is this), so an observer asking why changes no run.
        """
        partition = self._partition  # link_allowed and faults_for, inline: asked per datagram
        if partition is not None and not link_allowed(partition, src, dst):
            self.counters.partitioned += 1
            return [], "partition"
        faults = self._links.get((src, dst), self._default) if self._links else self._default
        if faults is HEALTHY or faults.healthy:
            self.counters.passed += 1
            return [0.0], None
        rng = self.rng
        if faults.drop > 0 and rng.random() < faults.drop:
            self.counters.dropped += 1
            return [], "drop"
        copies = 1
        duplicated = delayed = reordered = False
        if faults.duplicate > 0 and rng.random() < faults.duplicate:
            copies = 2
            duplicated = True
            self.counters.duplicated += 1
        delays = []
        for _ in range(copies):
            delay = faults.delay.sample(rng) if faults.delay is not None else 0.0
            if delay > 0:
                delayed = True
                self.counters.delayed += 1
            if faults.reorder > 0 and rng.random() < faults.reorder:
                delay += faults.reorder_delay.sample(rng)
                reordered = True
                self.counters.reordered += 1
            delays.append(delay)
        self.counters.passed += 1
        fault = "delay" if delayed else "duplicate" if duplicated else "reorder" if reordered else None
        return delays, fault

    def in_flight(self, delays: Sequence[float]) -> InFlight:
        """What ``admit_due``, ``lost_due`` and ``lost_now`` need to count one datagram's copies once: how many are
        delayed, and how many went at once (a delay of 0)."""
        return InFlight(sum(1 for delay in delays if delay > 0), sum(1 for delay in delays if delay <= 0))

    def admit_due(self, src: str, dst: str, flight: InFlight) -> bool:
        """Whether a delayed copy of a datagram (``flight``, from ``in_flight(delays)``) may still be delivered:
        a partition started meanwhile cuts it. A copy admitted whose send then fails (its sender crashed or
        closed meanwhile) is told with ``lost_due``.

        The datagram was counted ``passed`` when it was decided; it moves once, when no copy of it got through,
        to ``lost_in_flight`` (a copy died with its sender) or else to ``partitioned`` (a partition cut every
        copy), so each datagram stays counted in exactly one fate.
        """
        allowed = self.link_allowed(src, dst)
        flight.left -= 1
        if allowed:
            flight.admitted += 1
        self._settle(flight)
        return allowed

    def lost_due(self, flight: InFlight) -> None:
        """A delayed copy ``admit_due`` let go could not be sent: its sender's socket had closed (a crash)."""
        flight.admitted -= 1
        flight.lost += 1
        self._settle(flight)

    def lost_now(self, flight: InFlight) -> None:
        """A copy due at once could not be sent: its sender's socket had closed (a crash)."""
        flight.at_once -= 1
        flight.lost += 1
        self._settle(flight)

    def _settle(self, flight: InFlight) -> None:
        """Move the datagram out of ``passed`` once every copy is settled and none got through. This holds
        at exactly one event: ``left`` and ``at_once`` only fall, and ``admitted`` only rises as ``left`` falls."""
        if flight.left == 0 and flight.admitted == 0 and flight.at_once == 0:
            self.counters.passed -= 1
            if flight.lost:
                self.counters.lost_in_flight += 1
            else:
                self.counters.partitioned += 1


@attrs.define
class InFlight:
    """The copies of one datagram: how many delayed ones have still to come due, how many went at once or were
    admitted when due (and were not lost since), and how many died with their sender."""

    left: int
    at_once: int = 0
    admitted: int = 0
    lost: int = 0


def _check_link(link: object) -> Link:
    if (
        not isinstance(link, tuple)
        or len(link) != 2
        or not all(isinstance(n, str) for n in link)
    ):
        raise ValueError(f"a link is a (source node id, destination node id) pair, got {link!r}")
    return (link[0], link[1])
