"""Encode+decode cost per message for orjson, msgpack and stdlib json, on MinikeyDB-shaped messages.

Usage: python bench/codec.py [--budget 0.02]   (needs msgpack: python -m pip install -e ".[bench]")

Three messages: a single put as the node sends it, a replication batch of 20 records, and a put
carrying a 32 KiB value (near the datagram size limit, where copying dominates). Each codec
round-trips each message (``loads(dumps(msg))``), the result is checked equal to the input, and
the best of five timing runs is printed in microseconds per message, with the encoded size.
``--budget`` is the target seconds per timing run; the default keeps the whole script near 5 s.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable
from typing import Any

import msgpack
import orjson

Message = dict[str, Any]


def put_message(i: int = 123456789, value: str = "p3-41") -> Message:
    return {
        "v": 1,
        "t": "put",
        "id": i,
        "src": "n1",
        "key": "k17",
        "value": value,
        "stamp": [1763930000123, 4, "n2"],
        "w": 1,
    }


def batch_message() -> Message:
    records = [[f"k{i}", f"p{i % 5}-{i}", [1763930000123 + i, i % 3, f"n{i % 3 + 1}"]] for i in range(20)]
    return {"v": 1, "t": "repl", "id": 123456790, "src": "n1", "records": records}


MESSAGES: dict[str, Message] = {
    "put (small)": put_message(),
    "batch of 20 records": batch_message(),
    "put, 32 KiB value": put_message(value="x" * 32 * 1024),
}

Codec = tuple[Callable[[Any], bytes], Callable[[bytes], Any]]

CODECS: dict[str, Codec] = {
    "orjson": (orjson.dumps, orjson.loads),
    "msgpack": (
        lambda m: msgpack.packb(m, use_bin_type=True),
        lambda b: msgpack.unpackb(b, raw=False),
    ),
    "json": (
        lambda m: json.dumps(m, separators=(",", ":")).encode(),
        lambda b: json.loads(b),
    ),
}


def time_round_trip(codec: Codec, message: Message, budget: float) -> float:
    """Microseconds per encode+decode, best of five runs of about ``budget`` seconds each."""
    dumps, loads = codec
    if loads(dumps(message)) != message:
        raise AssertionError("codec did not round-trip the message")
    timer = timeit.Timer(lambda: loads(dumps(message)))
    number, took = timer.autorange()
    number = max(1, int(number * budget / max(took, 1e-9)))
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=0.02, help="seconds per timing run (default 0.02)")
    args = parser.parse_args()
    if args.budget <= 0:
        parser.error("--budget must be positive")
    names = list(CODECS)
    print("encode+decode, µs per message (best of 5); encoded size in bytes")
    print(f"{'message':<22}" + "".join(f"{name:>16}" for name in names))
    for label, message in MESSAGES.items():
        cells = []
        for name in names:
            micros = time_round_trip(CODECS[name], message, args.budget)
            size = len(CODECS[name][0](message))
            cells.append(f"{micros:8.2f} ({size:>5})")
        print(f"{label:<22}" + "".join(f"{cell:>16}" for cell in cells))


if __name__ == "__main__":
    main()
