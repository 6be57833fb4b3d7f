"""The services the harness serves to nodes, with the semantics Maelstrom documents (``doc/services.md``).

- ``lin-kv``: a linearizable key-value store: each request takes effect when it arrives.
- ``seq-kv``: sequentially consistent: one total order of every write to every key (a global
  timeline, as Maelstrom's own seq-kv keeps); each caller has a point on it that only moves
  forward, and a read returns the key as it was at some point between the caller's and now (how
  old is drawn from the run's seed), which becomes the caller's point; a write, or any cas, takes
  effect at (or looks at) the latest state and brings the caller's point there, for EVERY key (so a
  node that writes anything, then reads, sees everything up to its write: the Glomers trick).
- ``lww-kv``: last-write-wins, eventually consistent: a read returns one of the key's recent
  versions (drawn), with no promise of monotonicity.
- ``lin-tso``: a linearizable timestamp oracle: ``ts`` -> ``ts_ok`` with a strictly increasing ``ts``.

KV requests: ``read {key}`` -> ``read_ok {value}`` or error 20 (key-does-not-exist);
``write {key, value}`` -> ``write_ok``; ``cas {key, from, to, create_if_not_exists}`` -> ``cas_ok``,
error 20 when the key is absent (unless ``create_if_not_exists``), error 22 (precondition-failed)
when its value is not ``from``. Anything else is error 10 (not-supported) or 12 (malformed-request).

What the harness keeps is bounded, so that a node cannot exhaust the harness's memory through the services:
each KV service holds at most ``MAX_KEYS`` keys, and seq-kv and lww-kv at most ``KEEP_VERSIONS`` versions of
a key (lin-kv only the latest); and the values and keys the three KV services hold together stay under
``MAX_VALUE_BYTES``, each version counted as its JSON text plus ``VERSION_OVERHEAD`` bytes (what Python spends
on a small value and its slots besides the text: measured about 90 bytes for a one-byte value, so 64 versions
of ``0`` per key cost about what they take). For large values the text dominates, and Python's objects can
still take a few times it (a list of small integers about 5x): the budget bounds the memory to that factor. A write or cas that would go past a cap is refused with error 11
(temporarily-unavailable, which Maelstrom calls definite: nothing was written), counted in ``refused``
and said in the run's summary; a cas whose precondition fails stores nothing and is judged as usual.
Keys are compared as JSON values (``1`` and ``"1"`` are different keys; an object's members in any
order are the same object, as Maelstrom's maps are), and so are cas's ``from`` and the current value.
"""

from __future__ import annotations

import bisect
import json
import random
from typing import Any

import orjson

from .protocol import (
    KEY_DOES_NOT_EXIST,
    MALFORMED,
    NOT_SUPPORTED,
    PRECONDITION_FAILED,
    TEMPORARILY_UNAVAILABLE,
    dumps,
    error_body,
)

KEEP_VERSIONS = 64
"""Versions kept per key for stale reads (seq-kv, lww-kv); older ones are forgotten."""
MAX_KEYS = 200_000
"""Keys one service holds at most: a write or cas that would create another is refused with error 11
(temporarily-unavailable, definite), so a node writing ever-new keys cannot exhaust the harness's memory."""
VERSION_OVERHEAD = 100
"""Bytes each stored version counts in the budget besides its JSON text (Python's per-object cost)."""
MAX_VALUE_BYTES = 128 << 20
"""Bytes of JSON text (keys, and every kept version's value, each plus ``VERSION_OVERHEAD``) the KV services hold together at most: a write
or cas that would hold more is refused with error 11 (a 1 MB value written in a loop took the harness past
377 MB and growing)."""
_ABSENT = object()


class ByteBudget:
    """The bytes the KV services of one run hold together (``MAX_VALUE_BYTES`` by default), shared by all."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = MAX_VALUE_BYTES if limit is None else limit
        self.used = 0


def _canonical(value: Any) -> bytes:
    """``value`` as JSON with every object's members sorted: equal JSON values, equal bytes."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # integers beyond 64 bits
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def _key(body: dict[str, Any]) -> bytes:
    # A copy: orjson's bytes keep about 1 KiB of spare capacity each, which kept keys would hold forever.
    return bytes(memoryview(_canonical(body.get("key"))))


class KVService:
    """One of the key-value services; ``mode`` is ``lin``, ``seq`` or ``lww``."""

    def __init__(self, name: str, mode: str, rng: random.Random, budget: ByteBudget | None = None) -> None:
        self.name = name
        self.mode = mode
        self.rng = rng
        self.budget = budget if budget is not None else ByteBudget()
        self.sizes: dict[bytes, list[int]] = {}
        """Per key, the JSON size of each kept version (parallel to ``versions``)."""
        self.refused = 0
        """Writes and cas refused at a cap (``MAX_KEYS`` or the byte budget): error 11."""
        self.versions: dict[bytes, list[Any]] = {}
        """Per key, its versions oldest first (``_ABSENT`` first for a key that was created)."""
        self.times: dict[bytes, list[int]] = {}
        """Per key, the global time each kept version was written at (``_ABSENT``'s: 0)."""
        self.dropped: dict[bytes, int] = {}
        """Per key, how many of its oldest versions were forgotten (positions stay absolute)."""
        self.clock = 0
        """seq-kv: the global timeline, one tick per write (to any key)."""
        self.seen: dict[str, int] = {}
        """seq-kv: per caller, its point on the global timeline (only moves forward)."""
        self.requests = 0

    def __call__(self, caller: str, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        kind = body.get("type")
        msg_id = body.get("msg_id")
        if "key" not in body and kind in ("read", "write", "cas"):
            return error_body(msg_id, MALFORMED, f"{self.name}: {kind} needs a 'key'")
        if kind == "read":
            value = self._read(caller, _key(body))
            if value is _ABSENT:
                return error_body(msg_id, KEY_DOES_NOT_EXIST, "key does not exist")
            return {"type": "read_ok", "in_reply_to": msg_id, "value": value}
        if kind in ("write", "cas") and len(self.versions) >= MAX_KEYS and _key(body) not in self.versions:
            self.refused += 1
            return error_body(msg_id, TEMPORARILY_UNAVAILABLE,
                              f"{self.name} holds {MAX_KEYS} keys, the harness's cap: no new key")
        if kind == "write":
            if "value" not in body:
                return error_body(msg_id, MALFORMED, f"{self.name}: write needs a 'value'")
            key = _key(body)
            change = self._cost(key, body["value"])
            if change is None:
                return self._over_budget(msg_id)
            self._write(caller, key, body["value"], change)
            return {"type": "write_ok", "in_reply_to": msg_id}
        if kind == "cas":
            if "from" not in body or "to" not in body:
                return error_body(msg_id, MALFORMED, f"{self.name}: cas needs 'from' and 'to'")
            key = _key(body)
            current = self._latest(key)
            if current is _ABSENT and not body.get("create_if_not_exists"):
                return error_body(msg_id, KEY_DOES_NOT_EXIST, "key does not exist")
            if current is not _ABSENT and _canonical(current) != _canonical(body["from"]):
                if self.mode == "seq":  # it compared against the latest state: the caller has seen it
                    self.seen[caller] = self.clock
                return error_body(msg_id, PRECONDITION_FAILED,
                                  f"expected {dumps(body['from']).decode()[:60]}, "
                                  f"but had {dumps(current).decode()[:60]}")
            change = self._cost(key, body["to"])
            if change is None:
                return self._over_budget(msg_id)
            self._write(caller, key, body["to"], change)
            return {"type": "cas_ok", "in_reply_to": msg_id}
        return error_body(msg_id, NOT_SUPPORTED, f"{self.name} does not support {kind!r}")

    def _latest(self, key: bytes) -> Any:
        versions = self.versions.get(key)
        return versions[-1] if versions else _ABSENT

    def _cost(self, key: bytes, value: Any) -> tuple[int, int] | None:
        """(the value's JSON size, the change in the bytes held) if writing ``value`` to ``key`` keeps the
        services within their byte budget; None if it would not."""
        size = len(_canonical(value)) + VERSION_OVERHEAD
        sizes = self.sizes.get(key)
        if sizes is None:
            change = len(key) + size
        elif self.mode == "lin":
            change = size - sizes[-1]
        else:
            change = size - sum(sizes[:max(0, len(sizes) + 1 - KEEP_VERSIONS)])
        if change > 0 and self.budget.used + change > self.budget.limit:
            return None
        return size, change

    def _over_budget(self, msg_id: Any) -> dict[str, Any]:
        self.refused += 1
        return error_body(msg_id, TEMPORARILY_UNAVAILABLE,
                          f"the harness's services hold {self.budget.used} bytes of values, and this write would "
                          f"go past their cap of {self.budget.limit} bytes: nothing written")

    def _write(self, caller: str, key: bytes, value: Any, cost: tuple[int, int]) -> None:
        self.clock += 1
        size, change = cost
        self.budget.used += change
        if self.mode == "lin":  # reads see only the latest: keep nothing else
            self.versions[key] = [value]
            self.sizes[key] = [size]
            return
        versions = self.versions.setdefault(key, [_ABSENT])
        times = self.times.setdefault(key, [0])
        sizes = self.sizes.setdefault(key, [0])
        versions.append(value)
        times.append(self.clock)
        sizes.append(size)
        if len(versions) > KEEP_VERSIONS:
            cut = len(versions) - KEEP_VERSIONS
            del versions[:cut]
            del times[:cut]
            del sizes[:cut]
            self.dropped[key] = self.dropped.get(key, 0) + cut
        if self.mode == "seq":
            self.seen[caller] = self.clock

    def _read(self, caller: str, key: bytes) -> Any:
        versions = self.versions.get(key)
        if not versions:
            return _ABSENT
        if self.mode == "lin":
            return versions[-1]
        base = self.dropped.get(key, 0)
        newest = base + len(versions) - 1
        if self.mode == "seq":
            # The version current at the caller's point (the last one written at or before it), or any later.
            times = self.times[key]
            floor = self.seen.get(caller, 0)
            oldest = base + max(0, bisect.bisect_right(times, floor) - 1)
            position = self.rng.randint(oldest, newest)
            self.seen[caller] = max(floor, times[position - base])
        else:
            position = self.rng.randint(max(base, newest - 4), newest)
        return versions[position - base]


class TSOService:
    """``lin-tso``: ``ts`` -> ``ts_ok {ts}``, strictly increasing from 0."""

    name = "lin-tso"

    def __init__(self) -> None:
        self.next = 0
        self.requests = 0

    def __call__(self, caller: str, body: dict[str, Any]) -> dict[str, Any]:
        self.requests += 1
        msg_id = body.get("msg_id")
        if body.get("type") != "ts":
            return error_body(msg_id, NOT_SUPPORTED, f"lin-tso does not support {body.get('type')!r}")
        ts = self.next
        self.next += 1
        return {"type": "ts_ok", "in_reply_to": msg_id, "ts": ts}


def make_services(seed: object) -> dict[str, Any]:
    """Every service by name, each with its own seeded random stream."""
    budget = ByteBudget()
    return {
        "lin-kv": KVService("lin-kv", "lin", random.Random(f"{seed}/maelstrom/service/lin-kv"), budget),
        "seq-kv": KVService("seq-kv", "seq", random.Random(f"{seed}/maelstrom/service/seq-kv"), budget),
        "lww-kv": KVService("lww-kv", "lww", random.Random(f"{seed}/maelstrom/service/lww-kv"), budget),
        "lin-tso": TSOService(),
    }
