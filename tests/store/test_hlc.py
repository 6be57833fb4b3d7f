"""Hybrid logical clock: local stamps strictly increase and merging a remote stamp orders after it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from minikeydb.hlc import HybridClock


class FakeWall:
    """A settable wall clock in seconds."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_now_follows_the_wall_clock_when_it_advances():
    """A stamp's physical part is the wall time in microseconds, with the logical counter reset."""
    wall = FakeWall(1000.0)
    clock = HybridClock("n1", wall)
    assert clock.now() == (1_000_000_000, 0, "n1")
    wall.now = 1001.5
    assert clock.now() == (1_001_500_000, 0, "n1")


def test_now_increases_when_the_wall_clock_stands_still_or_goes_back():
    """With a stuck or backwards wall clock, the logical part keeps stamps strictly increasing."""
    wall = FakeWall(1000.0)
    clock = HybridClock("n1", wall)
    first, second = clock.now(), clock.now()
    wall.now = 990.0  # the wall clock jumps back ten seconds
    third = clock.now()
    assert first < second < third
    assert third[0] == first[0] and third[1] == 2


def test_observe_orders_the_next_stamp_after_a_remote_future_stamp():
    """After observing a stamp from a clock that runs ahead, the next local stamp is larger than it."""
    clock = HybridClock("n1", FakeWall(1000.0))
    remote = (2_000_000_000, 7, "n2")
    clock.observe(remote)
    stamp = clock.now()
    assert stamp[:2] > remote[:2]
    assert stamp > remote


def test_observe_of_an_old_stamp_does_not_move_the_clock_back():
    """Observing a stamp from the past leaves later stamps above everything issued before."""
    clock = HybridClock("n1", FakeWall(1000.0))
    before = clock.now()
    clock.observe((1, 0, "n2"))
    assert clock.now() > before


def test_observe_with_equal_physical_takes_the_larger_logical():
    """Equal physical parts: the next stamp's logical part exceeds both clocks' counters."""
    wall = FakeWall(1000.0)
    clock = HybridClock("n1", wall)
    clock.now()
    clock.observe((1_000_000_000, 41, "n2"))
    assert clock.now() == (1_000_000_000, 43, "n1")


@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("tick"), st.floats(-5.0, 5.0)),
            st.tuples(st.just("observe"), st.integers(0, 3_000_000_000), st.integers(0, 1000)),
        ),
        max_size=60,
    )
)
def test_stamps_are_strictly_monotonic_under_any_mix_of_ticks_and_observations(events):
    """Whatever the wall clock does and whatever is observed, every local stamp exceeds all earlier ones and every observed stamp."""
    wall = FakeWall(1000.0)
    clock = HybridClock("n1", wall)
    last = clock.now()
    floor = last
    for event in events:
        if event[0] == "tick":
            wall.now = max(0.0, wall.now + event[1])
        else:
            remote = (event[1], event[2], "n2")
            clock.observe(remote)
            floor = max(floor, remote)
        stamp = clock.now()
        assert stamp[:2] > last[:2]
        assert stamp[:2] > floor[:2]
        last = stamp


def test_the_logical_counter_carries_into_the_physical_part_before_the_wire_limit():
    """Observing a stamp whose counter is at the wire's limit moves the physical part on instead of overflowing."""
    from minikeydb.hlc import LOGICAL_LIMIT

    clock = HybridClock("n1", wall=lambda: 1.0)
    remote = (5_000_000, LOGICAL_LIMIT - 1, "n2")
    clock.observe(remote)
    stamp = clock.now()
    assert stamp > remote and stamp[1] < LOGICAL_LIMIT and stamp[0] == 5_000_001
