"""Benchmark: the REAL timeline of one ``harness.py explore`` (what ``bench/shrink_schedule.py`` only models).

Runs ``harness.py explore --runs N --bug B --nemesis ... --workers W`` (each W given, in turn) as
its own process, as a user would, with tracing patched in from here (``install``: nothing of the
harness changes, and nothing costs anything when this bench is not used): per task, when the parent
sent it, when the worker started and finished it (``time.monotonic``: the forked workers and the
parent read one clock), its CPU and system seconds and minor page faults, when the parent received
the answer, and the bytes each way; each shrink trial's judging; the forks; the parent's own CPU
seconds (in all, and from the first task sent to the last answer received); the process's start-up
until the first task is sent; the writing of the minimal run and the tail to exit. Printed per W:

- ``to_first_task``, ``last_judge``, ``final_run``, ``after_final_to_exit``: the serial parts;
- ``parent_cpu`` and ``parent_cpu_first_send_to_last_recv`` (the parent is a third process on 2 cores);
- ``send_bytes_*`` / ``reply_bytes_max``: what crosses the pipes (a task, a ``TrialReport``);
- per worker: tasks, busy seconds and share of the wall, CPU, system seconds, faults, idle gaps (ms);
- ``machine``: where the machine's core-seconds went while the explore ran (/proc/stat): explore's own
  CPU, other processes', idle, steal; what the scheduler gave explore, whatever the load;
- ``cores_the_trials_got``: the trials' CPU seconds over their span (about W on an idle machine: the
  figure that says how much of the machine explore got, whatever the load);
- with W=1 first: the same candidates' CPU here and alone, and the CPU of the tasks W=1 never ran
  (speculation nobody needed).

What it showed (2026-11-26, 2-core KVM, load 2-6 from other sessions): the workers are busy 98% of
their span (gaps 1-10 ms a task against 1 ms inline, 0.16-0.36 s in all for 2 workers), the parent
spends 0.08 s CPU from the first task to the last answer, a task is 1.2 KB and a report 445 bytes,
the forks 6-8 ms, start-up and the tail the same as with 1 worker; 8-12 speculative runs (0.23-0.54 s
CPU) nobody needed. What the model lacked was the scheduler: Linux's autogroup gave the workers,
then in explore's session, one session's share of the CPU (``cores_the_trials_got`` 0.48 at load 4
with 2 workers), now each worker is a session of its own (``runner.explore_pool``).

Usage: python bench/explore_timeline.py [--workers 1,2] [--runs 40] [--bug no-repair] [--repeats 1] [--tasks]
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import json
import os
import pickle
import resource
import runpy
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

EVENTS: list[tuple[Any, ...]] = []
"""The parent's events: (name, monotonic time, fields...)."""
TRACE = os.environ.get("EXPLORE_TIMELINE_TRACE", "")


def traced_run_task(task: Any) -> Any:
    """``run_task`` as a worker runs it, its start, end, CPU and answer size appended to the worker's file."""
    from runner.explore_trial import run_task

    start, cpu = time.monotonic(), time.process_time()
    before = resource.getrusage(resource.RUSAGE_SELF)
    report = run_task(task)
    after = resource.getrusage(resource.RUSAGE_SELF)
    end = time.monotonic()
    line = {"pid": os.getpid(), "index": task.index, "start": start, "end": end,
            "cpu": time.process_time() - cpu,
            "sys": after.ru_stime - before.ru_stime, "minflt": after.ru_minflt - before.ru_minflt, "reply_bytes": len(pickle.dumps(("ok", report), protocol=5)),
            "wall_in_trial": report.wall_seconds,
            "key": hashlib.blake2b(task.candidate.key().encode(), digest_size=6).hexdigest()}
    if TRACE:
        with open(f"{TRACE}.workers", "a") as out:
            out.write(json.dumps(line) + "\n")
    return report


class TracedConnection:
    """A parent's end of a worker pipe that notes each send and receive."""

    def __init__(self, conn: Any, worker: int) -> None:
        self._conn = conn
        self._worker = worker

    def send(self, obj: Any) -> None:
        size = len(pickle.dumps(obj, protocol=5)) if obj is not None else 0
        index = getattr(obj[1], "index", None) if isinstance(obj, tuple) else None
        EVENTS.append(("send", time.monotonic(), self._worker, index, size, time.process_time()))
        self._conn.send(obj)

    def recv(self) -> Any:
        t = time.monotonic()
        value = self._conn.recv()
        index = getattr(value[1], "index", None) if isinstance(value, tuple) else None
        EVENTS.append(("recv", time.monotonic(), self._worker, index, time.monotonic() - t, time.process_time()))
        return value

    def poll(self, *args: Any) -> bool:
        return bool(self._conn.poll(*args))

    def fileno(self) -> int:
        return int(self._conn.fileno())

    def close(self) -> None:
        self._conn.close()


def _noted(name: str, fn: Any) -> Any:
    """``fn`` noting when each call began and ended."""

    def noted(*args: Any, **kw: Any) -> Any:
        EVENTS.append((f"{name}-start", time.monotonic()))
        try:
            return fn(*args, **kw)
        finally:
            EVENTS.append((f"{name}-end", time.monotonic()))

    return noted


def install() -> None:
    """Patch the explore machinery to note the timeline (in the explore process, before it runs)."""
    import runner.explore as explore
    import runner.explore_pool as pool
    import runner.shrink as shrink

    explore.run_task = traced_run_task
    spawn = pool.ProcessExecutor._spawn

    def traced_spawn(self: Any, w: int) -> None:
        t = time.monotonic()
        spawn(self, w)
        self._conns[w] = TracedConnection(self._conns[w], w)
        EVENTS.append(("fork", t, w, time.monotonic() - t, self._procs[w].pid))

    pool.ProcessExecutor._spawn = traced_spawn  # type: ignore[method-assign]
    init = shrink.Shrinker.__init__

    def traced_init(self: Any, original: Any, evaluate: Any, **kw: Any) -> None:
        on_trial = kw.get("on_trial")

        def noted(n: int, *rest: Any) -> None:
            EVENTS.append(("judge", time.monotonic(), n, bool(rest[-1])))
            if on_trial is not None:
                on_trial(n, *rest)

        kw["on_trial"] = noted
        init(self, original, evaluate, **kw)

    shrink.Shrinker.__init__ = traced_init  # type: ignore[method-assign]
    run = explore.run

    def traced_run(*args: Any, **kw: Any) -> Any:  # the minimal run written at the end (and W=1's trials do not use it)
        EVENTS.append(("final-start", time.monotonic()))
        out = run(*args, **kw)
        EVENTS.append(("final-end", time.monotonic()))
        return out

    explore.run = traced_run
    for name in ("make_executor", "explore", "sweep", "candidate_for"):
        setattr(explore, name, _noted(name, getattr(explore, name)))
    import runner.explore_ledger as ledger
    for name in ("commit",):
        setattr(explore, name, _noted(name, getattr(ledger, name)))

    def traced_inline(self: Any, fn: Any, items: Any) -> Any:
        for item in items:
            EVENTS.append(("send", time.monotonic(), 0, getattr(item, "index", None), 0))
            value = fn(item)
            EVENTS.append(("recv", time.monotonic(), 0, getattr(value, "index", None), 0.0))
            yield value

    pool.InlineExecutor.map_unordered = traced_inline  # type: ignore[method-assign]

    def dump() -> None:
        usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        EVENTS.append(("exit", time.monotonic(), usage.ru_utime + usage.ru_stime,
                       children.ru_utime + children.ru_stime))
        Path(TRACE).write_text(json.dumps(EVENTS))

    atexit.register(dump)


def child(argv: list[str]) -> None:
    """The explore process: the harness's own ``__main__`` with the tracing installed first."""
    EVENTS.append(("main", time.monotonic()))
    sys.path.insert(0, str(ROOT))
    install()
    EVENTS.append(("patched", time.monotonic()))
    sys.argv = [str(ROOT / "harness.py"), *argv]
    runpy.run_path(str(ROOT / "harness.py"), run_name="__main__")


def machine_ticks() -> list[int]:
    """/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq, steal (clock ticks, all cores)."""
    return [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]


def machine_split(before: list[int], after: list[int], wall: float, own_cpu: float) -> str:
    """Where the machine's core-seconds went while the explore ran: explore's own CPU, other processes', idle, steal."""
    hz = os.sysconf("SC_CLK_TCK")
    d = [(b - a) / hz for a, b in zip(before, after, strict=True)]
    busy = d[0] + d[1] + d[2] + d[5] + d[6]
    return (f"{os.cpu_count()} cores x {wall:.2f} s: explore's CPU {own_cpu:.2f} s, other processes' "
            f"{max(0.0, busy - own_cpu):.2f} s, idle {d[3] + d[4]:.2f} s, steal {d[7]:.2f} s")


def analyse(trace: Path, t0: float, t_exit: float, show_tasks: bool) -> dict[str, Any]:
    events = json.loads(trace.read_text())
    workers: list[dict[str, Any]] = []
    wfile = Path(f"{trace}.workers")
    if wfile.exists():
        workers = [json.loads(line) for line in wfile.read_text().splitlines()]
    sends = [e for e in events if e[0] == "send"]
    recvs = [e for e in events if e[0] == "recv"]
    judges = [e for e in events if e[0] == "judge"]
    forks = [e for e in events if e[0] == "fork"]
    final = {e[0]: e[1] for e in events if e[0] in ("final-start", "final-end", "main", "patched")}
    exit_event = next(e for e in events if e[0] == "exit")
    first_send = sends[0][1] if sends else t0
    marks = [f"{e[0]} {e[1] - t0:.3f}" for e in events if e[0].endswith(("-start", "-end")) or e[0] in ("main", "patched")]
    print("  marks: " + ", ".join(m for m in marks if not m.startswith("candidate_for"))[:1500])
    cands = [e for e in events if e[0].startswith("candidate_for")]
    print(f"  candidate_for calls: {len(cands) // 2}, total {sum(b[1] - a[1] for a, b in zip(cands[::2], cands[1::2], strict=False)):.3f} s")
    last_recv = max((e[1] for e in recvs), default=t0)
    total = t_exit - t0
    out: dict[str, Any] = {
        "wall": total, "interpreter_start": final["main"] - t0, "to_first_task": first_send - t0,
        "tasks_sent": len(sends), "judged": len(judges),
        "last_judge": (judges[-1][1] - t0) if judges else None,
        "last_recv": last_recv - t0,
        "final_run": final.get("final-end", 0) - final.get("final-start", 0),
        "after_final_to_exit": t_exit - final.get("final-end", t_exit),
        "parent_cpu": exit_event[2], "children_cpu_reaped": exit_event[3],
        "forks_ms": [round(e[3] * 1000, 1) for e in forks],
        "send_bytes_max": max((e[4] for e in sends), default=0),
        "send_bytes_mean": sum(e[4] for e in sends) / len(sends) if sends else 0,
        "reply_bytes_max": max((w["reply_bytes"] for w in workers), default=0),
        "recv_ms_total": round(sum(e[4] for e in recvs) * 1000, 1),
        "parent_cpu_first_send_to_last_recv": (max((e[5] for e in recvs if len(e) > 5), default=0)
                                               - min((e[5] for e in sends if len(e) > 5), default=0)),
        "worker_idle_between_tasks_s": None,
    }
    by_pid: dict[int, list[dict[str, Any]]] = {}
    for w in workers:
        by_pid.setdefault(w["pid"], []).append(w)
    busy = []
    for pid, tasks in sorted(by_pid.items()):
        tasks.sort(key=lambda x: x["start"])
        b = sum(x["end"] - x["start"] for x in tasks)
        gaps = [round((b2["start"] - a["end"]) * 1000) for a, b2 in zip(tasks, tasks[1:], strict=False)]
        busy.append({"sys": round(sum(x.get("sys", 0) for x in tasks), 3),
                     "minflt": sum(x.get("minflt", 0) for x in tasks), "pid": pid, "tasks": len(tasks), "busy": round(b, 2), "cpu": round(sum(x["cpu"] for x in tasks), 2),
                     "first_start": round(tasks[0]["start"] - t0, 2), "last_end": round(tasks[-1]["end"] - t0, 2),
                     "gaps_ms": gaps})
    out["workers"] = busy
    out["worker_idle_between_tasks_s"] = round(sum(sum(b["gaps_ms"]) for b in busy) / 1000, 3)
    if workers:
        span = max(w["end"] for w in workers) - min(w["start"] for w in workers)
        out["cores_the_trials_got"] = round(sum(w["cpu"] for w in workers) / span, 2)
        """CPU seconds of the trials over the span from the first trial's start to the last one's end."""
    out["trial_cpu_total"] = round(sum(w["cpu"] for w in workers), 3)
    out["trial_wall_total"] = round(sum(w["end"] - w["start"] for w in workers), 3)
    out["_by_key"] = {w["key"]: (w["end"] - w["start"], w["cpu"]) for w in workers}
    if show_tasks:
        sent = {e[3]: e for e in sends}
        got = {e[3]: e for e in recvs}
        for w in sorted(workers, key=lambda x: x["start"]):
            s, r = sent.get(w["index"]), got.get(w["index"])
            print(f"    task {w['index']:>4} pid {w['pid']}: sent {s[1] - t0 if s else -1:6.3f} start {w['start'] - t0:6.3f} "
                  f"end {w['end'] - t0:6.3f} recv {r[1] - t0 if r else -1:6.3f} ({w['end'] - w['start']:.3f} s, cpu "
                  f"{w['cpu']:.3f})")
        for j in judges:
            print(f"    judge {j[2]:>3} at {j[1] - t0:6.3f} kept={j[3]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--bug", default="no-repair")
    parser.add_argument("--nemesis", default="partition")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--tasks", action="store_true", help="print every task and judgement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="explore-timeline-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", "--runs", "1", "--time-limit", "0.5",
                        "--workers", "1", "--out", str(Path(tmp) / "warm")], env=env, capture_output=True)
        alone: dict[str, Any] = {}
        warm = resource.getrusage(resource.RUSAGE_CHILDREN)
        reaped = warm.ru_utime + warm.ru_stime
        for r in range(args.repeats):
            for w in [int(x) for x in args.workers.split(",")]:
                trace = Path(tmp) / f"trace-{r}-{w}.json"
                env["EXPLORE_TIMELINE_TRACE"] = str(trace)
                load = os.getloadavg()[0]
                ticks = machine_ticks()
                t0 = time.monotonic()
                done = subprocess.run(
                    [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                     "from bench.explore_timeline import child; child(sys.argv[2:])", str(ROOT), "explore",
                     "--runs", str(args.runs), "--bug", args.bug, "--nemesis", args.nemesis, "--workers", str(w),
                     "--out", str(Path(tmp) / f"out-{r}-{w}"), "--ledger", str(Path(tmp) / f"ledger-{r}-{w}.jsonl")],
                    env=env, capture_output=True, text=True)
                t_exit = time.monotonic()
                ticks_after = machine_ticks()
                own = resource.getrusage(resource.RUSAGE_CHILDREN)
                if done.returncode not in (0, 1):
                    print(done.stderr[-3000:])
                    return 1
                print(f"--workers {w} (load {load:.1f}):", flush=True)
                figures = analyse(trace, t0, t_exit, args.tasks)
                spent = own.ru_utime + own.ru_stime - reaped
                reaped = own.ru_utime + own.ru_stime
                print("  machine: " + machine_split(ticks, ticks_after, t_exit - t0, spent))
                for key, value in figures.items():
                    if key not in ("workers", "_by_key"):
                        print(f"  {key}: {round(value, 3) if isinstance(value, float) else value}")
                if w == 1:
                    alone = figures["_by_key"]
                elif alone:
                    both = [(alone[k], v) for k, v in figures["_by_key"].items() if k in alone]
                    extra = [k for k in figures["_by_key"] if k not in alone]
                    print(f"  same candidates as --workers 1: {len(both)}; their cpu here "
                          f"{sum(v[1] for _, v in both):.3f} s vs {sum(a[1] for a, _ in both):.3f} s alone; wall here "
                          f"{sum(v[0] for _, v in both):.3f} vs {sum(a[0] for a, _ in both):.3f}; other tasks "
                          f"{len(extra)}: cpu {sum(figures['_by_key'][k][1] for k in extra):.3f} s")
                for wk in figures["workers"]:
                    print(f"  worker {wk['pid']}: {wk['tasks']} tasks, busy {wk['busy']} s "
                          f"({wk['busy'] / figures['wall']:.0%} of the wall, "
                          f"{wk['busy'] / max(1e-9, wk['last_end'] - wk['first_start']):.0%} of its span), cpu {wk['cpu']} s, first start "
                          f"{wk['first_start']}, sys {wk['sys']} s, minor faults {wk['minflt']}, last end {wk['last_end']}, gaps ms {wk['gaps_ms']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
