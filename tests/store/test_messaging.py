"""Event-driven requests (Messenger.call): a reply, resends on timers, giving up, and stopping early."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import trio
import trio.testing

from minikeydb.messaging import Backoff, Messenger
from minikeydb.testing.network import MemoryNetwork
from minikeydb.wire import Ack, Codec, Message, Read

CODEC = Codec(b"secret")
ASKER, ANSWERER, NOBODY = ("mem", 1), ("mem", 2), ("mem", 3)
BACKOFF = Backoff(initial=0.05, cap=0.2, attempts=4)


async def start_asker(nursery: trio.Nursery, network: MemoryNetwork) -> Messenger:
    """A messenger whose timers run and whose receive loop hands replies over, as a node's does."""
    messenger = Messenger(network.endpoint(ASKER), CODEC, random.Random(1), Counter())
    await nursery.start(messenger.run_timers)

    async def receive() -> None:
        while True:
            data, src = await messenger.transport.recv()
            message = messenger.decode(data, src)
            if message is not None:
                messenger.resolve(message)

    nursery.start_soon(receive)
    return messenger


async def test_call_hands_the_reply_to_its_callback(autojump_clock: trio.testing.MockClock) -> None:
    """A call to a node that answers gets exactly that reply, once, and sends no resend."""
    network = MemoryNetwork(latency=0.001)
    answerer = network.endpoint(ANSWERER)
    got: list[Message | None] = []
    async with trio.open_nursery() as nursery:
        asker = await start_asker(nursery, network)
        asker.call(Read(7, "n1", "k"), ANSWERER, BACKOFF, got.append)
        data, src = await answerer.recv()
        request = CODEC.decode(data)
        answerer.send_nowait(CODEC.encode(Ack(request.id, "n2")), src)
        await trio.sleep(1.0)
        nursery.cancel_scope.cancel()
    assert got == [Ack(7, "n2")]
    assert asker.counters["retries"] == 0 and asker.waiting == 0


async def test_call_resends_then_gives_up_with_none(autojump_clock: trio.testing.MockClock) -> None:
    """A call nobody answers is sent once per backoff attempt, then its callback gets None."""
    network = MemoryNetwork(latency=0.001)
    network.endpoint(NOBODY)
    got: list[Message | None] = []
    async with trio.open_nursery() as nursery:
        asker = await start_asker(nursery, network)
        asker.call(Read(8, "n1", "k"), NOBODY, BACKOFF, got.append)
        await trio.sleep(5.0)
        nursery.cancel_scope.cancel()
    assert got == [None]
    assert asker.counters["retries"] == BACKOFF.attempts - 1
    assert asker.counters["datagrams_sent"] == BACKOFF.attempts
    assert asker.waiting == 0


async def test_call_stops_resending_once_keep_trying_says_no(autojump_clock: trio.testing.MockClock) -> None:
    """keep_trying is asked before each resend; once it is False the call ends (None) with no more sends."""
    network = MemoryNetwork(latency=0.001)
    network.endpoint(NOBODY)
    got: list[Message | None] = []
    wanted = [True]
    async with trio.open_nursery() as nursery:
        asker = await start_asker(nursery, network)
        asker.call(Read(9, "n1", "k"), NOBODY, BACKOFF, got.append, keep_trying=lambda: wanted[0])
        await trio.sleep(0.07)  # the first resend went out
        wanted[0] = False
        await trio.sleep(5.0)
        nursery.cancel_scope.cancel()
    assert got == [None]
    assert asker.counters["datagrams_sent"] == 2


async def test_timers_fire_in_deadline_order_and_cancelled_ones_never(autojump_clock: trio.testing.MockClock) -> None:
    """call_later timers fire in deadline order (ties in the order set), at their coalesced time;
    a cancelled one, even the earliest, never fires, and cancelling a fired one changes nothing."""
    network = MemoryNetwork(latency=0.001)
    fired: list[tuple[str, float]] = []
    async with trio.open_nursery() as nursery:
        messenger = await start_asker(nursery, network)

        def at(name: str) -> Callable[[], None]:
            return lambda: fired.append((name, round(trio.current_time(), 6)))

        late = messenger.call_later(0.3, at("late"))
        first = messenger.call_later(0.1, at("first"))
        tie = messenger.call_later(0.1, at("tie"))
        gone = messenger.call_later(0.05, at("gone"))
        middle = messenger.call_later(0.2004, at("middle"))
        messenger.cancel_timer(gone)  # the earliest: the timer task's wake-up moves on
        assert gone.cancelled and not first.cancelled and middle.deadline == 0.201
        await trio.sleep(1.0)
        messenger.cancel_timer(late)  # fired already
        nursery.cancel_scope.cancel()
    assert fired == [("first", 0.1), ("tie", 0.1), ("middle", 0.201), ("late", 0.3)]
    assert tie.cancelled and messenger.counters["timer_errors"] == 0
