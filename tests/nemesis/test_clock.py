"""SkewableClock: a per-node offset over a shared time source."""

from __future__ import annotations

import pytest

from nemesis.clock import SkewableClock


def test_offset_shifts_and_clear_restores():
    """The clock reads base + offset after set_offset and the base again after clear."""
    now = [1000.0]
    clock = SkewableClock(lambda: now[0])
    assert clock() == 1000.0
    clock.set_offset(-2.5)
    now[0] = 1001.0
    assert clock() == 998.5 and clock.offset == -2.5
    clock.clear()
    assert clock() == 1001.0


def test_bad_offsets_are_rejected():
    """Non-finite offsets and non-callable bases are refused with a clear message."""
    clock = SkewableClock(lambda: 0.0)
    with pytest.raises(ValueError, match="finite number of seconds"):
        clock.set_offset(float("inf"))
    with pytest.raises(TypeError, match="callable time source"):
        SkewableClock(5.0)  # type: ignore[arg-type]
