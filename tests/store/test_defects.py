"""Seeded defects: each --bug name is one Defect value; no name is the correct store; a wrong name says what exists."""

from __future__ import annotations

import pytest

from minikeydb.defects import BUGS, NO_DEFECT, Defect, Features
from minikeydb.record import first_writer_wins, last_writer_wins


def test_no_bug_is_the_correct_store():
    """Defect.named(None) is the default Defect: last-writer-wins, every repair, durable acks, tombstones."""
    defect = Defect.named(None)
    assert defect == NO_DEFECT == Defect()
    assert defect.merge is last_writer_wins and defect.features == Features()
    assert not defect.ack_before_durable and defect.tombstones and defect.name is None


def test_each_bug_name_switches_on_its_own_deviation_only():
    """Every name in BUGS builds a Defect of that name that differs from the correct store."""
    assert list(BUGS) == [
        "no-tombstones", "no-repair", "ack-before-durable", "first-writer-wins", "siblings-by-timestamp",
        "counter-merge-adds",
    ]
    for name in BUGS:
        assert Defect.named(name).name == name and Defect.named(name) != NO_DEFECT
    assert Defect.named("first-writer-wins").merge is first_writer_wins
    assert Defect.named("no-repair").features == Features(False, False, False)
    assert Defect.named("ack-before-durable").ack_before_durable
    assert Defect.named("ack-before-durable").flush_interval > NO_DEFECT.flush_interval
    assert not Defect.named("no-tombstones").tombstones
    assert Defect.named("siblings-by-timestamp").siblings_by_timestamp
    assert Defect.named("counter-merge-adds").counter_merge_adds


def test_an_unknown_bug_name_is_an_error_listing_the_known_ones():
    """A mistyped --bug name raises ValueError naming it and every known defect."""
    with pytest.raises(ValueError, match="unknown bug 'no-repairs'; known: no-tombstones, no-repair, ack-before-durable"):
        Defect.named("no-repairs")
