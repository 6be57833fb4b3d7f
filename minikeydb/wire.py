"""The wire format: a versioned, authenticated envelope around one message.

A datagram is ``MAGIC (2 bytes) | VERSION (1) | SENT (8) | TAG (32) | PAYLOAD``. The payload is a
JSON array ``[kind, field, field, ...]`` (orjson: measured fastest here, see
docs/storage-and-codec.md). ``SENT`` is the sender's clock in milliseconds. The tag is keyed
BLAKE2b-256 (BLAKE2's own MAC mode, RFC 7693; a third of HMAC-SHA256's cost per datagram here)
over everything before it and the payload, keyed by the cluster secret, so a stray or forged
datagram is told apart from a real one before any of it is believed, and a recorded datagram
replayed later than ``REPLAY_WINDOW`` seconds is refused (``StaleError``). Within the window a
replay is harmless by construction: a client's ``Put``/``Delete`` carries the version stamp the
client chose (under the tag), so every copy of it, to any node and from any port, is the same
version, which last-writer-wins stores at most once and which loses to every later write; the
reply cache (keyed by client id and request id) only saves the work. Replicas acknowledge a
replication id they have seen without applying it again.

Every message is a frozen attrs class with a declared field order and field types. Decoding checks
all of them and raises ``WireError`` for anything else: the receive loop counts and drops such a
datagram, it never lets the error escape. Sizes are bounded: a key up to 1 KiB, a value up to
32 KiB, a datagram up to ``MAX_DATAGRAM`` bytes, so one request always fits one datagram. So are
numbers: a stamp's physical time below ``MAX_PHYSICAL_US``, its counter below ``MAX_LOGICAL``,
ids below ``MAX_ID``, node ids at most ``MAX_NODE_ID`` characters, and lists that cannot be empty
(records to replicate, keys to pull, ranges) are not, so one signed datagram from an insider
cannot overflow a hybrid clock or raise in a handler.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Sequence
from hmac import compare_digest
from typing import Any, ClassVar, TypeVar

import attrs
import orjson

from .hlc import LOGICAL_LIMIT
from .record import Record, Stamp

MAGIC = b"MK"
VERSION = 3
"""3: writes carry the client's stamp, reads the client's id (2: keyed BLAKE2b tags; 1: HMAC-SHA256).
A node refuses any other version by name."""
TAG_SIZE = 32
SENT_SIZE = 8
HEADER_SIZE = len(MAGIC) + 1 + SENT_SIZE + TAG_SIZE
REPLAY_WINDOW = 30.0
"""Seconds a datagram stays acceptable after it was sent (and before: clocks of one cluster may differ)."""
MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 32 * 1024
MAX_STATE_BYTES = 48 * 1024
"""A replicated record's value: a client's value under lww, a whole state (siblings, a counter, a
set) under the other conflict modes, which can outgrow one value; still one datagram."""
MAX_COUNT = 2**62
"""A dot number or a counter lane's total in an ``Update``."""
OPS = ("put", "delete", "incr", "decr", "add", "remove")
"""The operations an ``Update`` carries (``conflict.OPS``)."""
MAX_DATAGRAM = 60_000
"""The largest datagram MinikeyDB sends or accepts: below UDP's 65,507-byte limit (``transport.MAX_UDP_PAYLOAD``,
the receive buffer), and above the largest single request (a 32 KiB value, a 1 KiB key)."""
MAX_PHYSICAL_US = 2**62
"""Stamps' physical microseconds stay below this (about 146,000 years after 1970): far beyond any
clock, far below the 64 bits orjson and the log can carry, so no sum or ``+ 1`` overflows."""
MAX_LOGICAL = LOGICAL_LIMIT
"""Stamps' logical counters stay below this: an HLC adds one per event within one microsecond."""
MAX_ID = 2**63
"""Request ids are below this (clients and nodes draw 62 random bits)."""
MAX_NODE_ID = 64
"""Characters in a node id or client id (config refuses longer node ids)."""
MAX_QUORUM = 2**16
MAX_RANGE = 2**32
MAX_DIGEST = 2**64
CLIENT_ID_RE = re.compile(r"c[0-9a-f]{16}")
"""A client's id: "c" and 16 hex digits, random per client (see ``client.new_client_id``)."""
BATCH_BUDGET = 16_000
"""Replication batches stop growing here; a lone record larger than this still travels alone."""


class WireError(ValueError):
    """A datagram that is not a valid message of this version: counted and dropped."""


class AuthError(WireError):
    """A datagram whose tag is missing or wrong: forged, corrupted, or from another cluster."""


class StaleError(WireError):
    """An authentic datagram sent outside the replay window: a replay, or a badly wrong clock."""


class TooLarge(ValueError):
    """A key or value over its size limit: a client error, reported before anything is sent."""


class NotText(TooLarge):
    """A key or value that is not Unicode text (a lone surrogate: bytes that were not UTF-8 on a
    command line). A ``TooLarge`` so every caller that reports one reports this too."""


def _is_text(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


MAX_ENCODED_PER_CHAR = 6
"""No character takes more than six bytes in a JSON string (``\\u001f``; UTF-8 takes at most four)."""


def encoded_size(text: str) -> int:
    """Bytes ``text`` takes inside a JSON payload (quotes excluded): what really has to fit."""
    return len(orjson.dumps(text)) - 2


def fits(text: str, limit: int) -> bool:
    """Whether ``text`` takes at most ``limit`` bytes encoded; short texts fit without encoding."""
    return len(text) * MAX_ENCODED_PER_CHAR <= limit or encoded_size(text) <= limit


def check_sizes(key: str, value: str | None) -> None:
    """Raise ``TooLarge`` with the limit when a key or value cannot travel.

    Sizes are counted as encoded on the wire, so a value of characters JSON must escape (quotes,
    control characters) is refused here rather than failing later inside a node.
    """
    if (key and len(key) <= _KEY_CHARS and key.isascii()
            and (value is None or (len(value) <= _VALUE_CHARS and value.isascii()))):
        return  # text that surely fits (``fits``' short cut): every check below would pass
    if not key:
        raise TooLarge("the key is empty; keys are 1 to 1024 bytes")
    if not _is_text(key):
        raise NotText(f"the key {key!r} is not valid UTF-8 text")
    if value is not None and not _is_text(value):
        raise NotText(f"the value {value[:40]!r} is not valid UTF-8 text")
    if not fits(key, MAX_KEY_BYTES):
        raise TooLarge(f"the key takes {encoded_size(key)} bytes encoded; keys are at most {MAX_KEY_BYTES} bytes")
    if value is not None and not fits(value, MAX_VALUE_BYTES):
        raise TooLarge(
            f"the value takes {encoded_size(value)} bytes encoded; values are at most {MAX_VALUE_BYTES} bytes"
        )


# ---------------------------------------------------------------------------------------------
# Field kinds. Each checks one decoded JSON value and returns the Python value.

_NoneType = type(None)


def _bounded(low: int, high: int, what: str) -> Callable[[Any], int]:
    """An integer field in ``low <= v < high``."""

    def check(v: Any) -> int:
        if type(v) is not int:
            raise WireError(f"expected an integer ({what}), got {type(v).__name__}")
        if not low <= v < high:
            raise WireError(f"{what} {v} is outside {low}..{high - 1}")
        return v

    check.__name__ = f"_{what.replace(' ', '_')}"
    return check


_id = _bounded(0, MAX_ID, "request id")
_quorum = _bounded(0, MAX_QUORUM, "quorum")
_physical = _bounded(0, MAX_PHYSICAL_US, "physical time")
_logical = _bounded(0, MAX_LOGICAL, "logical counter")
_range = _bounded(0, MAX_RANGE, "range")
_digest = _bounded(0, MAX_DIGEST, "digest")


def _str(v: Any) -> str:
    if type(v) is not str:
        raise WireError(f"expected a string, got {type(v).__name__}")
    return v


# Characters a text may have and surely fit its limit without being encoded (``fits``' short cut):
# the field kinds below take such a text at once and check anything else the long way, with the
# same outcome and the same error (a datagram's fields are checked per datagram).
_KEY_CHARS = MAX_KEY_BYTES // MAX_ENCODED_PER_CHAR
_VALUE_CHARS = MAX_VALUE_BYTES // MAX_ENCODED_PER_CHAR
_STATE_CHARS = MAX_STATE_BYTES // MAX_ENCODED_PER_CHAR


def _key(v: Any) -> str:
    if type(v) is str and 0 < len(v) <= _KEY_CHARS:
        return v
    _str(v)
    if not v or not fits(v, MAX_KEY_BYTES):
        raise WireError(f"key empty or over {MAX_KEY_BYTES} bytes encoded")
    return v


def _value(v: Any) -> str:
    if type(v) is str and len(v) <= _VALUE_CHARS:
        return v
    _str(v)
    if not fits(v, MAX_VALUE_BYTES):
        raise WireError(f"value over {MAX_VALUE_BYTES} bytes encoded")
    return v


def _opt_value(v: Any) -> str | None:
    return None if v is None else _value(v)


def _state(v: Any) -> str:
    if type(v) is str and len(v) <= _STATE_CHARS:
        return v
    _str(v)
    if not fits(v, MAX_STATE_BYTES):
        raise WireError(f"record value over {MAX_STATE_BYTES} bytes encoded")
    return v


def _opt_state(v: Any) -> str | None:
    return None if v is None else _state(v)


def _op(v: Any) -> str:
    if type(v) is not str or v not in OPS:
        raise WireError(f"an operation is one of {', '.join(OPS)}")
    return v


_count = _bounded(0, MAX_COUNT, "count")
_lane = _bounded(0, MAX_QUORUM, "lane")


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _bool(v: Any) -> bool:
    if type(v) is not bool:
        raise WireError(f"expected a boolean, got {type(v).__name__}")
    return v


def _node_id(v: Any) -> str:
    """A node id (``src`` fields) or a stamp's writer: 1 to ``MAX_NODE_ID`` characters."""
    if type(v) is str and 0 < len(v) <= MAX_NODE_ID:
        return v
    _str(v)
    if not 0 < len(v) <= MAX_NODE_ID:
        raise WireError(f"node id empty or over {MAX_NODE_ID} characters")
    return v


_CLIENT_IDS: set[str] = set()
"""Client ids that matched ``CLIENT_ID_RE`` (a set look-up instead of a regular expression per
datagram), at most ``_CLIENT_IDS_KEPT``: emptied when full, so no sender can grow it without bound."""
_CLIENT_IDS_KEPT = 4096


def _client_id(v: Any) -> str:
    if type(v) is str and v in _CLIENT_IDS:
        return v
    if type(v) is not str or not CLIENT_ID_RE.fullmatch(v):
        raise WireError("a client id is 'c' and 16 lowercase hex digits")
    if len(_CLIENT_IDS) >= _CLIENT_IDS_KEPT:
        _CLIENT_IDS.clear()
    _CLIENT_IDS.add(v)
    return v


def _stamp(v: Any) -> Stamp:
    """A version stamp with every part bounded, so no node's clock or encoder can be poisoned by one."""
    if type(v) is list and len(v) == 3:  # the checks below, inline; anything else the long way
        physical, logical, writer = v
        if (type(physical) is int and 0 <= physical < MAX_PHYSICAL_US and type(logical) is int
                and 0 <= logical < MAX_LOGICAL and type(writer) is str and 0 < len(writer) <= MAX_NODE_ID):
            return (physical, logical, writer)
    if type(v) is not list or len(v) != 3:
        raise WireError("a stamp is [physical_us, logical, node]")
    return (_physical(v[0]), _logical(v[1]), _node_id(v[2]))


def _client_stamp(v: Any) -> Stamp:
    """The stamp a client gives its write: a stamp whose writer is a well-formed client id."""
    stamp = _stamp(v)
    _client_id(stamp[2])
    return stamp


def _opt_stamp(v: Any) -> Stamp | None:
    return None if v is None else _stamp(v)


def _record(v: Any) -> Record:
    if type(v) is list and len(v) == 3:  # ``_key``, ``_opt_state`` and ``_stamp`` inline; anything else the long way
        key, value, stamp = v
        if (type(key) is str and 0 < len(key) <= _KEY_CHARS
                and (value is None or (type(value) is str and len(value) <= _STATE_CHARS))):
            if type(stamp) is list and len(stamp) == 3:
                physical, logical, writer = stamp
                if (type(physical) is int and 0 <= physical < MAX_PHYSICAL_US and type(logical) is int
                        and 0 <= logical < MAX_LOGICAL and type(writer) is str and 0 < len(writer) <= MAX_NODE_ID):
                    return Record(key, value, (physical, logical, writer))
            return Record(key, value, _stamp(stamp))
    if type(v) is not list or len(v) != 3:
        raise WireError("a record is [key, value, stamp]")
    return Record(_key(v[0]), _opt_state(v[1]), _stamp(v[2]))


def _opt_record(v: Any) -> Record | None:
    return None if v is None else _record(v)


def _records(v: Any) -> tuple[Record, ...]:
    """A non-empty list of records (nobody replicates nothing)."""
    if type(v) is not list or not v:
        raise WireError("expected a non-empty list of records")
    return tuple([_record(item) for item in v])  # a list, not a generator: one call, not one per record


def _keys(v: Any) -> tuple[str, ...]:
    """A non-empty list of keys (nobody pulls nothing)."""
    if type(v) is not list or not v:
        raise WireError("expected a non-empty list of keys")
    return tuple(_key(item) for item in v)


def _ranges(v: Any) -> tuple[int, ...]:
    """A non-empty list of range numbers (a key list answers for at least one range)."""
    if type(v) is not list or not v:
        raise WireError("expected a non-empty list of ranges")
    return tuple(_range(item) for item in v)


def _int_pairs(v: Any) -> tuple[tuple[int, int], ...]:
    """(range, digest) pairs, each part bounded."""
    if type(v) is not list:
        raise WireError("expected a list of [range, digest] pairs")
    out = []
    for item in v:
        if type(item) is list and len(item) == 2:  # the checks below, inline; anything else the long way
            r, d = item
            if type(r) is int and 0 <= r < MAX_RANGE and type(d) is int and 0 <= d < MAX_DIGEST:
                out.append((r, d))
                continue
        if type(item) is not list or len(item) != 2:
            raise WireError("expected a [range, digest] pair")
        out.append((_range(item[0]), _digest(item[1])))
    return tuple(out)


def _key_stamps(v: Any) -> tuple[tuple[str, Stamp], ...]:
    if type(v) is not list:
        raise WireError("expected a list of [key, stamp] pairs")
    out = []
    for item in v:
        if type(item) is not list or len(item) != 2:
            raise WireError("expected a [key, stamp] pair")
        out.append((_key(item[0]), _stamp(item[1])))
    return tuple(out)


def _counters(v: Any) -> dict[str, int]:
    if type(v) is not dict or not all(type(x) is int for x in v.values()):
        raise WireError("expected an object of integer counters")
    return v


# ---------------------------------------------------------------------------------------------
# Messages


Check = Callable[[Any], Any]
"""A field kind: checks one decoded JSON value and returns the Python value (or raises ``WireError``)."""


_TO_JSON: dict[Check, str] = {
    _record: "[{0}.key, {0}.value, {0}.stamp]",
    _opt_record: "(None if {0} is None else [{0}.key, {0}.value, {0}.stamp])",
    _records: "[[r.key, r.value, r.stamp] for r in {0}]",
}
"""Field kinds whose values orjson cannot write as they are, and the expression (of the field's
value, ``{0}``) a payload writes instead: records become arrays. Everything else is a str, int,
bool, None, dict or (nested) tuple, which orjson writes as JSON directly."""


class Message:
    """Base of every message: a frozen attrs class declared as ``class Put(Message, kind=1, fields=(...))``.

    ``kind`` tags it on the wire (the first item of the payload), ``fields`` checks each of its
    fields in declaration order (the order they travel in). Declaring the class registers it for
    decoding; two messages cannot share a kind.
    """

    KIND: ClassVar[int]
    FIELDS: ClassVar[tuple[Check, ...]]
    id: int

    def __init_subclass__(cls, *, kind: int | None = None, fields: tuple[Check, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind is None:
            # attrs builds the slotted class anew from the class statement's, without its
            # keywords: the same message, and the class decoding must make.
            if "KIND" not in cls.__dict__:
                raise TypeError(f"{cls.__name__}: a message is declared with kind= and fields=")
            kind, fields = cls.KIND, cls.FIELDS
        names = list(cls.__dict__.get("__annotations__", {}))
        if len(names) != len(fields):
            raise TypeError(f"{cls.__name__}: {len(names)} fields but {len(fields)} field kinds")
        known = _REGISTRY.get(kind)
        if known is not None and known.__qualname__ != cls.__qualname__:
            raise TypeError(f"{cls.__name__}: message kind {kind} is already {known.__name__}'s")
        cls.KIND = kind
        cls.FIELDS = fields
        # payload(), made once per class from its field names: one list display, every field
        # read inline (no attrgetter, no loop over conversions per message sent)
        items = [str(kind)]
        for name, check in zip(names, fields, strict=True):
            if not name.isidentifier():
                raise TypeError(f"{cls.__name__}: field name {name!r} is not an identifier")
            value = f"self.{name}"
            items.append(_TO_JSON[check].format(value) if check in _TO_JSON else value)
        namespace: dict[str, Any] = {}
        source = f"def payload(self):\n    return [{', '.join(items)}]\n"
        exec(source, namespace)  # noqa: S102 - fixed text from the class's own field names
        cls.payload = namespace["payload"]  # type: ignore[method-assign]
        _REGISTRY[kind] = cls
        _DECODERS.pop(kind, None)  # built again from this class when first needed

    def payload(self) -> list[Any]:
        """``[kind, field, field, ...]``, ready for orjson."""
        raise NotImplementedError


_REGISTRY: dict[int, type[Message]] = {}
"""Every message class by its wire kind, filled by ``Message.__init_subclass__``."""
_DECODERS: dict[int, Callable[[list[Any]], Message]] = {}
"""``Codec.decode``'s builder per wire kind (``_Decoder.build``), made from ``_REGISTRY``'s class when first needed."""


# Client requests and the one reply they all get ------------------------------------------


@attrs.frozen
class Put(Message, kind=1, fields=(_id, _key, _value, _client_stamp, _quorum)):
    """Write ``value`` under ``key`` as version ``stamp``; ``w`` replicas must acknowledge (0: default).

    The client chose ``stamp`` (its own hybrid clock, its id as writer) and it is under the tag,
    so the version is a function of the request: a replayed copy is the same version again,
    which no replica stores twice and which loses to every later write.
    """

    id: int
    key: str
    value: str
    stamp: Stamp
    w: int = 0


@attrs.frozen
class Delete(Message, kind=2, fields=(_id, _key, _client_stamp, _quorum)):
    """Write a tombstone under ``key`` as version ``stamp`` (a delete is a write: it replicates and wins like one)."""

    id: int
    key: str
    stamp: Stamp
    w: int = 0


@attrs.frozen
class Get(Message, kind=3, fields=(_id, _client_id, _key, _quorum, _bool)):
    """Read ``key`` from ``r`` replicas (0: default); ``local`` reads only the receiving node's copy.

    ``client`` names the asking client, so a resend is recognised whatever port it comes from.
    """

    id: int
    client: str
    key: str
    r: int = 0
    local: bool = False


@attrs.frozen
class Update(
    Message, kind=7, fields=(_id, _key, _op, _opt_value, _opt_value, _count, _lane, _client_stamp, _quorum)
):
    """A write under conflict mode siblings or crdt (``conflict``): ``op`` on ``key``.

    ``arg`` is the value (put) or element (add, remove); ``context`` the causal context a read
    returned (siblings: the write supersedes exactly what it saw; None adds a sibling); ``n`` the
    write's dot number (siblings writes, adds: the client numbers its writes per key) or the
    lane's new total (incr, decr); ``lane`` the counter lane. The stamp's writer is the actor.
    """

    id: int
    key: str
    op: str
    arg: str | None
    context: str | None
    n: int
    lane: int
    stamp: Stamp
    w: int = 0


@attrs.frozen
class StatsRequest(Message, kind=4, fields=(_id,)):
    """Ask a node for its counters."""

    id: int


# Reply statuses: "ok" happened; "fail" definitely did not happen; "unknown" may have happened.
OK, FAIL, UNKNOWN = "ok", "fail", "unknown"


@attrs.frozen
class Reply(Message, kind=5, fields=(_id, _str, _opt_str, _opt_stamp, _opt_str, _str)):
    """The answer to a client request. For a get, ``value`` None means the key is absent."""

    id: int
    status: str
    value: str | None = None
    stamp: Stamp | None = None
    error: str | None = None
    node: str = ""


@attrs.frozen
class StatsReply(Message, kind=6, fields=(_id, _node_id, _counters)):
    id: int
    node: str
    counters: dict[str, int]


# Node to node ----------------------------------------------------------------------------


@attrs.frozen
class Replicate(Message, kind=10, fields=(_id, _node_id, _records)):
    """Store these versions (merged by last-writer-wins); answered by ``Ack`` once durable."""

    id: int
    src: str
    records: tuple[Record, ...]


@attrs.frozen
class Ack(Message, kind=11, fields=(_id, _node_id)):
    id: int
    src: str


@attrs.frozen
class Read(Message, kind=12, fields=(_id, _node_id, _key)):
    """A coordinator asks a replica for its version of ``key``."""

    id: int
    src: str
    key: str


@attrs.frozen
class ReadReply(Message, kind=13, fields=(_id, _node_id, _opt_record)):
    id: int
    src: str
    record: Record | None


@attrs.frozen
class Digests(Message, kind=14, fields=(_id, _node_id, _int_pairs)):
    """Anti-entropy, step 1: (range, digest) for ranges both nodes replicate."""

    id: int
    src: str
    digests: tuple[tuple[int, int], ...]


@attrs.frozen
class KeyStamps(Message, kind=15, fields=(_id, _node_id, _ranges, _key_stamps, _bool)):
    """Anti-entropy, step 2: the sender's (key, stamp) list for the ranges whose digests differed.

    A long list travels in several datagrams (all naming the same ``ranges``); ``last`` marks the
    final one, after which the receiver also pushes its keys in those ranges the list lacked.
    """

    id: int
    src: str
    ranges: tuple[int, ...]
    entries: tuple[tuple[str, Stamp], ...]
    last: bool


@attrs.frozen
class Pull(Message, kind=16, fields=(_id, _node_id, _keys)):
    """Anti-entropy, step 3: send me your versions of these keys (they arrive as ``Replicate``)."""

    id: int
    src: str
    keys: tuple[str, ...]


# ---------------------------------------------------------------------------------------------


def mode_key(secret: bytes, conflict: str) -> bytes:
    """The key datagrams are signed with: the secret under ``lww`` (unchanged since version 3), else
    the secret mixed with the conflict mode, so a node or client configured for another mode is
    told apart before anything it sends is believed (``dropped_auth``): its states and writes do not
    mean the same thing here, and taking them would store values no read can show."""
    if conflict == "lww":
        return secret
    return hashlib.blake2b(secret, key=b"minikeydb conflict mode " + conflict.encode("utf-8")).digest()


class Codec:
    """Encodes and decodes messages, signing and verifying with the cluster secret.

    ``now`` is the clock the replay window is judged by (seconds): the real clock, or virtual time
    in simulation. It is never a node's skewed clock: skew is about data, not about transport.
    """

    def __init__(
        self, secret: bytes, now: Callable[[], float] = time.time, window: float = REPLAY_WINDOW, *,
        conflict: str = "lww",
    ) -> None:
        if not secret:
            raise ValueError("the cluster secret must not be empty")
        secret = mode_key(secret, conflict)
        # Keyed BLAKE2b takes a key of at most 64 bytes; a longer secret is hashed down to one.
        # Keying costs a compression; do it once and copy the keyed state per datagram.
        key = secret if len(secret) <= 64 else hashlib.blake2b(secret).digest()
        self._keyed = hashlib.blake2b(key=key, digest_size=TAG_SIZE)
        self._now = now
        self._window_ms = int(window * 1000)
        self._version = MAGIC + bytes([VERSION])

    def _tag(self, head: bytes, payload: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(head)
        mac.update(payload)
        return mac.digest()

    def encode(self, message: Message) -> bytes:
        payload = orjson.dumps(message.payload())
        if len(payload) + HEADER_SIZE > MAX_DATAGRAM:
            raise TooLarge(f"message of {len(payload)} bytes exceeds the {MAX_DATAGRAM}-byte datagram limit")
        # self.seal(payload), inline: one call fewer per datagram sent
        head = self._version + int(self._now() * 1000).to_bytes(SENT_SIZE, "big")
        mac = self._keyed.copy()
        mac.update(head)
        mac.update(payload)
        return head + mac.digest() + payload

    def seal(self, payload: bytes) -> bytes:
        """Frame and sign any payload bytes (``encode`` uses it; tests and fuzzers reach the decoder with it)."""
        head = self._version + int(self._now() * 1000).to_bytes(SENT_SIZE, "big")
        mac = self._keyed.copy()  # _tag(head, payload), inline: one call fewer per datagram
        mac.update(head)
        mac.update(payload)
        return head + mac.digest() + payload

    def decode(self, data: bytes) -> Message:
        """The message in ``data``, or ``WireError`` (``AuthError`` for a bad tag) saying what is wrong."""
        size = len(data)
        if size < HEADER_SIZE:
            raise WireError(f"datagram of {size} bytes is shorter than the {HEADER_SIZE}-byte header")
        if size > MAX_DATAGRAM:
            raise WireError(f"datagram of {size} bytes exceeds {MAX_DATAGRAM}")
        if data[:3] != self._version:
            if data[:2] != MAGIC:
                raise WireError("not a MinikeyDB datagram (bad magic)")
            raise WireError(f"unsupported wire version {data[2]} (this node speaks {VERSION})")
        payload = data[HEADER_SIZE:]
        mac = self._keyed.copy()
        mac.update(data[:_HEAD_END])
        mac.update(payload)
        if not compare_digest(data[_HEAD_END:HEADER_SIZE], mac.digest()):
            raise AuthError("authentication tag does not match")
        sent_ms = int.from_bytes(data[3:_HEAD_END], "big")
        age = int(self._now() * 1000) - sent_ms
        if age > self._window_ms or -age > self._window_ms:  # abs(age) > window, without the call
            raise StaleError(f"sent {sent_ms} ms, outside the {self._window_ms} ms replay window")
        try:
            items = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise WireError(f"payload is not JSON: {exc}") from None
        if type(items) is not list or not items or type(items[0]) is not int:
            raise WireError("payload is not [kind, fields...]")
        build = _DECODERS.get(items[0])
        if build is None:
            cls = _REGISTRY.get(items[0])
            if cls is None:
                raise WireError(f"unknown message kind {items[0]}")
            build = _DECODERS[items[0]] = _Decoder(cls).build
        try:
            return build(items)  # which refuses a payload of the wrong length first
        except RecursionError:
            raise WireError("payload nested too deeply") from None


_HEAD_END = len(MAGIC) + 1 + SENT_SIZE
"""Where the header's signed part (magic, version, sent) ends and the tag begins."""


_ACCEPTS: dict[Check, str] = {
    _id: f"type(v) is int and 0 <= v < {MAX_ID}",
    _quorum: f"type(v) is int and 0 <= v < {MAX_QUORUM}",
    _node_id: f"type(v) is str and 0 < len(v) <= {MAX_NODE_ID}",
    _str: "type(v) is str",
    _opt_str: "v is None or type(v) is str",
    _bool: "type(v) is bool",
    _key: f"type(v) is str and 0 < len(v) <= {_KEY_CHARS}",
    _value: f"type(v) is str and len(v) <= {_VALUE_CHARS}",
    _opt_value: f"v is None or (type(v) is str and len(v) <= {_VALUE_CHARS})",
    _opt_stamp: "v is None",
    _opt_record: "v is None",
}
"""Field kinds a decoder tests inline (``v`` the decoded value): when the test holds, the check
would return ``v`` itself; otherwise the check is called, and returns or raises as always. Each
test is the check's own first case, so the outcome and the error are the check's."""


class _Decoder:
    """How ``Codec.decode`` builds one kind of message from its payload ``[kind, field, ...]``.

    ``build`` refuses a payload with the wrong number of fields, checks the fields left to right
    (the first bad one raises, as it would in a loop) and calls the class with them; it is made
    once per kind, with the checks bound as arguments,
    so decoding a datagram walks no list of checks, and the usual case of a simple field
    (``_ACCEPTS``) is tested inline, without calling its check.
    """

    __slots__ = ("cls", "build")

    def __init__(self, cls: type[Message]) -> None:
        self.cls = cls
        count = len(cls.FIELDS)
        names = [f"c{i}" for i in range(count)]
        lines = [f"def make(cls, arity_error, {', '.join(names)}):", "    def build(items):"]
        # the payload unpacks into its kind and one value per field, or it has the wrong length
        lines.append("        try:")
        lines.append(f"            {', '.join(['_', *(f'v{i}' for i in range(count))])}, = items")
        lines.append("        except ValueError:")
        lines.append("            raise arity_error(items) from None")
        for i, check in enumerate(cls.FIELDS):
            accepts = _ACCEPTS.get(check)
            if accepts is None:
                lines.append(f"        v{i} = c{i}(v{i})")
            else:
                test = re.sub(r"\bv\b", f"v{i}", accepts)
                lines.append(f"        if not ({test}):")
                lines.append(f"            v{i} = c{i}(v{i})")
        lines.append(f"        return cls({', '.join(f'v{i}' for i in range(count))})")
        lines.append("    return build")
        namespace: dict[str, Any] = {}
        exec("\n".join(lines) + "\n", namespace)  # noqa: S102 - fixed text from the field kinds, nothing from outside
        self.build: Callable[[list[Any]], Message] = namespace["make"](cls, self._arity_error, *cls.FIELDS)

    def _arity_error(self, items: list[Any]) -> WireError:
        cls = self.cls
        return WireError(f"{cls.__name__} takes {len(cls.FIELDS)} fields, got {len(items) - 1}")


PAYLOAD_BUDGET = MAX_DATAGRAM - HEADER_SIZE - 200
"""Bytes a multi-item message's items may take: the datagram, less the header and room for its
fixed fields (kind, id, source node id, flags). Every list that can grow is split against it."""

_T = TypeVar("_T")


def int_cost(number: int) -> int:
    """Bytes an integer takes in JSON."""
    return len(str(number))


def stamp_cost(stamp: Stamp) -> int:
    """Bytes a stamp ``[physical, logical, "node"]`` takes in a payload, separators included."""
    return int_cost(stamp[0]) + int_cost(stamp[1]) + encoded_size(stamp[2]) + 7


def record_cost(record: Record) -> int:
    """An upper bound on the bytes one record ``[key, value, stamp]`` adds to a payload."""
    # encoded_size(key) + encoded_size(value) (4 for null) + stamp_cost(stamp) + 6, measured in one
    # encoding (a replication batch costs every record it takes): ``[k,v,[p,l,w]]`` takes exactly
    # those parts plus 8 bytes of brackets, commas and (for a string value) its 2 quotes
    value = record.value
    return len(orjson.dumps([record.key, value, record.stamp])) + (3 if value is not None else 5)


def key_cost(key: str) -> int:
    """Bytes one key adds to a list of keys (``Pull``)."""
    return encoded_size(key) + 3


def key_stamp_cost(key: str, stamp: Stamp) -> int:
    """Bytes one ``[key, stamp]`` entry adds to a ``KeyStamps`` list."""
    return encoded_size(key) + stamp_cost(stamp) + 6


def int_pair_cost(pair: tuple[int, int]) -> int:
    """Bytes one ``[int, int]`` pair adds to a list (``Digests``)."""
    return len(str(pair[0])) + len(str(pair[1])) + 4  # int_cost twice, inline (every shared range, every round)


def split_by_size(items: Sequence[_T], cost: Callable[[_T], int], budget: int = PAYLOAD_BUDGET) -> list[list[_T]]:
    """Split ``items`` into consecutive groups whose summed ``cost`` stays within ``budget``.

    An item that alone costs more than ``budget`` still gets a group of its own (the encoder then
    refuses it with ``TooLarge``, which the sender handles): nothing is silently left out.
    """
    groups: list[list[_T]] = []
    current: list[_T] = []
    size = 0
    for item in items:
        c = cost(item)
        if current and size + c > budget:
            groups.append(current)
            current, size = [], 0
        current.append(item)
        size += c
    if current:
        groups.append(current)
    return groups


def batch_records(records: Sequence[Record], budget: int = BATCH_BUDGET) -> list[list[Record]]:
    """Split records into groups whose encoded size stays under ``budget`` (each group one datagram)."""
    return split_by_size(records, record_cost, budget)


# Peeking (the harness's journal) -----------------------------------------------------------

PEEK_ITEMS = 64
"""Items ``peek`` returns at most; past that the last one is ``["...", how many more]``."""


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() and i else c.lower() for i, c in enumerate(name))


KIND_NAMES: dict[int, str] = {kind: _snake(cls.__name__) for kind, cls in _REGISTRY.items()}
"""Wire kind -> lower-case message name (``read_reply``), as the journal names datagrams."""


_ITEM_KINDS = frozenset((1, 2, 3, 7, 10, 12, 13, 15, 16))
"""Kinds whose datagrams ``peek`` lists items of (put, delete, get, update, replicate, read, read_reply, key_stamps, pull)."""


def _peek_items(kind: int, items: list[Any]) -> list[Any]:
    """The items ``peek`` lists of a datagram of ``kind`` (one of ``_ITEM_KINDS``), before the cut at ``PEEK_ITEMS``."""
    if kind in (1, 2):  # Put [1, id, key, value, stamp, w] / Delete [2, id, key, stamp, w]
        return [[items[2], items[4 if kind == 1 else 3]]]
    if kind == 7:  # Update [7, id, key, op, arg, context, n, lane, stamp, w]
        return [[items[2], items[8]]]
    if kind == 10:  # Replicate [10, id, src, [[key, value, stamp], ...]]
        return [[r[0], r[2]] for r in items[3][:PEEK_ITEMS]] + items[3][PEEK_ITEMS:]
    if kind == 13:  # ReadReply [13, id, src, record | null]
        record = items[3]
        return [] if record is None else [[record[0], record[2]]]
    if kind == 15:  # KeyStamps [15, id, src, ranges, [[key, stamp], ...], last]
        return items[4]
    if kind == 3:  # Get [3, id, client, key, r, local]
        return [items[3]]
    if kind == 12:  # Read [12, id, src, key]
        return [items[3]]
    if kind == 16:  # Pull [16, id, src, [key, ...]]
        return items[3]
    return []


def peek(data: bytes) -> tuple[str, list[Any]]:
    """The kind name and the (key, stamp) or key items of a datagram, WITHOUT verifying its tag.

    For observers outside the node (the harness's journal): ``("?", [])`` for anything that is
    not a well-formed payload; it never raises. Items: ``[key, stamp]`` pairs for messages that
    carry records or stamps (put, delete, replicate, read_reply, key_stamps), keys for get, read
    and pull, ``[]`` otherwise; at most ``PEEK_ITEMS``, the last then ``["...", n_more]``.

    Called for every datagram a journaled run sends: the common shapes (a replicate of one record,
    a reply or ack, a put, a get, a read) are answered here, without ``_peek_items`` or the cut
    (one item), the same items as the general path gives.
    """
    try:
        if data[:2] != MAGIC or len(data) <= HEADER_SIZE:
            return "?", []
        items = orjson.loads(data[HEADER_SIZE:])
        kind = items[0]
        name = KIND_NAMES.get(kind) if type(kind) is int else None
        if name is None:
            return "?", []
        if kind == 10:  # Replicate [10, id, src, [[key, value, stamp], ...]], most often one record
            records = items[3]
            if type(records) is list and len(records) == 1:
                record = records[0]
                return name, [[record[0], record[2]]]
        elif kind not in _ITEM_KINDS:  # reply, ack, digests, stats: nothing to list
            return name, []
        elif kind == 1:  # Put [1, id, key, value, stamp, w]
            return name, [[items[2], items[4]]]
        elif kind == 3 or kind == 12:  # Get [3, id, client, key, r, local] / Read [12, id, src, key]
            return name, [items[3]]
        out = _peek_items(kind, items)
        if len(out) > PEEK_ITEMS:
            out = [*out[: PEEK_ITEMS - 1], ["...", len(out) - PEEK_ITEMS + 1]]
        return name, out
    except Exception:  # garbage of any shape: an observer must never fail on it
        return "?", []
