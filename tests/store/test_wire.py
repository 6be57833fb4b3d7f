"""Wire codec: every message type round-trips; anything else is a WireError, never another exception."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minikeydb.record import Record
from minikeydb.wire import (
    _REGISTRY,
    HEADER_SIZE,
    MAX_DATAGRAM,
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
    TooLarge,
    Update,
    WireError,
    batch_records,
    check_sizes,
)

SECRET = b"wire-test-secret"
CODEC = Codec(SECRET)
REC = Record("k", "v", (1_700_000_000_000_000, 3, "n1"))
TOMB = Record("gone", None, (1_700_000_000_000_001, 0, "n2"))

CLIENT = "c0123456789abcdef"
CSTAMP = (1_700_000_000_000_000, 0, CLIENT)

EXAMPLES: list[Message] = [
    Put(1, "k", "value", CSTAMP, 2),
    Update(20, "k", "put", "v", "ctx", 3, 0, CSTAMP, 2),
    Update(21, "k", "incr", None, None, 2**62 - 1, 2**16 - 1, CSTAMP),
    Put(2**62, "ключ", "", (2**62 - 1, 2**32 - 1, CLIENT), 0),
    Delete(3, "k", CSTAMP, 3),
    Get(4, CLIENT, "k", 2, True),
    Get(5, CLIENT, "k"),
    StatsRequest(6),
    Reply(7, "ok", "v", (1, 2, "n1"), None, "n1"),
    Reply(8, "unknown", None, None, "timeout", "n2"),
    StatsReply(9, "n3", {"keys": 4, "datagrams_sent": 10}),
    Replicate(10, "n1", (REC, TOMB)),
    Ack(12, "n2"),
    Read(13, "n1", "k"),
    ReadReply(14, "n2", REC),
    ReadReply(15, "n2", None),
    Digests(16, "n1", ((0, 123), (5, 2**64 - 1))),
    KeyStamps(17, "n2", (1, 2), (("k", (1, 2, "n1")),), True),
    Pull(18, "n1", ("a", "b")),
]


def sign(payload: bytes, secret: bytes = SECRET) -> bytes:
    """A datagram with a valid tag around any payload: gets past authentication to the decoder."""
    return Codec(secret).seal(payload)


def test_examples_cover_every_message_kind():
    """The round-trip examples include at least one message of every registered kind."""
    assert {type(m) for m in EXAMPLES} == set(_REGISTRY.values())


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message):
    """Decoding an encoded message gives back an equal message of the same type."""
    decoded = CODEC.decode(CODEC.encode(message))
    assert type(decoded) is type(message)
    assert decoded == message


def test_decoded_stamps_are_tuples():
    """Stamps come back as tuples, so they compare with locally made stamps without a TypeError."""
    decoded = CODEC.decode(CODEC.encode(Replicate(1, "n1", (REC,))))
    assert isinstance(decoded.records[0].stamp, tuple)
    assert decoded.records[0].stamp > (0, 0, "")


def test_a_different_secret_is_an_auth_error():
    """A datagram signed with another cluster's secret is rejected as AuthError."""
    data = Codec(b"other").encode(Ack(1, "n1"))
    with pytest.raises(AuthError):
        CODEC.decode(data)


@pytest.mark.parametrize("cut", [0, 1, 3, HEADER_SIZE - 1, HEADER_SIZE, HEADER_SIZE + 3, -1])
def test_truncated_datagrams_are_wire_errors(cut):
    """Any prefix of a valid datagram is a WireError."""
    data = CODEC.encode(Replicate(1, "n1", (REC, TOMB)))
    with pytest.raises(WireError):
        CODEC.decode(data[:cut])


def test_a_flipped_payload_bit_is_an_auth_error():
    """Changing one payload byte breaks the tag."""
    data = bytearray(CODEC.encode(Put(1, "k", "v", CSTAMP)))
    data[-3] ^= 0x01
    with pytest.raises(AuthError):
        CODEC.decode(bytes(data))


def test_bad_magic_and_version_are_wire_errors():
    """A datagram of another protocol or another wire version is refused before anything else."""
    data = CODEC.encode(Ack(1, "n1"))
    with pytest.raises(WireError, match="magic"):
        CODEC.decode(b"XX" + data[2:])
    with pytest.raises(WireError, match="version"):
        CODEC.decode(data[:2] + bytes([VERSION + 1]) + data[3:])


@pytest.mark.parametrize(
    "payload, reason",
    [
        ([99, 1], "unknown message kind"),
        ([], "kind"),
        ({"kind": 1}, "kind"),
        (["1", 1], "kind"),
        ([1, 1, "k"], "takes"),
        ([1, "1", "k", "v", [1, 0, "c0123456789abcdef"], 0], "integer"),
        ([1, 1, 5, "v", [1, 0, "c0123456789abcdef"], 0], "string"),
        ([1, 1, "", "v", [1, 0, "c0123456789abcdef"], 0], "key"),
        ([1, 1, "k" * 1025, "v", [1, 0, "c0123456789abcdef"], 0], "key"),
        ([1, 1, "k", "v", [1, 0, "n1"], 0], "client id"),
        ([1, 1, "k", "v", [2**62, 0, "c0123456789abcdef"], 0], "physical"),
        ([1, 1, "k", "v", [1, 2**32, "c0123456789abcdef"], 0], "logical"),
        ([1, 1, "k", "v", [1, 0, "c0123456789abcdef"], -1], "quorum"),
        ([2, 1, "k", [1, 0, "C0123456789ABCDEF"], 0], "client id"),
        ([3, 1, "c0123456789abcdef", "k", 0, 1], "boolean"),
        ([3, 1, "somebody", "k", 0, False], "client id"),
        ([1, True, "k", "v", [1, 0, "c0123456789abcdef"], 0], "integer"),
        ([1, -1, "k", "v", [1, 0, "c0123456789abcdef"], 0], "request id"),
        ([11, 2**63, "n1"], "request id"),
        ([10, 1, "n1", []], "non-empty"),
        ([10, 1, "", [["k", "v", [1, 2, "n1"]]]], "node id"),
        ([10, 1, "n1", [["k", "v", [-1, 2, "n1"]]]], "physical"),
        ([10, 1, "n1", [["k", "v", [1, 2, "n" * 65]]]], "node id"),
        ([16, 1, "n1", []], "non-empty"),
        ([15, 1, "n1", [], [], True], "non-empty"),
        ([14, 1, "n1", [[-1, 0]]], "range"),
        ([14, 1, "n1", [[1, -1]]], "digest"),
        ([10, 1, "n1", [["k", "v", [1, 2]]]], "stamp"),
        ([10, 1, "n1", [["k", 7, [1, 2, "n1"]]]], "string"),
        ([10, 1, "n1", "not a list"], "records"),
        ([6, 1, "n1", {"keys": "many"}], "counters"),
        ([14, 1, "n1", [[1]]], "pair"),
        ([15, 1, "n1", [1], [["k"]], True], "pair"),
        ([7, 1, "k", "frobnicate", None, None, 1, 0, [1, 0, "c0123456789abcdef"], 0], "operation"),
        ([7, 1, "k", "put", 5, None, 1, 0, [1, 0, "c0123456789abcdef"], 0], "string"),
        ([7, 1, "k", "incr", None, None, -1, 0, [1, 0, "c0123456789abcdef"], 0], "count"),
        ([7, 1, "k", "incr", None, None, 2**62, 0, [1, 0, "c0123456789abcdef"], 0], "count"),
        ([7, 1, "k", "incr", None, None, 1, 2**16, [1, 0, "c0123456789abcdef"], 0], "lane"),
        ([7, 1, "k", "add", "e", None, 1, 0, [1, 0, "n1"], 0], "client id"),
        ([7, 1, "k", "put", "v", "x" * 40000, 1, 0, [1, 0, "c0123456789abcdef"], 0], "value"),
        ([10, 1, "n1", [["k", "v" * 50000, [1, 2, "n1"]]]], "record value"),
    ],
)
def test_wrong_shapes_and_field_types_are_wire_errors(payload, reason):
    """Authenticated payloads with a bad kind, field count or field type raise WireError saying what is wrong."""
    with pytest.raises(WireError, match=reason):
        CODEC.decode(sign(orjson.dumps(payload)))


def test_non_json_payload_is_a_wire_error():
    """An authenticated payload that is not JSON is a WireError."""
    with pytest.raises(WireError, match="JSON"):
        CODEC.decode(sign(b"\xff\x00not json"))


def test_deep_nesting_is_a_wire_error():
    """A payload nested thousands deep is refused, not a RecursionError."""
    with pytest.raises(WireError):
        CODEC.decode(sign(b"[10,1,\"n1\"," + b"[" * 5000 + b"]" * 5000 + b"]"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_random_bytes_are_wire_errors(data):
    """Arbitrary bytes never decode and never raise anything but WireError."""
    with pytest.raises(WireError):
        CODEC.decode(data)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_authenticated_random_bytes_never_raise_anything_else(payload):
    """Random bytes behind a valid tag raise WireError (or, by rare luck, decode to a message)."""
    try:
        message = CODEC.decode(sign(payload))
    except WireError:
        return
    assert isinstance(message, Message)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=20,
)


@settings(max_examples=500)
@given(st.integers(0, 20), st.lists(json_values, max_size=6))
def test_authenticated_random_json_messages_never_raise_anything_else(kind, fields):
    """Any JSON array behind a valid tag either decodes to a well-typed message or raises WireError."""
    try:
        message = CODEC.decode(sign(orjson.dumps([kind, *fields])))
    except WireError:
        return
    assert isinstance(message, Message)
    assert CODEC.decode(CODEC.encode(message)) == message


def test_too_large_values_and_keys_are_refused_with_the_limit():
    """check_sizes names the limit for an oversized value or key and for an empty key."""
    check_sizes("k" * 1024, "v" * 32 * 1024)
    with pytest.raises(TooLarge, match="32768"):
        check_sizes("k", "v" * (32 * 1024 + 1))
    with pytest.raises(TooLarge, match="1024"):
        check_sizes("é" * 513, None)
    with pytest.raises(TooLarge, match="empty"):
        check_sizes("", "v")


def test_the_largest_request_fits_one_datagram():
    """A put of a maximal key and value encodes within MAX_DATAGRAM."""
    data = CODEC.encode(Put(2**62, "k" * 1024, "v" * 32 * 1024, (2**62 - 1, 2**32 - 1, "c" + "f" * 16), 2**16 - 1))
    assert len(data) <= MAX_DATAGRAM
    assert CODEC.decode(data).value == "v" * 32 * 1024


def test_encoding_beyond_the_datagram_limit_is_too_large():
    """A message that cannot fit one datagram raises TooLarge instead of being sent truncated."""
    records = tuple(Record(f"k{i}", "v" * 30_000, (1, 0, "n1")) for i in range(3))
    with pytest.raises(TooLarge):
        CODEC.encode(Replicate(1, "n1", records))


def test_batches_fit_the_datagram_limit():
    """batch_records splits maximal records so that every batch encodes into one datagram."""
    records = [Record(f"k{i}", "v" * 32 * 1024, (1, 0, "n1")) for i in range(5)]
    records += [Record(f"s{i}", "x", (1, 0, "n1")) for i in range(2000)]
    groups = batch_records(records)
    assert [r for g in groups for r in g] == records
    for group in groups:
        CODEC.encode(Replicate(2**62, "n1", tuple(group)))


def test_size_split_lists_of_maximal_keys_fit_one_datagram_each():
    """split_by_size with the per-item costs keeps every KeyStamps, Pull and Digests of worst-case items in one datagram."""
    from minikeydb.wire import PAYLOAD_BUDGET, int_pair_cost, key_cost, key_stamp_cost, split_by_size

    escaped = '"' * 512  # 1,024 bytes encoded: the largest key, twice its length on the wire
    keys = [f"{i:04d}" + "k" * 1020 for i in range(150)] + [escaped[: 512 - 4] + f"{i:04d}" for i in range(50)]
    stamp = (2**63 - 1, 2**63 - 1, "node-" + "x" * 60)
    entries = [(key, stamp) for key in keys]
    groups = split_by_size(entries, lambda e: key_stamp_cost(*e), PAYLOAD_BUDGET - 400 * 21)
    assert len(groups) > 1 and [e for g in groups for e in g] == entries
    ranges = tuple(2**63 + i for i in range(400))
    for group in groups:
        CODEC.encode(KeyStamps(2**62, "n" * 60, ranges, tuple(group), True))
    for group in split_by_size(keys, key_cost):
        CODEC.encode(Pull(2**62, "n" * 60, tuple(group)))
    pairs = [(2**63 + i, 2**64 - 1 - i) for i in range(5_000)]
    for group in split_by_size(pairs, int_pair_cost):
        CODEC.encode(Digests(2**62, "n" * 60, tuple(group)))


def test_declaring_a_message_registers_it_and_a_second_message_of_one_kind_is_refused():
    """Subclassing Message registers the attrs class decoding builds; a kind taken twice is a TypeError."""
    assert _REGISTRY[Put.KIND] is Put and _REGISTRY[Replicate.KIND] is Replicate
    with pytest.raises(TypeError, match="kind 1 is already Put's"):

        class Impostor(Message, kind=1, fields=()):
            pass

    assert _REGISTRY[1] is Put


_texts = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)  # no lone surrogates


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=_texts.filter(bool), value=st.one_of(st.none(), _texts),
    physical=st.integers(0, 2**62 - 1), logical=st.integers(0, 2**32 - 1), writer=_texts.filter(bool),
)
def test_record_cost_is_the_sum_of_the_parts_costs(key, value, physical, logical, writer):
    """record_cost (one encoding of the record) equals key, value and stamp costed apart: the same batches."""
    from minikeydb.wire import encoded_size, record_cost, stamp_cost

    record = Record(key, value, (physical, logical, writer))
    apart = encoded_size(key) + (encoded_size(value) if value is not None else 4) + stamp_cost(record.stamp) + 10
    assert record_cost(record) == apart


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.floats(allow_nan=False)
    | st.text(max_size=80) | st.text(alphabet="ab", min_size=1000, max_size=1100),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=8,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(value=_json_values)
def test_inline_field_tests_accept_only_what_their_check_returns_unchanged(value):
    """Each field test a decoder inlines (wire._ACCEPTS) holds only for a value its check returns as it is."""
    from minikeydb.wire import _ACCEPTS

    for check, test in _ACCEPTS.items():
        if eval(test, {}, {"v": value}):  # noqa: S307 - the wire module's own fixed text
            assert check(value) is value, (check.__name__, value)


@pytest.mark.parametrize("payload, got", [([11, 5], 1), ([11, 5, "n1", 7], 3), ([10], 0)])
def test_a_payload_with_the_wrong_number_of_fields_is_a_wire_error_naming_both(payload, got):
    """A known kind with too few or too many fields is refused before any field is checked, naming the counts."""
    name, count = ("Ack", 2) if payload[0] == 11 else ("Replicate", 3)
    with pytest.raises(WireError, match=f"^{name} takes {count} fields, got {got}$"):
        CODEC.decode(CODEC.seal(orjson.dumps(payload)))
