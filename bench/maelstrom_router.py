"""Messages per second through the Maelstrom router between real node processes, the nodes' own cost apart.

Usage: python bench/maelstrom_router.py [--messages 200000] [--nodes 2] [--faults] [--no-journal]

``--nodes`` flood nodes (Python, standard library; written to a temporary file) each send
``--messages / nodes`` Maelstrom messages to the next node as fast as they can, in batches, and
count the lines they receive. Every message crosses the harness's ``Router`` (the one
``harness.py maelstrom test`` uses): the node's stdout read in 64 KiB chunks, each line parsed and
checked, the ``FaultModel``'s decision, the journal record (unless ``--no-journal``), the write to
the destination's stdin. With ``--faults`` the links drop 10% and delay 10% (1 ms), so each
message also draws from its own seeded stream.

Printed (each a median of ``--repeat`` runs):

- wall: messages routed / seconds from the first to the last (nodes, router and the OS share the
  machine's cores: this is what a run would see);
- router CPU: this process's CPU seconds per message (``time.process_time``), and the messages per
  second one core of router would carry at that cost: the router's own figure, the nodes' cost
  taken out;
- nodes alone: the same flood node writing its messages to /dev/null and reading a file of them,
  without the router: what the nodes cost per message.

The bar (issue 19) is >= 10,000 messages/s through the router on the 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nemesis.link_faults import DelayDistribution, FaultModel  # noqa: E402
from runner.maelstrom.node_process import MaelstromNode  # noqa: E402
from runner.maelstrom.router import MessageJournal, Router  # noqa: E402

FLOOD = r'''#!/usr/bin/env python3
import json, os, sys, threading
count = int(sys.argv[1])
out = sys.stdout.buffer
def reader():
    global me, peer
    got = 0
    first = sys.stdin.buffer.readline()
    init = json.loads(first)
    me = init["body"]["node_id"]; ids = init["body"]["node_ids"]
    peer = ids[(ids.index(me) + 1) % len(ids)]
    out.write((json.dumps({"src": me, "dest": init["src"], "body": {"type": "init_ok",
               "in_reply_to": init["body"]["msg_id"]}}) + "\n").encode()); out.flush()
    sys.stdin.buffer.readline()  # "go": the harness's clock starts
    started.set()
    fd = sys.stdin.buffer.fileno()
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            return
        got += data.count(b"\n")
started = threading.Event()
t = threading.Thread(target=reader, daemon=True); t.start()
started.wait()
head = ('{"src": "%s", "dest": "%s", "body": {"type": "flood", "msg_id": ' % (me, peer)).encode()
batch = 500
for start in range(0, count, batch):
    out.write(b"".join(head + b"%d}}\n" % i for i in range(start, min(count, start + batch))))
out.flush()
t.join()
'''


async def route(node_file: Path, nodes: int, messages: int, faults: bool, journal_dir: Path | None
                ) -> tuple[float, float, int]:
    """(wall seconds, router CPU seconds, messages routed) for one flood through the router."""
    model = FaultModel(random.Random(1))
    if faults:
        model.set_drop(0.1)
        model.set_delay(None)
        model.set_reorder(0.1, DelayDistribution.constant(0.001))
    ids = [f"n{i}" for i in range(nodes)]
    per_node = messages // nodes
    node_map: dict[str, MaelstromNode] = {}
    journal = MessageJournal(journal_dir / "messages.jsonl.gz", {}) if journal_dir is not None else None
    router = Router(node_map, model, 1, {}, None, journal)
    log_dir = Path(tempfile.mkdtemp(prefix="mrouter-"))
    for n in ids:
        node_map[n] = MaelstromNode(n, [sys.executable, str(node_file), str(per_node)], log_dir / f"{n}.log",
                                    router.on_lines)
    async with trio.open_nursery() as nursery:
        await nursery.start(router.run_timers)
        for n in ids:
            node_map[n].start(nursery)
        inited = trio.Event()
        waiting = set(ids)

        for n in ids:
            def on_reply(body: dict[str, object], sender: str, n: str = n) -> None:
                waiting.discard(n)
                if not waiting:
                    inited.set()

            router.clients.expect("c0", 1000 + ids.index(n), on_reply, n)
            router.send_from_outside("c0", n, {"type": "init", "msg_id": 1000 + ids.index(n), "node_id": n,
                                               "node_ids": ids})
        with trio.fail_after(30):
            await inited.wait()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        base = router.counts["inter_node"]
        for n in ids:
            router.send_from_outside("c0", n, {"type": "go"})
        with trio.fail_after(300):
            while router.counts["inter_node"] - base < per_node * nodes:
                await trio.sleep(0.005)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        for node in node_map.values():
            node.expect_exit()
            await node.kill()
        nursery.cancel_scope.cancel()
    if journal is not None:
        journal.close()
    return wall, cpu, router.counts["inter_node"] - base


def nodes_alone(node_file: Path, messages: int) -> float:
    """Seconds the flood node takes to write ``messages`` lines (to /dev/null) and read as many."""
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "in"
        init = b'{"src": "c0", "dest": "n0", "body": {"type": "init", "msg_id": 1, "node_id": "n0", "node_ids": ["n0"]}}\n'
        line = b'{"src": "n1", "dest": "n0", "body": {"type": "flood", "msg_id": 123456}}\n'
        go = b'{"src": "c0", "dest": "n0", "body": {"type": "go"}}\n'
        feed.write_bytes(init + go + line * messages)
        start = time.perf_counter()
        with feed.open("rb") as stdin:
            subprocess.run([sys.executable, str(node_file), str(messages)], stdin=stdin, stdout=subprocess.DEVNULL,
                           check=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--no-journal", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        node_file = Path(tmp) / "flood.py"
        node_file.write_text(FLOOD)
        node_file.chmod(0o755)
        walls, cpus = [], []
        for _ in range(args.repeat):
            wall, cpu, routed = trio.run(route, node_file, args.nodes, args.messages, args.faults,
                                         None if args.no_journal else Path(tmp))
            walls.append(routed / wall)
            cpus.append(cpu / routed)
        alone = statistics.median(nodes_alone(node_file, args.messages // args.nodes) for _ in range(args.repeat))
    load = os.getloadavg()
    cpu_us = statistics.median(cpus) * 1e6
    print(f"routed {args.messages} messages between {args.nodes} node processes "
          f"(faults {'on' if args.faults else 'off'}, journal {'off' if args.no_journal else 'on'}), "
          f"median of {args.repeat}:")
    print(f"  wall:         {statistics.median(walls):,.0f} messages/s through the router (bar >= 10,000)")
    print(f"  router CPU:   {cpu_us:.2f} us/message -> {1e6 / cpu_us:,.0f} messages/s per core of router")
    per_node = args.messages // args.nodes
    print(f"  nodes alone:  {alone / per_node * 1e6:.2f} us/message for one node to write and read its share "
          f"({per_node / alone:,.0f} messages/s per node, no router)")
    print(f"  load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
