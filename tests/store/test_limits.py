"""Size limits: oversized keys and values are client errors, and no value the client accepts harms a node."""

from __future__ import annotations

import pytest

from minikeydb.wire import MAX_VALUE_BYTES, Codec, Put, TooLarge

from .cluster_fixture import make_config, running_cluster
from .conftest import TEST_SECRET


def largest_escaped_value() -> str:
    """The longest run of '"' whose Put still fits one datagram for any request id.

    JSON escapes each '"' to two bytes, so this value is under MAX_VALUE_BYTES as UTF-8 yet
    encodes to almost a whole datagram; a Replicate or Reply carrying it is a little larger.
    """
    codec = Codec(TEST_SECRET.encode())
    best = 0
    for n in range(29_000, 30_500):
        try:
            codec.encode(Put(2**62, "k", '"' * n, (2**62 - 1, 2**32 - 1, "c" + "f" * 16), 2**16 - 1))
        except TooLarge:
            break
        best = n
    assert 0 < best < MAX_VALUE_BYTES
    return '"' * best


async def test_oversized_values_and_keys_raise_too_large_before_sending(tmp_path):
    """The client refuses a value over 32 KiB or a key over 1 KiB with TooLarge, and the node never sees it."""
    config = make_config(tmp_path, 3)
    async with running_cluster(config) as cluster, cluster.client() as client:
        with pytest.raises(TooLarge, match="32768"):
            await client.put("k", "v" * (MAX_VALUE_BYTES + 1), node="n1")
        with pytest.raises(TooLarge, match="1024"):
            await client.get("k" * 1025, node="n1")
        assert client.counters["datagrams_sent"] == 0
        assert (await client.put("k", "v" * MAX_VALUE_BYTES, node="n1", w=3)).ok
        assert (await client.get("k", node="n2")).value == "v" * MAX_VALUE_BYTES


async def test_a_value_the_client_accepts_never_takes_a_node_down(tmp_path):
    """A put the client sends (its value under the limit, but JSON-escaped to nearly a datagram) is stored or refused, and every node keeps serving."""
    config = make_config(tmp_path, 3)
    value = largest_escaped_value()
    async with running_cluster(config) as cluster, cluster.client() as client:
        try:
            result = await client.put("k", value, node="n1", w=3)
        except TooLarge:
            result = None  # refused by the client: fine
        if result is not None:
            assert result.outcome in ("ok", "fail")
        for node in config.node_ids:
            assert cluster.running(node)
            assert (await client.put(f"after-{node}", "v", node=node, w=3)).ok
