"""Hostile input: only WireError ever leaves the decoder, and a live node counts and survives every datagram.

The decoder properties go past authentication with ``Codec.seal`` (a fuzzer that knows the
secret), so they reach the JSON and field checks, not just the tag. The live-node tests send
the same kinds of datagrams over real UDP and hold the node to exact counter increments.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import orjson
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikeydb.record import Record
from minikeydb.transport import UdpTransport
from minikeydb.wire import (
    _REGISTRY,
    HEADER_SIZE,
    MAGIC,
    MAX_DATAGRAM,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    OPS,
    VERSION,
    Ack,
    AuthError,
    Codec,
    Delete,
    Digests,
    Get,
    KeyStamps,
    Message,
    Pull,
    Put,
    Read,
    ReadReply,
    Replicate,
    Reply,
    StatsReply,
    StatsRequest,
    WireError,
)
from tests.store.cluster_fixture import make_config, running_cluster, wait_until

from .conftest import TEST_SECRET

CODEC = Codec(TEST_SECRET.encode())
STAMP = (1_700_000_000_000_000, 0, "n1")
CLIENT_STAMP = (1_700_000_000_000_000, 0, "c0123456789abcdef")
VALID: list[Message] = [
    Put(1, "k", "v", CLIENT_STAMP, 2), Delete(2, "k", CLIENT_STAMP, 0), Get(3, CLIENT_STAMP[2], "k", 1, False),
    StatsRequest(4),
    Reply(5, "ok", "v", STAMP, None, "n1"), StatsReply(6, "n1", {"keys": 1}),
    Replicate(7, "n1", (Record("k", "v", STAMP), Record("gone", None, STAMP))), Ack(8, "n2"),
    Read(9, "n1", "k"), ReadReply(10, "n2", Record("k", "v", STAMP)), Digests(11, "n1", ((1, 2),)),
    KeyStamps(12, "n2", (1,), (("k", STAMP),), True), Pull(13, "n1", ("k",)),
]


def seal(payload: Any) -> bytes:
    """A correctly signed, fresh datagram around any JSON payload (or raw bytes)."""
    return CODEC.seal(payload if isinstance(payload, bytes) else orjson.dumps(payload))


# ---------------------------------------------------------------------------------------------
# Strategies: a valid value for each field kind of the wire schema, and JSON junk of any shape.

huge_keys = st.sampled_from(["", "k" * (MAX_KEY_BYTES + 1), "é" * MAX_KEY_BYTES, '"' * 700, "\x00"])
keys = st.text(min_size=1, max_size=12) | huge_keys
ints = st.integers(-(2**63), 2**64 - 1)
stamps = st.tuples(ints, ints, st.text(max_size=4)).map(list)
records = st.tuples(keys, st.none() | st.text(max_size=30), stamps).map(list)
junk = st.recursive(
    st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=16) | huge_keys,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=25,
)

client_ids = st.sampled_from(["c0123456789abcdef", "cffffffffffffffff"]) | st.text(max_size=17)

VALID_FIELD: dict[str, st.SearchStrategy[Any]] = {
    "_int": ints,
    "_request_id": ints,
    "_quorum": ints,
    "_node_id": st.text(max_size=20) | st.just("n" * 65),
    "_client_id": client_ids,
    "_client_stamp": st.tuples(ints, ints, client_ids).map(list) | stamps,
    "_ranges": st.lists(ints, max_size=4),
    "_str": st.text(max_size=20),
    "_key": keys,
    "_opt_str": st.none() | st.text(max_size=20),
    "_value": st.text(max_size=20),
    "_bool": st.booleans(),
    "_stamp": stamps,
    "_opt_stamp": st.none() | stamps,
    "_record": records,
    "_opt_record": st.none() | records,
    "_records": st.lists(records, max_size=4),
    "_keys": st.lists(keys, max_size=4),
    "_ints": st.lists(ints, max_size=4),
    "_int_pairs": st.lists(st.tuples(ints, ints).map(list), max_size=4),
    "_key_stamps": st.lists(st.tuples(keys, stamps).map(list), max_size=4),
    "_counters": st.dictionaries(st.text(max_size=8), ints, max_size=4),
    "_op": st.sampled_from(sorted(OPS)) | st.text(max_size=8),
    "_opt_value": st.none() | st.text(max_size=20),
    "_count": ints,
    "_lane": ints,
}


@st.composite
def schema_payloads(draw: st.DrawFn) -> list[Any]:
    """[kind, fields...] for a real kind, each field valid or junk, sometimes one too many or too few."""
    kind = draw(st.sampled_from(sorted(_REGISTRY)))
    fields = [draw(VALID_FIELD[check.__name__] | junk) for check in _REGISTRY[kind].FIELDS]
    arity = draw(st.sampled_from(["same", "same", "same", "more", "less"]))
    if arity == "more":
        fields.append(draw(junk))
    elif arity == "less" and fields:
        fields.pop()
    return [kind, *fields]


def assert_only_wire_errors(data: bytes) -> Message | None:
    """Decode ``data``: the message, or None for a WireError; any other exception fails the test."""
    try:
        return CODEC.decode(data)
    except WireError:
        return None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(schema_payloads())
def test_schema_shaped_junk_decodes_or_is_a_wire_error(payload):
    """A signed payload with each field valid or of any wrong type decodes to its class or raises WireError, nothing else."""
    message = assert_only_wire_errors(seal(payload))
    if message is not None:
        assert type(message) is _REGISTRY[payload[0]]
        assert CODEC.decode(CODEC.encode(message)) == message


@settings(max_examples=300)
@given(junk)
def test_any_json_value_as_payload_is_a_wire_error_or_a_message(payload):
    """Any JSON document as the payload (objects, scalars, nested lists) raises only WireError."""
    message = assert_only_wire_errors(seal(payload))
    assert message is None or isinstance(message, Message)


@settings(max_examples=200)
@given(st.integers(min_value=-(2**40), max_value=2**40).filter(lambda k: k not in _REGISTRY), st.lists(junk, max_size=4))
def test_unknown_kinds_are_wire_errors(kind, fields):
    """A payload whose kind no message has is refused as an unknown kind."""
    with pytest.raises(WireError, match="unknown message kind"):
        CODEC.decode(seal([kind, *fields]))


@settings(max_examples=200)
@given(st.binary(min_size=HEADER_SIZE - 3, max_size=300))
def test_random_bytes_behind_the_right_magic_and_version_are_auth_errors(rest):
    """Random bytes framed as this protocol and version fail authentication (a forger cannot guess a tag)."""
    with pytest.raises(AuthError):
        CODEC.decode(MAGIC + bytes([VERSION]) + rest)


@pytest.mark.parametrize("version", [v for v in range(256) if v != VERSION])
def test_every_other_version_is_refused(version):
    """A datagram of any other wire version byte is refused by name, even with a valid tag."""
    data = bytearray(CODEC.encode(Put(1, "k", "v", CLIENT_STAMP)))
    data[2] = version
    with pytest.raises(WireError, match="version"):
        CODEC.decode(bytes(data))


@pytest.mark.parametrize("message", VALID, ids=lambda m: type(m).__name__)
def test_every_truncation_of_every_message_is_a_wire_error(message):
    """Cutting a valid datagram anywhere gives a WireError (short header, or a tag that no longer matches)."""
    data = CODEC.encode(message)
    for cut in range(len(data)):
        with pytest.raises(WireError):
            CODEC.decode(data[:cut])


def test_oversized_datagrams_are_refused_before_authentication():
    """A datagram over MAX_DATAGRAM is refused by size, even if it is correctly signed."""
    big = seal(orjson.dumps([1, 1, "k", "v" * MAX_DATAGRAM, 0]))
    with pytest.raises(WireError, match="exceeds"):
        CODEC.decode(big)
    with pytest.raises(WireError, match="exceeds"):
        CODEC.decode(b"\x00" * 65_507)


def test_deeply_nested_junk_in_every_field_position_is_a_wire_error():
    """Nesting thousands deep in any field of any kind is refused, never a RecursionError."""
    deep = b"[" * 3000 + b"]" * 3000
    for kind, cls in _REGISTRY.items():
        for position in range(len(cls.FIELDS)):
            fields = [b"0"] * len(cls.FIELDS)
            fields[position] = deep
            with pytest.raises(WireError):
                CODEC.decode(seal(b"[" + str(kind).encode() + b"," + b",".join(fields) + b"]"))




def test_the_decoder_refuses_a_value_over_the_limit():
    """A signed Put whose value exceeds MAX_VALUE_BYTES is a WireError, as it is a TooLarge for the client."""
    with pytest.raises(WireError):
        CODEC.decode(seal([1, 1, "k", "v" * (MAX_VALUE_BYTES + 1), 0]))


def test_the_decoder_refuses_a_key_over_the_limit_as_encoded():
    """A signed Get whose key is 1024 characters but 2048 bytes encoded is a WireError, as check_sizes says."""
    with pytest.raises(WireError):
        CODEC.decode(seal([3, 1, "é" * MAX_KEY_BYTES, 0, False]))


# ---------------------------------------------------------------------------------------------
# A live node


def junk_datagrams(rng: random.Random, count: int) -> list[bytes]:
    """Datagrams that must all be dropped by the decoder: raw bytes, bad frames, signed junk payloads."""
    out: list[bytes] = []
    while len(out) < count:
        choice = rng.randrange(6)
        if choice == 0:
            data = rng.randbytes(rng.randrange(0, 200))
        elif choice == 1:
            data = CODEC.encode(rng.choice(VALID))[: rng.randrange(0, 60)]
        elif choice == 2:
            data = bytes([0x4D, 0x4B, rng.choice([0, 2, 255])]) + CODEC.encode(rng.choice(VALID))[3:]
        elif choice == 3:  # signed, not JSON or not an array
            data = seal(rng.choice([b"\xff\xfe", b"{}", b"[]", b"null", b"[1,2", b'"text"', b"1e999"]))
        elif choice == 4:  # signed, a real kind with a wrong field type or count
            cls = rng.choice(list(_REGISTRY.values()))
            fields: list[Any] = [rng.choice([None, "x", 1.5, [], {}, True, -1]) for _ in cls.FIELDS]
            fields = fields[: rng.randrange(len(fields) + 1)] if rng.random() < 0.3 else fields
            data = seal([cls.KIND, *fields])
        else:  # signed, an unknown kind
            data = seal([rng.choice([0, 7, 99, -1, 2**40]), 1, "n1"])
        try:
            CODEC.decode(data)
        except WireError:
            out.append(data)
    return out


def unexpected_messages(rng: random.Random, per_kind: int) -> tuple[list[bytes], Counter[str]]:
    """Authentic, well-formed messages a node cannot act on, and the counter each must bump."""
    out: list[bytes] = []
    expected: Counter[str] = Counter()

    def add(message: Message, counter: str) -> None:
        out.append(CODEC.encode(message))
        expected[counter] += 1

    for _ in range(per_kind):
        rid = rng.getrandbits(62) + 1
        add(Reply(rid, "ok", "v", STAMP, None, "n2"), "dropped_unexpected")
        add(StatsReply(rid, "n2", {"keys": 1}), "dropped_unexpected")
        add(Ack(rid, "n2"), "replies_unmatched")
        add(ReadReply(rid, "n2", Record("fuzz", "v", STAMP)), "replies_unmatched")
        add(KeyStamps(rid, "n2", (1,), (("fuzz", STAMP),), True), "replies_unmatched")
        add(Digests(rid, "nobody", ((1, 2),)), "dropped_unknown_peer")
        add(Pull(rid, "nobody", ("k",)), "dropped_unknown_peer")
    return out, expected


async def send_paced(raw: UdpTransport, datagrams: list[bytes], dest: tuple[str, int]) -> None:
    """Send in small bursts so that no datagram is lost to a full socket buffer (counts must be exact)."""
    for start in range(0, len(datagrams), 50):
        for data in datagrams[start : start + 50]:
            await raw.send(data, dest)
        await trio.sleep(0.005)


async def test_a_live_node_counts_every_malformed_datagram_and_keeps_serving(tmp_path):
    """Junk of every kind sent to a live node while a client works bumps exactly the right drop counter, raises nothing, changes no data."""
    config = make_config(tmp_path, 3)
    garbage = junk_datagrams(random.Random(7), 1500)
    expected = Counter()
    for data in garbage:
        try:
            CODEC.decode(data)
        except AuthError:
            expected["dropped_auth"] += 1
        except WireError:
            expected["dropped_malformed"] += 1
    assert expected["dropped_auth"] and expected["dropped_malformed"]
    async with running_cluster(config) as cluster, cluster.client() as client:
        node = cluster.nodes["n1"]
        before = Counter({k: node.counters[k] for k in ("dropped_auth", "dropped_malformed", "dropped_stale")})
        raw = await UdpTransport.bind()
        outcomes: Counter[str] = Counter()

        async def work() -> None:
            for i in range(40):
                outcomes[(await client.put(f"live{i % 5}", str(i), node="n1")).outcome] += 1
                outcomes[(await client.get(f"live{i % 5}", node="n1")).outcome] += 1

        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(work)
                await send_paced(raw, garbage, node.transport.address)
        finally:
            raw.close()

        def counted() -> Counter[str]:
            return Counter({k: node.counters[k] - before[k] for k in before}) + Counter()

        await wait_until(lambda: sum(counted().values()) >= len(garbage), 5.0)
        assert counted() == expected
        assert outcomes == Counter(ok=80)
        assert node.counters["handler_errors"] == 0
        assert all(cluster.running(n) for n in config.node_ids)
        assert (await client.get("live4", node="n1")).value == "39"


async def test_authentic_messages_a_node_cannot_use_are_counted_not_applied(tmp_path):
    """Well-formed replies nobody asked for, and exchanges from unknown peers, bump their counters exactly and store nothing."""
    config = make_config(tmp_path, 3)
    datagrams, expected = unexpected_messages(random.Random(3), 40)
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert (await client.put("seed", "v", node="n1", w=3)).ok
        assert await wait_until(cluster.quiet, 5.0)
        node = cluster.nodes["n1"]
        before = {k: node.counters[k] for k in expected}
        stored = {n: (cl.storage.live_keys, cl.storage.tombstones) for n, cl in cluster.nodes.items()}
        raw = await UdpTransport.bind()
        try:
            await send_paced(raw, datagrams, node.transport.address)
        finally:
            raw.close()
        await wait_until(lambda: sum(node.counters[k] - before[k] for k in expected) >= len(datagrams), 5.0)
        assert {k: node.counters[k] - before[k] for k in expected} == dict(expected)
        assert node.counters["handler_errors"] == 0
        assert node.storage.get("fuzz") is None
        assert {n: (cl.storage.live_keys, cl.storage.tombstones) for n, cl in cluster.nodes.items()} == stored
        assert (await client.put("after", "x", node="n1", w=3)).ok


async def test_a_signed_put_too_large_to_replicate_does_not_end_the_node(tmp_path):
    """A signed Put that fits one datagram but whose Replicate cannot is refused, and every node keeps serving."""
    config = make_config(tmp_path, 3)
    room = MAX_DATAGRAM - HEADER_SIZE - len(orjson.dumps([1, 2**62, "big", "", 3]))
    datagram = seal([1, 2**62, "big", "v" * room, 3])
    assert len(datagram) == MAX_DATAGRAM
    async with running_cluster(config) as cluster, cluster.client() as client:
        raw = await UdpTransport.bind()
        try:
            await raw.send(datagram, cluster.nodes["n1"].transport.address)
            await trio.sleep(1.0)
        finally:
            raw.close()
        assert all(cluster.running(n) for n in config.node_ids)
        for node in config.node_ids:
            assert (await client.put(f"after-{node}", "v", node=node, w=3)).ok
