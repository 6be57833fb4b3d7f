"""Messages over a transport: encoding, counting, and request/response with retries and backoff.

Both nodes and clients speak through a ``Messenger``. It owns the table of requests waiting for a
reply, so a reply that arrives twice (a duplicated datagram, or the answer to a resend) wakes its
waiter once and is otherwise ignored, and a reply nobody waits for is harmless.

A request is waited for in one of two ways. ``request`` is a task awaiting its reply, for callers
that have a task anyway (clients, anti-entropy, hints). ``call`` hands the reply to a function,
from the receive loop, and runs its resends on ``call_later`` timers: an event-driven sender
(replication batches, a coordinator's reads) then needs no task, and no scheduler pass, per
message. The timers live in one heap served by one task (``run_timers``), which sleeps until the earliest one
and is not woken for timers cancelled before they fire. Deadlines are rounded up to whole
``TIMER_GRANULARITY`` (timer coalescing, as kernels do with timer slack): timers due close
together share one wake-up, and under simulation's clock, which delivers datagrams on the same
millisecond grid, a resend timeout costs no wake-up of its own.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import trio

from .transport import Address, Transport, alarm_for
from .wire import REPLAY_WINDOW, AuthError, Codec, Message, StaleError, WireError

log = logging.getLogger("minikeydb.messaging")

CACHE_AGE = REPLAY_WINDOW + 5.0
"""Request-id cache entries older than this protect nothing: their datagrams are dropped as stale."""


def forget_old(cache: OrderedDict[Any, Any], now: float, limit: int, at: int | None = None) -> None:
    """Drop a request-id cache's oldest entries while there are too many or they are older than ``CACHE_AGE``.

    An entry's time is its value (``at`` None) or item ``at`` of its value. Entries are added
    in time order, so the oldest is always at the front.
    """
    while cache:
        for oldest in cache.values():  # the first value only: next(iter(...)) without the two calls
            if len(cache) <= limit and now - (oldest if at is None else oldest[at]) <= CACHE_AGE:
                return
            break
        cache.popitem(last=False)

AUTH_WARNINGS = 100
"""Senders whose failing datagrams are logged as a warning (once each); past that, debug only."""
TIMER_GRANULARITY = 0.001
"""Timers fire on whole milliseconds of trio time: at most this much late, never early."""


def coalesced(deadline: float, step: float = TIMER_GRANULARITY) -> float:
    """``deadline`` rounded up to a whole number of ``step``s (a millionth of a step of float error
    aside, so a time already on the grid stays where it is)."""
    return math.ceil(deadline / step - 1e-6) * step


@attrs.define
class Backoff:
    """Exponential backoff with jitter: ``initial``, doubling up to ``cap``, for ``attempts`` sends."""

    initial: float
    cap: float
    attempts: int
    factor: float = 2.0
    jitter: float = 0.25

    def delays(self, rng: random.Random, first: float | None = None) -> Iterator[float]:
        """The wait after each send, drawn lazily: most requests are answered before a resend."""
        delay = max(self.initial, first or 0.0)
        # rng.uniform(-jitter, jitter) is ``a + (b - a) * random()``: the same floats, a call less per send
        low = -self.jitter
        span = self.jitter - low
        draw = rng.random
        for _ in range(self.attempts):
            yield delay * (1 + (low + span * draw()))
            delay = min(delay * self.factor, self.cap)


class _Waiter:
    """A task in ``request`` waiting for its reply: woken by the reply or by its resend timer."""

    __slots__ = ("task", "reply", "parked", "timer", "messenger")

    def __init__(self, task: trio.lowlevel.Task, messenger: Messenger) -> None:
        self.task = task
        self.reply: Message | None = None
        self.parked = False
        self.timer: Timer | None = None
        self.messenger = messenger

    def unpark(self) -> None:
        """The resend timer fired: wake the request (``Messenger._unpark``)."""
        self.messenger._unpark(self)

    def abort(self, _: object) -> trio.lowlevel.Abort:
        """The parked request was cancelled: its timer goes too."""
        self.parked = False
        if self.timer is not None:
            self.messenger.cancel_timer(self.timer)
            self.timer = None
        return trio.lowlevel.Abort.SUCCEEDED


class Timer(list[Any]):
    """A function to call at a trio time, unless cancelled first (see ``Messenger.call_later``).

    The timer is its own heap entry, ``[deadline, order, fire]``: a list, so making one and
    ordering the heap are done in C (``order`` is unique, so ``fire`` is never compared), and
    ``fire`` becomes None once the timer is cancelled or has fired.
    """

    __slots__ = ()

    @property
    def deadline(self) -> float:
        return self[0]

    @property
    def cancelled(self) -> bool:
        return self[2] is None


def clock_reader() -> Callable[[], float]:
    """What ``trio.current_time()`` reads, without its two wrappers: the running Trio clock's own
    ``current_time`` (the same value: ``trio.current_time`` calls it), read per datagram by a
    messenger; ``trio.current_time`` itself outside a Trio run."""
    try:
        return trio.lowlevel.current_clock().current_time
    except RuntimeError:
        return trio.current_time


class Messenger:
    """One endpoint's way of talking: send, decode, and wait for replies to its requests."""

    def __init__(self, transport: Transport, codec: Codec, rng: random.Random, counters: Counter[str]) -> None:
        self.transport = transport
        self.now = clock_reader()
        """Trio's clock (``clock_reader``): the one its timers and request times are read on."""
        self.codec = codec
        self._auth_warned: set[Address] = set()
        self.rng = rng
        self.counters = counters
        self._waiting: dict[int, _Waiter | Callable[[Message], None]] = {}
        self._timers: list[Timer] = []
        self._timer_order = itertools.count()
        self._alarm = alarm_for(transport)
        self._alarm_at: float | None = None  # the timer task's wake-up while it waits, else None
        self._timers_running = False
        # Per destination: smoothed round-trip time and its variation (RFC 6298), so resends wait
        # as long as answers currently take instead of firing while the answer is on its way.
        self._rtt: dict[Address, tuple[float, float]] = {}

    def retransmit_timeout(self, dest: Address) -> float | None:
        """How long to wait for ``dest`` before resending: SRTT + 4 RTTVAR, or None before any sample."""
        estimate = self._rtt.get(dest)
        return None if estimate is None else estimate[0] + 4 * estimate[1]

    def sample_rtt(self, dest: Address, rtt: float) -> None:
        """Feed one unambiguous round trip (Karn: never the answer to a resend) into the estimate."""
        estimate = self._rtt.get(dest)
        if estimate is None:
            self._rtt[dest] = (rtt, rtt / 2)
        else:
            srtt, var = estimate
            var = 0.75 * var + 0.25 * (srtt - rtt if srtt > rtt else rtt - srtt)  # abs(srtt - rtt), the same float
            self._rtt[dest] = (0.875 * srtt + 0.125 * rtt, var)

    def new_id(self) -> int:
        return self.rng.getrandbits(62) + 1

    async def send(self, message: Message, dest: Address) -> None:
        data = self.codec.encode(message)
        self.counters["datagrams_sent"] += 1  # send_bytes, inline (a coroutine less per message)
        await self.transport.send(data, dest)

    async def send_bytes(self, data: bytes, dest: Address) -> None:
        self.counters["datagrams_sent"] += 1
        await self.transport.send(data, dest)

    def send_bytes_nowait(self, data: bytes, dest: Address) -> None:
        self.counters["datagrams_sent"] += 1
        self.transport.send_nowait(data, dest)

    # -- event-driven requests -------------------------------------------------------------------

    def expect(self, request_id: int, on_reply: Callable[[Message], None]) -> None:
        """Hand replies with this id to ``on_reply`` (in the receive loop) until ``forget``."""
        self._waiting[request_id] = on_reply

    def forget(self, request_id: int) -> None:
        self._waiting.pop(request_id, None)

    def call_later(self, delay: float, fire: Callable[[], None]) -> Timer:
        """Call ``fire`` after ``delay`` seconds (from the timer task) unless the timer is cancelled."""
        # coalesced(now + delay), inline: a timer per request sent
        deadline = math.ceil((self.now() + delay) / TIMER_GRANULARITY - 1e-6) * TIMER_GRANULARITY
        timer = Timer((deadline, next(self._timer_order), fire))
        heapq.heappush(self._timers, timer)
        at = self._alarm_at
        if at is not None and deadline < at:
            self._alarm_at = deadline
            self._alarm.reset(deadline)
        return timer

    def cancel_timer(self, timer: Timer) -> None:
        """Cancel a timer; when it was the earliest, the timer task's wake-up moves to the next one."""
        timer[2] = None  # cancelled
        timers = self._timers
        if timers and timers[0] is timer:
            while timers and timers[0][2] is None:
                heapq.heappop(timers)
            if self._alarm_at is not None:
                self._alarm_at = timers[0][0] if timers else math.inf
                self._alarm.reset(self._alarm_at)

    async def sleep(self, seconds: float) -> None:
        """``trio.sleep``, waiting on the transport's alarm (``alarm_for``): in simulation, woken by the
        network's clock driver like a delivery instead of through a cancel scope's deadline."""
        await alarm_for(self.transport).wait_until(self.now() + seconds)

    async def run_timers(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve ``call_later`` timers until cancelled (a node runs this; clients do not need it)."""
        task_status.started()
        timers = self._timers
        self._timers_running = True
        try:
            await self._serve_timers(timers)
        finally:
            self._timers_running = False

    async def _serve_timers(self, timers: list[Timer]) -> None:
        while True:
            while timers and timers[0][2] is None:  # never wake up for a timer nobody wants (cancelled)
                heapq.heappop(timers)
            self._alarm_at = at = timers[0][0] if timers else math.inf
            try:
                await self._alarm.wait_until(at)
            finally:
                self._alarm_at = None
            now = self.now()
            while timers and timers[0][0] <= now:
                timer = heapq.heappop(timers)
                fire = timer[2]
                if fire is not None:  # not cancelled
                    timer[2] = None  # fired: cancelling it later changes nothing
                    try:
                        fire()
                    except Exception:  # one failing callback must not stop every other timer
                        self.counters["timer_errors"] += 1
                        log.exception("timer callback %r failed", fire)

    def decode(self, data: bytes, src: Address) -> Message | None:
        """The message in a datagram, or None after counting why it was dropped."""
        try:
            return self.codec.decode(data)
        except WireError as exc:
            self.dropped(exc, src)
        return None

    def dropped(self, exc: WireError, src: Address) -> None:
        """Count (and log) a datagram ``codec.decode`` refused with ``exc``: ``decode``'s drop, for a
        receive loop that calls the codec itself (a Python call less per datagram)."""
        if isinstance(exc, AuthError):
            self.counters["dropped_auth"] += 1
            if src not in self._auth_warned and len(self._auth_warned) < AUTH_WARNINGS:
                self._auth_warned.add(src)  # once per sender: a stray or hostile one cannot flood the log
                log.warning("dropping datagrams from %s: they fail authentication (another secret or another "
                            "conflict mode; %s)", src, exc)
            else:
                log.debug("dropped datagram from %s: %s", src, exc)
        elif isinstance(exc, StaleError):
            self.counters["dropped_stale"] += 1
            log.debug("dropped datagram from %s: %s", src, exc)
        else:
            self.counters["dropped_malformed"] += 1
            log.debug("dropped datagram from %s: %s", src, exc)

    def resolve(self, reply: Message) -> bool:
        """Hand a reply to the request waiting for it; False when no one waits (late or duplicate)."""
        waiter = self._waiting.get(reply.id)
        if waiter is None:
            self.counters["replies_unmatched"] += 1
            return False
        if type(waiter) is not _Waiter:
            waiter(reply)  # type: ignore[operator]  # a callback: mypy does not narrow on `type(x) is not C`
            return True
        if waiter.reply is not None:
            self.counters["replies_unmatched"] += 1
            return False
        waiter.reply = reply
        self._unpark(waiter)
        return True

    def _unpark(self, waiter: _Waiter) -> None:
        """Wake a waiter parked in ``request`` (its reply came, or its wait is over)."""
        if waiter.timer is not None:
            self.cancel_timer(waiter.timer)
            waiter.timer = None
        if waiter.parked:
            waiter.parked = False
            trio.lowlevel.reschedule(waiter.task)

    async def request(
        self, message: Message, dest: Address, backoff: Backoff, keep_trying: Callable[[], bool] | None = None
    ) -> Message | None:
        """Send ``message`` until a reply with its id arrives; None when every attempt went unanswered.

        Every resend carries the same id, so the receiver can recognise and de-duplicate it.
        ``keep_trying``, when given, is asked before each resend; False ends the attempts early.
        The wait is a timer on the messenger's heap and a direct wake-up, not a cancel scope
        and an event per attempt, when ``run_timers`` is running (nodes and connected clients);
        without it, ``trio.move_on_after`` keeps the same behaviour.
        """
        waiter = _Waiter(trio.lowlevel.current_task(), self)
        self._waiting[message.id] = waiter
        data = self.codec.encode(message)
        estimate = self._rtt.get(dest)  # retransmit_timeout(dest), inline
        first = None if estimate is None else estimate[0] + 4 * estimate[1]
        counters, transport = self.counters, self.transport
        try:
            for attempt, delay in enumerate(backoff.delays(self.rng, first)):
                if attempt:
                    if keep_trying is not None and not keep_trying():
                        return None
                    counters["retries"] += 1
                sent = self.now()
                counters["datagrams_sent"] += 1  # send_bytes, inline (a coroutine less per attempt)
                await transport.send(data, dest)
                if waiter.reply is None:
                    if self._timers_running:  # _wait_reply's usual case, inline (a coroutine less per request)
                        waiter.timer = self.call_later(delay, waiter.unpark)
                        waiter.parked = True
                        await trio.lowlevel.wait_task_rescheduled(waiter.abort)
                    else:
                        await self._wait_reply(waiter, delay)
                if waiter.reply is not None:
                    if attempt == 0:  # Karn: only an unambiguous answer times the round trip
                        self.sample_rtt(dest, self.now() - sent)
                    return waiter.reply
            return None
        finally:
            del self._waiting[message.id]
            if waiter.timer is not None:
                self.cancel_timer(waiter.timer)

    def call(
        self, message: Message, dest: Address, backoff: Backoff, on_done: Callable[[Message | None], None],
        keep_trying: Callable[[], bool] | None = None,
    ) -> None:
        """``request`` without a task: ``on_done`` gets the reply, or None when every attempt
        went unanswered (or ``keep_trying``, asked before each resend, said False). Resends run on
        the messenger's timers (``run_timers`` must be running) and the reply is handed over in
        the receive loop, so a request costs no scheduler pass of its own. Sends never wait: a
        full send buffer is a lost datagram, which resends cover.
        """
        call = _Call(self, message, dest, backoff, on_done, keep_trying)
        self._waiting[call.id] = call._on_reply  # expect(), inline (every replication batch, every read)
        call._send()

    async def _wait_reply(self, waiter: _Waiter, delay: float) -> None:
        """Park until the reply arrives or ``delay`` passes (cancellation ends it too)."""
        if not self._timers_running:
            with trio.move_on_after(delay):
                waiter.parked = True
                await trio.lowlevel.wait_task_rescheduled(waiter.abort)
            return
        waiter.timer = self.call_later(delay, waiter.unpark)
        waiter.parked = True
        await trio.lowlevel.wait_task_rescheduled(waiter.abort)

    @property
    def waiting(self) -> int:
        return len(self._waiting)


class _Call:
    """One event-driven request (``Messenger.call``): its datagram, attempts and resend timer."""

    __slots__ = ("messenger", "id", "data", "dest", "delays", "on_done", "keep_trying", "attempt", "sent_at", "timer")

    def __init__(
        self, messenger: Messenger, message: Message, dest: Address, backoff: Backoff,
        on_done: Callable[[Message | None], None], keep_trying: Callable[[], bool] | None = None,
    ) -> None:
        self.messenger = messenger
        self.id = message.id
        self.data = messenger.codec.encode(message)
        self.dest = dest
        estimate = messenger._rtt.get(dest)  # retransmit_timeout(dest), inline
        self.delays = backoff.delays(messenger.rng, None if estimate is None else estimate[0] + 4 * estimate[1])
        self.on_done = on_done
        self.keep_trying = keep_trying
        self.attempt = 0
        self.sent_at = 0.0
        self.timer: Timer | None = None

    def _send(self) -> None:
        delay = next(self.delays, None)
        if delay is None:  # every attempt went unanswered
            self._finish(None)
            return
        messenger = self.messenger
        if self.attempt:
            messenger.counters["retries"] += 1
        self.sent_at = messenger.now()
        messenger.counters["datagrams_sent"] += 1  # send_bytes_nowait, inline
        messenger.transport.send_nowait(self.data, self.dest)
        self.timer = messenger.call_later(delay, self._on_timeout)

    def _on_timeout(self) -> None:
        self.timer = None
        if self.keep_trying is not None and not self.keep_trying():
            self._finish(None)
            return
        self.attempt += 1
        self._send()

    def _on_reply(self, reply: Message) -> None:
        messenger = self.messenger
        if self.attempt == 0:  # Karn: only an unambiguous answer times the round trip
            messenger.sample_rtt(self.dest, messenger.now() - self.sent_at)
        if self.timer is not None:
            messenger.cancel_timer(self.timer)
            self.timer = None
        messenger._waiting.pop(self.id, None)  # _finish, inline (every answered call)
        self.on_done(reply)

    def _finish(self, reply: Message | None) -> None:
        self.messenger._waiting.pop(self.id, None)  # forget(), inline
        self.on_done(reply)
