"""Where a simulated run's datagrams and task steps come from (issue #18's speed bar).

Runs the 5-node partition test of ``bench/sim.py`` (same options, same seed) once and prints:
datagrams by message kind and direction (client -> node, node -> node, node -> client) with their
number per client operation, and Trio task steps by task name, per operation. A simulated second's
cost is these two counts times what each costs, so this is what to look at before trimming code.
Counting changes no run: the history is the same bytes as without it.

Usage: python bench/sim_traffic.py [--seed S] [--time-limit T] [--nodes N]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def traffic(nodes: int, time_limit: float, seed: int) -> dict[str, Any]:
    """One run; datagrams per (kind, direction), task steps per task name, operations per f."""
    import orjson
    import trio

    from minikeydb.testing.network import MemoryNetwork
    from minikeydb.wire import peek
    from runner.options import RunOptions
    from runner.phases import make_schedule
    from runner.run import run
    from runner.simulate import SimMode

    datagrams: collections.Counter[tuple[str, str]] = collections.Counter()
    steps: collections.Counter[str] = collections.Counter()
    schedule_datagram = MemoryNetwork.schedule
    trio_run = SimMode.trio_run

    def counted_schedule(self: MemoryNetwork, delay: float, data: bytes, src: Any, dest: Any) -> None:
        side = ("client" if src[0] == "client" else "node") + " -> " + ("client" if dest[0] == "client" else "node")
        datagrams[(peek(data)[0], side)] += 1
        schedule_datagram(self, delay, data, src, dest)

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            steps[task.name.rsplit(".", 1)[-1]] += 1

    def counted_run(self: SimMode, main: Callable[[], Awaitable[Any]]) -> Any:
        async def instrumented() -> Any:
            trio.lowlevel.add_instrument(Steps())
            return await main()

        return trio_run(self, instrumented)

    with tempfile.TemporaryDirectory(prefix="bench-traffic-") as out:
        options = RunOptions(mode="sim", nemesis=("partition",), nodes=nodes, time_limit=time_limit, seed=seed,
                             out=out).validate()
        schedule = make_schedule(options, tuple(f"n{i + 1}" for i in range(nodes)))
        MemoryNetwork.schedule = counted_schedule  # type: ignore[method-assign]
        SimMode.trio_run = counted_run  # type: ignore[method-assign]
        try:
            result = run(options, ["bench/sim_traffic.py"], schedule=schedule, quiet=True, report=False)
        finally:
            MemoryNetwork.schedule = schedule_datagram  # type: ignore[method-assign]
            SimMode.trio_run = trio_run  # type: ignore[method-assign]
        ops: collections.Counter[str] = collections.Counter()
        for line in (result.run_dir / "history.jsonl").read_bytes().splitlines():
            event = orjson.loads(line)
            if event.get("type") == "invoke":
                ops[event["f"]] += 1
    return {"datagrams": datagrams, "steps": steps, "ops": ops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--nodes", type=int, default=5)
    args = parser.parse_args()
    counts = traffic(args.nodes, args.time_limit, args.seed)
    ops = sum(counts["ops"].values()) or 1
    total = sum(counts["datagrams"].values())
    print(f"{args.nodes} nodes, seed {args.seed}, {args.time_limit:g} s of load: {ops} operations "
          f"({', '.join(f'{n} {f}' for f, n in sorted(counts['ops'].items()))})")
    print(f"datagrams: {total} = {total / ops:.2f} per operation")
    for (kind, side), n in counts["datagrams"].most_common():
        print(f"  {kind:<14} {side:<16} {n:>7}  {n / ops:5.2f}/op")
    steps = sum(counts["steps"].values())
    print(f"task steps: {steps} = {steps / ops:.2f} per operation, {steps / max(total, 1):.2f} per datagram")
    for name, n in counts["steps"].most_common(10):
        print(f"  {name:<28} {n:>7}  {n / ops:5.2f}/op")


if __name__ == "__main__":
    main()
