"""The simulation kit: what runs the unchanged store deterministically, in one place.

As ``trio.testing`` sits beside Trio and TigerBeetle keeps ``src/testing/``, everything that
stands in for the real world in a simulated run (``--mode sim``) and in unit tests lives here,
one module per role:

- ``network``: ``MemoryNetwork``/``MemoryTransport``, the in-memory datagram network (the
  ``Transport`` interface of ``minikeydb.transport``, with latency, ticks and bounded queues);
- ``disk``: ``MemoryDisk``/``MemoryStorage``, a disk that survives a simulated crash with only
  what was durable;
- ``determinism``: Trio's deterministic-scheduling switch (``run_deterministic``) and
  ``network_clock``, the autojumping clock that also delivers the network's datagrams;
- ``seeds``: ``Seeds``, every random stream of a run named from its seed (the table of streams).

The store itself never imports this package: the harness hands its pieces to the nodes.
"""
