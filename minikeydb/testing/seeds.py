"""Every random stream of a run, named from its seed: the one place that lists them.

A run draws each kind of choice from a ``random.Random`` of its own, seeded with a string made
from the run's seed, so that adding draws to one stream never shifts another, and so that the
same seed gives the same choices in every process and under every ``PYTHONHASHSEED``
(``random.Random(str)`` hashes the string with SHA-512). ``Seeds(seed).rng(name, *parts)``
builds one; the strings are exactly the ones the harness has always used, so recorded histories
replay byte for byte (``tests/sim/test_seeds.py`` pins them).

=================  ================================  ==============================================
stream             seed string                       draws
=================  ================================  ==============================================
schedule           ``<seed>/schedule``               the fault schedule (kinds, nodes, parameters)
network            ``<seed>/network``                per-datagram fault decisions (``FaultModel``)
latency            ``<seed>/latency``                simulated network latency per datagram
workload           ``<seed>/workload``               operation kinds, keys, target nodes
key-size           ``<seed>/key-size``               key-name lengths (``KeySpace``)
value-size         ``<seed>/value-size``             value padding sizes
client             ``<seed>/client``                 the client's retry jitter
node               ``<seed>/<node id>/<birth>``      one node life's jitter (``birth`` counts restarts)
explore-workload   ``<seed>/explore-workload``       ``explore --vary-workload``'s workload options
flood-worker       ``<seed>/<worker>``               ``bench/flood.py``: one flooding worker's draws
=================  ================================  ==============================================

Trio's scheduler is seeded with the run's seed itself, an int (``determinism.run_deterministic``).

A new stream: add a line to ``STREAMS`` (and to the table above); never change an existing one,
or every recorded history stops replaying.
"""

from __future__ import annotations

import random

import attrs

STREAMS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "schedule": ("schedule", ()),
    "network": ("network", ()),
    "latency": ("latency", ()),
    "workload": ("workload", ()),
    "key-size": ("key-size", ()),
    "value-size": ("value-size", ()),
    "client": ("client", ()),
    "node": (None, ("node_id", "birth")),
    "explore-workload": ("explore-workload", ()),
    "flood-worker": (None, ("worker",)),
}
"""Stream name -> (the label in its seed string, or None when the parts alone follow the seed;
the parts ``rng`` must be given, in order)."""


@attrs.frozen
class Seeds:
    """The random streams of one seed: ``Seeds(seed).rng("schedule")``, ``.rng("node", "n1", 1)``."""

    seed: int | str

    def seed_string(self, stream: str, *parts: object) -> str:
        """The string ``stream`` is seeded with (``<seed>/<label>/<parts...>``), checked against ``STREAMS``."""
        try:
            label, names = STREAMS[stream]
        except KeyError:
            raise ValueError(f"unknown random stream {stream!r}; known: {', '.join(STREAMS)}") from None
        if len(parts) != len(names):
            raise ValueError(f"random stream {stream!r} takes {len(names)} part(s) ({', '.join(names) or 'none'}), "
                             f"got {len(parts)}")
        pieces = [self.seed] if label is None else [self.seed, label]
        return "/".join(f"{piece}" for piece in (*pieces, *parts))

    def rng(self, stream: str, *parts: object) -> random.Random:
        """A fresh ``random.Random`` for ``stream`` (see the table in this module's docstring)."""
        return random.Random(self.seed_string(stream, *parts))
