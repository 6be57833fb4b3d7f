"""The simulation's clock: deliveries and deadlines in virtual time, woken without cancel scopes."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
import trio
import trio.testing

from minikeydb.messaging import TIMER_GRANULARITY, Messenger, coalesced
from minikeydb.testing.determinism import network_clock, run_deterministic
from minikeydb.testing.network import MemoryNetwork
from minikeydb.wire import Codec

A, B, C = ("sim", 1), ("sim", 2), ("sim", 3)


def run_sim(main: object, network: MemoryNetwork, seed: int = 1) -> object:
    return run_deterministic(main, seed, network_clock(network))  # type: ignore[arg-type]


def test_receivers_wake_at_each_datagrams_due_time() -> None:
    """Each datagram arrives at its own virtual due time, in due order, with the network driving the clock."""
    network = MemoryNetwork(latency=0.0, tick=0.001)
    arrivals: list[tuple[float, bytes]] = []

    async def main() -> None:
        a, b = network.endpoint(A), network.endpoint(B)
        async with trio.open_nursery() as nursery:

            async def receive() -> None:
                for _ in range(3):
                    data, _src = await b.recv()
                    arrivals.append((trio.current_time(), data))

            nursery.start_soon(receive)
            await trio.sleep(0.0104)  # the receiver is parked by now
            network.schedule(0.005, b"late", A, B)
            network.schedule(0.002, b"early", A, B)  # becomes the first arrival: wakes sooner
            a.send_nowait(b"next", B)  # latency 0: due at the next whole tick
        assert network.driving

    run_sim(main, network)
    assert [d for _, d in arrivals] == [b"next", b"early", b"late"]
    assert [round(t, 6) for t, _ in arrivals] == [0.011, 0.013, 0.016]


def test_deadlines_between_deliveries_still_fire_on_time() -> None:
    """A Trio deadline earlier than the next delivery wakes its task first, at its own time."""
    network = MemoryNetwork(latency=0.0, tick=0.001)
    events: list[tuple[str, float]] = []

    async def main() -> None:
        b = network.endpoint(B)
        network.endpoint(A)
        async with trio.open_nursery() as nursery:

            async def receive() -> None:
                await b.recv()
                events.append(("delivered", trio.current_time()))

            async def sleeper() -> None:
                await trio.sleep(0.0025)
                events.append(("slept", trio.current_time()))

            nursery.start_soon(receive)
            nursery.start_soon(sleeper)
            network.schedule(0.004, b"x", A, B)

    run_sim(main, network)
    assert [(name, round(t, 6)) for name, t in events] == [("slept", 0.0025), ("delivered", 0.004)]


def test_a_parked_receiver_can_be_cancelled_and_closed() -> None:
    """A receiver parked by the clock-driven network still honours cancellation, and close wakes it."""
    network = MemoryNetwork(latency=0.0, tick=0.001)
    outcomes: list[str] = []

    async def main() -> None:
        b = network.endpoint(B)
        c = network.endpoint(C)
        network.endpoint(A)
        network.schedule(0.001, b"warm-up", A, B)  # the first autojump hands the clock to the network
        await b.recv()
        with trio.move_on_after(0.05):
            await b.recv()
        outcomes.append(f"timed out at {trio.current_time():.3f}")
        async with trio.open_nursery() as nursery:

            async def receive() -> None:
                try:
                    await c.recv()
                except trio.ClosedResourceError:
                    outcomes.append("closed")

            nursery.start_soon(receive)
            await trio.sleep(0.01)
            c.close()

    run_sim(main, network)
    assert outcomes == ["timed out at 0.051", "closed"]


def test_a_network_without_the_clock_waits_on_deadlines_as_before() -> None:
    """Under a plain autojumping MockClock the network never drives; deliveries still arrive on time."""
    network = MemoryNetwork(latency=0.003, tick=0.001)
    seen: list[float] = []

    async def main() -> None:
        a, b = network.endpoint(A), network.endpoint(B)
        a.send_nowait(b"x", B)
        await b.recv()
        seen.append(trio.current_time())

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert not network.driving
    assert seen == [pytest.approx(0.003)]


@pytest.mark.parametrize("deadline", [0.0, 0.0004, 0.001, 0.0010000000000000002, 0.0031, 12.3456])
def test_timer_deadlines_round_up_to_whole_milliseconds(deadline: float) -> None:
    """A messenger timer fires on the next whole millisecond, never before its deadline (float noise aside)."""
    rounded = coalesced(deadline)
    assert rounded >= deadline - 1e-9
    assert rounded - deadline < TIMER_GRANULARITY
    assert math.isclose(rounded / TIMER_GRANULARITY, round(rounded / TIMER_GRANULARITY), abs_tol=1e-6)


async def test_timers_due_in_the_same_millisecond_share_one_wake_up(autojump_clock: trio.testing.MockClock) -> None:
    """Timers set for different instants of one millisecond all fire together at its end."""
    network = MemoryNetwork()
    messenger = Messenger(network.endpoint(A), Codec(b"secret"), random.Random(1), Counter())
    fired: list[tuple[str, float]] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(messenger.run_timers)
        start = trio.current_time()
        for name, delay in (("a", 0.0002), ("b", 0.0007), ("c", 0.0011)):
            messenger.call_later(delay, lambda name=name: fired.append((name, trio.current_time() - start)))
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [(n, round(t, 6)) for n, t in fired] == [("a", 0.001), ("b", 0.001), ("c", 0.002)]


def test_sleep_until_on_the_driving_network_wakes_on_time_and_can_be_cancelled() -> None:
    """The network's sleep_until wakes at its time among deliveries, and a cancel scope still ends it early."""
    network = MemoryNetwork(latency=0.0, tick=0.001)
    woke: list[tuple[str, float]] = []

    async def main() -> None:
        b = network.endpoint(B)
        network.endpoint(A)
        network.schedule(0.003, b"x", A, B)
        async with trio.open_nursery() as nursery:

            async def receive() -> None:
                await b.recv()
                woke.append(("delivery", trio.current_time()))

            nursery.start_soon(receive)
            await network.sleep_until(0.002)
            woke.append(("slept", trio.current_time()))
            with trio.move_on_after(0.001):
                await network.sleep_until(1.0)
            woke.append(("cancelled", trio.current_time()))

    run_sim(main, network)
    assert sorted((round(t, 6), n) for n, t in woke) == [(0.002, "slept"), (0.003, "cancelled"), (0.003, "delivery")]


def test_messenger_timers_on_the_driving_network_fire_on_time_after_the_datagrams_due_with_them() -> None:
    """Under the network's clock a messenger's timers wait on the network's alarm (no cancel scope), fire on
    time when moved earlier or later, and a timer due with a datagram fires after that datagram was handled."""
    from minikeydb.testing.network import _NetworkAlarm

    network = MemoryNetwork(latency=0.0, tick=0.001)
    events: list[tuple[str, float]] = []

    async def main() -> None:
        a = network.endpoint(A)
        messenger = Messenger(a, Codec(b"secret"), random.Random(1), Counter())
        assert isinstance(messenger._alarm, _NetworkAlarm)
        b = network.endpoint(B)
        async with trio.open_nursery() as nursery:
            await nursery.start(messenger.run_timers)

            async def receive() -> None:
                while True:
                    data, _src = await a.recv()
                    events.append((data.decode(), trio.current_time()))

            nursery.start_soon(receive)
            await network.sleep_until(0.001)
            late = messenger.call_later(0.009, lambda: events.append(("late", trio.current_time())))
            messenger.call_later(0.004, lambda: events.append(("timer", trio.current_time())))  # moved earlier
            early = messenger.call_later(0.001, lambda: events.append(("cancelled", trio.current_time())))
            messenger.cancel_timer(early)  # moved later again
            b.send_nowait(b"datagram", A)  # due at 0.001 + 0 latency: the next tick, with nothing else
            network.schedule(0.004, b"same-instant", B, A)  # due at 0.005, with the timer
            messenger.cancel_timer(late)
            await network.sleep_until(0.02)
            nursery.cancel_scope.cancel()

    run_sim(main, network)
    assert [(n, round(t, 6)) for n, t in events] == [("datagram", 0.001), ("same-instant", 0.005), ("timer", 0.005)]
