"""The overall time limit of a check (issue 16): one deadline for reading, pairing, compiling and
searching, checked every few thousand lines or events so that checking it costs nothing.

When it runs out outside the search, `TimeLimitExceeded` says in which phase and how far it got;
the linearizability checker turns that into an `unknown` verdict with that reason.
"""

from __future__ import annotations

from time import perf_counter

#: How often (lines, events: a power of two, minus one, as a mask) a long loop looks at the clock.
EVERY = 0x1FFF


class TimeLimitExceeded(Exception):
    """The overall time limit ran out while `phase`; `reason` is the sentence for the results."""

    def __init__(self, limit: float, phase: str, where: str = "", started: float | None = None) -> None:
        self.limit = limit
        self.phase = phase
        #: when the limit began to count (`time.perf_counter()`), when known
        self.started = started
        self.reason = f"the overall time limit of {limit} s ran out while {phase}" + (f" ({where})" if where else "")
        super().__init__(self.reason)


class TimeLimit:
    """`limit` seconds from `started` (a `time.perf_counter()` moment; default now)."""

    __slots__ = ("deadline", "limit", "started")

    def __init__(self, limit: float, started: float | None = None) -> None:
        self.limit = limit
        self.started = perf_counter() if started is None else started
        self.deadline = self.started + limit

    def passed(self) -> bool:
        """Whether the limit has run out."""
        return perf_counter() > self.deadline

    def exceeded(self, phase: str, where: str = "") -> TimeLimitExceeded:
        """The error saying that this limit ran out while `phase` (at `where`)."""
        return TimeLimitExceeded(self.limit, phase, where, self.started)

    def check(self, phase: str, where: str = "") -> None:
        """Raise `TimeLimitExceeded` naming `phase` (and `where`) when the limit has run out."""
        if perf_counter() > self.deadline:
            raise TimeLimitExceeded(self.limit, phase, where, self.started)

#: The phases named in a reason.
READING = "reading the history"
COMPILING = "pairing and compiling the operations"
