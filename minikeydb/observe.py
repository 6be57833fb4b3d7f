"""The one narrow hook through which a node reports what it applies and queues.

A node is built with ``observer=None`` unless someone wants to watch it (the harness's journal,
``runner/journal.py``); with None it costs one ``is not None`` test per apply and per queued
record, and does nothing else. The node never learns who watches or why: it only reports facts
it already knows (which records it merged, whether each won, where they came from, what it
queued for which peer and why, and, each time it starts, what its storage held: after a crash,
the versions that were durable, so a watcher can tell which applies the crash lost).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .record import Record

CLIENT = "client"
"""``via`` of a coordinator's own copy of a client's write."""

REASONS = ("replication", "hint", "read-repair", "anti-entropy", "pull")
"""Why a record was queued for a peer: a client write's replication, hinted handoff, read repair,
an anti-entropy push, an answer to a peer's pull."""


class ApplyObserver(Protocol):
    """What a node reports: every merge into its storage and every record it queues for a peer."""

    def applied(self, node: str, records: Sequence[Record], won: Sequence[bool], via: str) -> None:
        """``node`` merged ``records`` (``won[i]``: it became the current version); ``via`` is
        ``CLIENT`` or the id of the node whose ``Replicate`` brought them."""

    def queued(self, node: str, peer: str, record: Record, reason: str) -> None:
        """``node`` queued ``record`` for ``peer``; ``reason`` is one of ``REASONS``."""

    def recovered(self, node: str, records: Sequence[Record]) -> None:
        """``node`` started holding ``records`` (its storage's whole content, tombstones included),
        before it serves anything: after a crash, what was durable; every other version it had
        applied was lost."""
