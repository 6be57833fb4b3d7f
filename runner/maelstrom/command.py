"""``harness.py maelstrom test``: run a Maelstrom node under our nemesis, journal and checkers.

Flags are Maelstrom's (names and defaults: ``-w/--workload`` lin-kv, ``--bin``, ``--node-count``
5, ``--time-limit`` 60, ``--rate`` 5, ``--concurrency`` 1n, ``--latency`` 0, ``--latency-dist``
constant, ``--topology`` grid, ``--availability``, ``--nemesis`` none, ``--nemesis-interval`` 10)
plus ours (``--seed``, ``--out``, ``--partition`` kind, ``--crash-targets``, ``--quiesce``).
Words after the flags (or after ``--``) are passed to the binary, as Maelstrom does.

The run: start the nodes, ``init`` each (``init_ok`` within 10 s), the workload's setup
(broadcast's ``topology``), the load with the fault schedule beside it, the heal, a quiescence
wait, the final reads from every node, then the check (``checker.api``) and ``results.json``,
``run.json`` (the options and the schedule: ``harness.py replay`` re-runs from it), and the summary.
A node that breaks the protocol ends the run with the verdict ``unknown`` and the reason.
"""

from __future__ import annotations

import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import trio

from nemesis import FaultSchedule
from nemesis.faults import CRASH_TARGETS
from nemesis.link_faults import DelayDistribution, FaultModel
from nemesis.schedule import run_schedule
from nemesis.topology import PARTITION_KINDS
from runner.exit_codes import verdict_exit
from runner.interrupt import InterruptGuard, RunInterrupted
from runner.options import OptionError
from runner.processes import stop_processes
from runner.recorder import HistoryRecorder
from runner.run_dir import new_run_dir, update_latest, versions, write_json
from runner.usage import Parser, UsageError

from .console import Console
from .node_process import Lines, MaelstromNode, NodeFailure
from .proctree import RunCgroups
from .protocol import parse_line
from .results_edn import write_results_edn
from .router import MessageJournal, Router
from .services import make_services
from .workloads import TOPOLOGIES, WORKLOADS, Op, Workload, make_workload

NEMESES = ("partition", "crash", "pause", "drop", "delay", "duplicate", "reorder")
INIT_TIMEOUT = 10.0
CALL_TIMEOUT = 5.0
LATE_GRACE = 1.0
"""A client whose reply came back this long after --time-limit issues no more (its remaining planned ops)."""
INIT_CLIENT = "c0"
"""The client that sends ``init``, the setup messages and the final reads; load clients are c1, c2, ..."""


@attrs.frozen
class MaelstromOptions:
    """Everything a Maelstrom run depends on (run.json's ``options``)."""

    workload: str
    bin: str
    args: tuple[str, ...] = ()
    node_count: int = 5
    time_limit: float = 60.0
    rate: float = 5.0
    concurrency: int = 5
    latency: float = 0.0
    latency_dist: str = "constant"
    topology: str = "grid"
    availability: str | None = None
    nemesis: tuple[str, ...] = ()
    nemesis_interval: float = 10.0
    partition: str = "random-halves"
    crash_targets: str = "minority"
    quiesce: float = 5.0
    seed: int = 0
    out: str = "histories"
    log_stderr: bool = False
    log_net_send: bool = False
    log_net_recv: bool = False

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["args"] = list(self.args)
        out["nemesis"] = list(self.nemesis)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MaelstromOptions:
        try:
            fields = {k: v for k, v in data.items() if k in attrs.fields_dict(cls)}
            fields["args"] = tuple(fields.get("args", ()))
            fields["nemesis"] = tuple(fields.get("nemesis", ()))
            return cls(**fields)
        except TypeError as exc:
            raise OptionError(f"run.json options: {exc}") from None

    @property
    def node_ids(self) -> list[str]:
        return [f"n{i}" for i in range(self.node_count)]


# -- the command line -------------------------------------------------------------------------------

IGNORED_FLAGS = {
    "--consistency-models": "it names the models Maelstrom's txn workloads are checked against, and this harness "
                            "runs none of those workloads (lin-kv is checked for linearizability)",
    "--key-count": "it sets how many keys Maelstrom's txn-list-append and kafka workloads use, workloads this "
                   "harness does not run (its lin-kv uses keys 0..4)",
    "--max-txn-length": "it sets the length of transactions in Maelstrom's txn workloads, which this harness does "
                        "not run",
    "--max-writes-per-key": "it sets the writes per key of Maelstrom's txn-list-append workload, which this "
                            "harness does not run",
}
"""Maelstrom flags accepted with a note: they tune workloads this harness does not run, and Maelstrom itself
ignores them for the workloads it does run here."""
REFUSED_FLAGS = {
    "--test-count": "run the command again instead (each run draws a fresh seed when --seed is left out)",
    "--nodes": "use --node-count N (the nodes are n0..n{N-1})",
    "--nodes-file": "use --node-count N (the nodes are n0..n{N-1})",
    "--node": "use --node-count N (the nodes are n0..n{N-1})",
    "-n": "use --node-count N (the nodes are n0..n{N-1})",
    "--username": "leave it out: the nodes are local processes, there is no SSH",
    "--password": "leave it out: the nodes are local processes, there is no SSH",
    "--ssh-private-key": "leave it out: the nodes are local processes, there is no SSH",
    "--strict-host-key-checking": "leave it out: the nodes are local processes, there is no SSH",
    "--no-ssh": "leave it out: the nodes are local processes, there is no SSH",
    "--dummy-ssh": "leave it out: the nodes are local processes, there is no SSH",
    "--leave-db-running": "leave it out: the nodes are stopped at the end of every run (their stderr stays in "
                          "RUN/nodes/*.log)",
    "--logging-json": "leave it out: the history, results.json and messages.jsonl.gz are JSON lines already",
}
"""Jepsen's test flags Maelstrom inherits that mean nothing here: refused by name, saying what to do instead."""
MAELSTROM_ONLY_WORKLOADS = ("kafka", "txn-rw-register", "txn-list-append")
"""Maelstrom's other workloads (its doc/workloads.md lists these three beside the seven run here)."""


MAELSTROM_HELP = f"""usage: harness.py maelstrom {{test,explore}} ...

Test a Maelstrom node (any program speaking Maelstrom's JSON-lines protocol) with MinikeyDB's
nemesis, journal and checkers. Subcommands:

  test      one run: python harness.py maelstrom test -w echo --bin ./node [flags as Maelstrom's]
  explore   run many seeds of a node under faults, shrink the first failure to a minimal run

Workloads: {', '.join(WORKLOADS)}
(not kafka, txn-rw-register or txn-list-append: Maelstrom itself runs those).
Each subcommand's flags: harness.py maelstrom test --help, harness.py maelstrom explore --help.
A run's results: RUN/results.json, RUN/results.edn (Maelstrom's shape), RUN/report.html; replay
it with harness.py replay RUN."""


def refused_flag(argv: Sequence[str]) -> str | None:
    """The one-line error for the first flag of ``argv`` (before ``--``) that is refused here, or None."""
    for word in argv:
        if word == "--":
            break
        flag = word.split("=", 1)[0]
        if flag in REFUSED_FLAGS:
            return f"{flag}: a Maelstrom (Jepsen) flag this harness does not support; {REFUSED_FLAGS[flag]}"
    for i, word in enumerate(argv):
        if word == "--":
            break
        flag, _, value = word.partition("=")
        if flag in ("-w", "--workload"):
            value = value or (argv[i + 1] if i + 1 < len(argv) else "")
            if value in MAELSTROM_ONLY_WORKLOADS:
                return (f"-w {value}: not supported here (a Maelstrom workload this harness does not run); it runs "
                        f"{', '.join(WORKLOADS)}. Test {value} with Maelstrom itself (maelstrom test -w {value} "
                        "--bin ...), or a node's key-value part here with -w lin-kv")
    return None



def parser() -> Parser:
    p = Parser(prog="harness.py maelstrom test",
               description="Test a Maelstrom node (any program speaking Maelstrom's JSON-lines protocol) with "
               "MinikeyDB's nemesis, journal and checkers. Flags as Maelstrom's; words after them go to the binary.")
    p.add_argument("-w", "--workload", default="lin-kv", choices=WORKLOADS, help="the workload (default lin-kv)")
    p.add_argument("--bin", required=True, metavar="PATH", help="the node: an executable or a script with a shebang")
    p.add_argument("--node-count", type=int, default=5, metavar="N", help="how many nodes (n0..n{N-1}; default 5)")
    p.add_argument("--time-limit", type=float, default=60.0, metavar="S", help="seconds of load (default 60)")
    p.add_argument("--rate", type=float, default=5.0, metavar="R",
                   help="requests per second, all clients together (default 5; 0: as fast as they can)")
    p.add_argument("--concurrency", default="1n", metavar="C",
                   help="how many clients: a number, or Kn for K times the node count (default 1n)")
    p.add_argument("--latency", type=float, default=0.0, metavar="MS", help="mean network latency in ms (default 0)")
    p.add_argument("--latency-dist", default="constant", choices=("constant", "uniform", "exponential"),
                   help="latency distribution (default constant)")
    p.add_argument("--topology", default="grid", choices=TOPOLOGIES, help="broadcast's topology (default grid)")
    p.add_argument("--availability", default=None, choices=("total",),
                   help="total: every operation must succeed (unique-ids)")
    p.add_argument("--nemesis", default="", metavar="FAULTS",
                   help=f"comma-separated faults: {', '.join(NEMESES)} (default none)")
    p.add_argument("--nemesis-interval", type=float, default=10.0, metavar="S",
                   help="seconds per fault window and between them (default 10)")
    p.add_argument("--partition", default="random-halves", choices=PARTITION_KINDS,
                   help="the partition's shape (ours; default random-halves; one-way cuts one direction)")
    p.add_argument("--crash-targets", default="minority", choices=CRASH_TARGETS,
                   help="which nodes a crash takes down (ours; default minority)")
    p.add_argument("--quiesce", type=float, default=5.0, metavar="S",
                   help="seconds between the heal and the final reads (ours; default 5)")
    p.add_argument("--log-stderr", action="store_true",
                   help="show each line the nodes write on stderr on the console, prefixed with the node id "
                   "(it is in RUN/nodes/<id>.log either way)")
    p.add_argument("--log-net-send", action="store_true",
                   help="show each message on the console as it enters the network (to stderr)")
    p.add_argument("--log-net-recv", action="store_true",
                   help="show each message on the console as it reaches its destination (to stderr)")
    for flag, what in IGNORED_FLAGS.items():
        p.add_argument(flag, default=None, metavar="X",
                       help=f"Maelstrom's; accepted and ignored with a note: {what}")
    p.add_argument("--seed", type=int, default=None, help="fixes every choice the harness makes (default: random)")
    p.add_argument("--out", default="histories", metavar="DIR", help="where the run directory goes (default histories)")
    p.add_argument("args", nargs="*", metavar="ARG", help="passed to the node's program (after -- if they start with -)")
    return p


def options_from_args(argv: Sequence[str], notes: list[str] | None = None) -> MaelstromOptions:
    """The options of ``argv``; a note for each flag accepted but ignored is appended to ``notes``."""
    refused = refused_flag(argv)
    if refused is not None:
        raise UsageError(refused)
    args = parser().parse_args(list(argv))
    for flag, what in IGNORED_FLAGS.items():
        if getattr(args, flag[2:].replace("-", "_")) is not None and notes is not None:
            notes.append(f"note: {flag} is ignored here: {what}")
    nodes = args.node_count
    if nodes < 1:
        raise UsageError(f"--node-count must be at least 1, got {nodes}")
    conc = str(args.concurrency)
    try:
        concurrency = int(conc[:-1]) * nodes if conc.endswith("n") else int(conc)
    except ValueError:
        raise UsageError(f"--concurrency must be a number or Kn (K times the node count), got {conc!r}") from None
    if concurrency < 1:
        raise UsageError(f"--concurrency must be at least 1, got {conc!r}")
    for flag, value in (("--time-limit", args.time_limit), ("--nemesis-interval", args.nemesis_interval)):
        if not 0 < value < 1e9:
            raise UsageError(f"{flag} must be a positive number of seconds, got {value:g}")
    for flag, value in (("--rate", args.rate), ("--latency", args.latency), ("--quiesce", args.quiesce)):
        if not 0 <= value < 1e9:
            raise UsageError(f"{flag} must be a number >= 0, got {value:g}")
    kinds = tuple(k.strip() for k in args.nemesis.split(",") if k.strip() and k.strip() != "none")
    for kind in kinds:
        if kind not in NEMESES:
            from runner.usage import did_you_mean

            raise UsageError(f"--nemesis: unknown fault {kind!r}{did_you_mean(kind, NEMESES)}; "
                             f"valid: {', '.join(NEMESES)}")
    if "partition" in kinds and nodes < 2:
        raise UsageError("--nemesis partition needs --node-count 2 or more")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise UsageError(f"--seed must be an integer from 0 to 2**63-1, got {args.seed}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    if not args.bin.strip():
        raise UsageError("--bin must name a program, got an empty string")
    return MaelstromOptions(
        workload=args.workload, bin=os.path.abspath(args.bin), args=tuple(args.args), node_count=nodes, time_limit=args.time_limit,
        rate=args.rate, concurrency=concurrency, latency=args.latency, latency_dist=args.latency_dist,
        topology=args.topology, availability=args.availability, nemesis=tuple(dict.fromkeys(kinds)),
        nemesis_interval=args.nemesis_interval, partition=args.partition, crash_targets=args.crash_targets,
        quiesce=args.quiesce, seed=seed, out=args.out, log_stderr=args.log_stderr, log_net_send=args.log_net_send,
        log_net_recv=args.log_net_recv,
    )


def maelstrom_command(argv: Sequence[str]) -> int:
    """``harness.py maelstrom test ...``: one run; exit code = its verdict."""
    argv = list(argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(MAELSTROM_HELP)
        return 0
    if argv[:1] == ["serve"]:
        raise UsageError("harness.py maelstrom serve: Maelstrom's web server for its results; here each run writes "
                         "RUN/report.html (open it in a browser) and histories/latest points at the last run")
    if not argv or argv[0] != "test":
        from runner.usage import did_you_mean

        word = argv[0] if argv else ""
        raise UsageError(f"harness.py maelstrom: expected 'test' or 'explore'"
                         f"{did_you_mean(word, ['test', 'explore']) if word else ''}, "
                         f"got {word!r} (harness.py maelstrom test -w echo --bin ./node)")
    notes: list[str] = []
    options = options_from_args(argv[1:], notes)
    problem = bin_problem(options.bin)
    if problem is not None:  # a bad argument (exit 254): no run directory, histories/latest left alone
        raise UsageError(problem)
    for note in notes:
        print(note, file=sys.stderr)
    run_dir = new_run_dir(Path(options.out), f"maelstrom-{options.workload}")
    outcome = run(options, run_dir, ["harness.py", "maelstrom", *argv])
    from minikeydb.cli import decided

    code = decided(verdict_exit(outcome["results"].get("valid")))  # a closed stdout must not change it
    print(format_summary(outcome))
    return code


# -- the run ------------------------------------------------------------------------------------------


def bin_problem(path: str) -> str | None:
    """Why ``--bin`` cannot be run (missing, a directory, not executable), or None."""
    p = Path(path)
    if not p.exists():
        return f"--bin {path}: no such file"
    if p.is_dir():
        return f"--bin {path}: is a directory, not a program"
    if not os.access(p, os.X_OK):
        return f"--bin {path}: not executable (chmod +x it; a script needs a shebang line)"
    return _exec_problem(path, p)


def _exec_problem(path: str, p: Path) -> str | None:
    """Why the kernel would refuse to run the executable file ``p``: a ``#!`` line naming an interpreter that is
    missing or not executable (``env``'s program looked up on PATH too), or a file that is neither a script nor
    a binary (ENOEXEC); None when it looks runnable or cannot be read (execute-only: exec will tell)."""
    try:
        with p.open("rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if head.startswith(b"#!"):
        words = head[2:].split(b"\n", 1)[0].decode("utf-8", "replace").split()
        if not words:
            return f"--bin {path}: its '#!' line names no interpreter"
        interp = Path(words[0])
        if not interp.is_file() or not os.access(interp, os.X_OK):
            return f"--bin {path}: its '#!' line names {words[0]}, which is {'not executable' if interp.is_file() else 'no such file'}"
        if interp.name == "env" and len(words) > 1 and not words[1].startswith("-") and "=" not in words[1]:
            import shutil

            if shutil.which(words[1]) is None:
                return f"--bin {path}: its '#!' line runs {words[1]} through env, and no {words[1]} is on PATH"
        return None
    if head.startswith(b"\x7fELF"):
        return None
    misc = Path("/proc/sys/fs/binfmt_misc")
    try:  # another binary format the kernel was taught (binfmt_misc) may run it
        if any(e.name not in ("register", "status") for e in misc.iterdir()):
            return None
    except OSError:
        pass
    return f"--bin {path}: not a program (no '#!' line and not a binary the kernel runs: exec would fail, ENOEXEC)"


def schedule_for(options: MaelstromOptions) -> FaultSchedule:
    if not options.nemesis:
        return FaultSchedule(tuple(options.node_ids), options.time_limit, options.nemesis_interval, ())
    return FaultSchedule.generate(random.Random(f"{options.seed}/maelstrom/schedule"), list(options.nemesis),
                                  options.node_ids, options.time_limit, options.nemesis_interval,
                                  options.partition, crash_targets=options.crash_targets)


def run(options: MaelstromOptions, run_dir: Path, argv: list[str],
        schedule: FaultSchedule | None = None, report: bool = True) -> dict[str, Any]:
    """One run in ``run_dir``; returns the outcome (``results``, ``counts``, ...) the summary prints.
    ``report=False``: no report.html (explore's trial runs, deleted after)."""
    schedule = schedule if schedule is not None else schedule_for(options)
    (run_dir / "nodes").mkdir(exist_ok=True)
    write_json(run_dir / "run.json", {
        "mode": "maelstrom", "options": options.to_json(), "schedule": schedule.to_json(), "argv": argv,
        "versions": versions(), "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "reproducible": "as far as the node itself is deterministic: the harness's choices (operations, values, "
                        "fault schedule, per-message fault draws) follow from the seed",
    })
    update_latest(run_dir.parent, run_dir)
    problem = bin_problem(options.bin)
    outcome: dict[str, Any] = {"run_dir": run_dir, "options": options, "counts": {}, "ops": 0, "failure": problem}
    if options.nemesis:
        from nemesis.schedule import left_out

        note = left_out(list(options.nemesis), {w.kind for w in schedule.windows}, options.time_limit,
                        options.nemesis_interval)
        outcome["not_tried"] = note.replace("--fault-interval", "--nemesis-interval") if note else None
    with InterruptGuard() as guard:
        if problem is None:
            guard.defer()
            try:
                trio.run(_run, options, run_dir, schedule, outcome, guard)
            except NodeFailure as exc:
                outcome["failure"] = str(exc)
            finally:
                guard.detach()
        if guard.interrupted:
            outcome["failure"] = "interrupted"
            write_json(run_dir / "results.json", _check(options, run_dir, outcome))
            assert guard.signum is not None
            raise RunInterrupted(guard.signum, run_dir)
        results = _check(options, run_dir, outcome)
    outcome["results"] = results
    write_json(run_dir / "results.json", results)
    write_results_edn(run_dir / "results.edn", results)
    if report and "maelstrom" in results and not outcome.get("failure"):
        try:
            from checker.report import write_report

            outcome["report"] = write_report(run_dir, results)
        except Exception as exc:  # a report is a convenience: the verdict stands without it
            outcome["report_error"] = f"{type(exc).__name__}: {exc}"
    return outcome


class _History(HistoryRecorder):
    """history.jsonl with its header line first."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        super().__init__(path)
        self._file.write(json.dumps(header).encode() + b"\n")


class _Control:
    """The ``ClusterControl`` the fault schedule acts through: crash/restart (a fresh init), pause/resume."""

    def __init__(self, run: _Run) -> None:
        self.run = run

    async def crash(self, node_id: str) -> None:
        await self.run.nodes[node_id].kill()
        self.run.event("crash", node=node_id)

    async def restart(self, node_id: str) -> None:
        node = self.run.nodes[node_id]
        if not node.alive:
            self.run.start_node(node_id)
            self.run.event("restart", node=node_id)
            await self.run.init(node_id)

    async def pause(self, node_id: str) -> None:
        self.run.nodes[node_id].pause()
        self.run.event("pause", node=node_id)

    async def resume(self, node_id: str) -> None:
        self.run.nodes[node_id].resume()
        self.run.event("resume", node=node_id)

    def set_clock_offset(self, node_id: str, seconds: float) -> None:
        raise NotImplementedError("clock skew is not a Maelstrom fault")


class _Run:
    def __init__(self, options: MaelstromOptions, run_dir: Path, nursery: trio.Nursery,
                 history: _History, journal: MessageJournal) -> None:
        self.options = options
        self.run_dir = run_dir
        self.nursery = nursery
        self.history = history
        self.journal = journal
        self.model = FaultModel(random.Random(f"{options.seed}/maelstrom/network"))
        latency = None
        if options.latency > 0:
            mean = options.latency / 1000
            latency = {"constant": DelayDistribution.constant(mean),
                       "uniform": DelayDistribution.uniform(0.0, 2 * mean),
                       "exponential": DelayDistribution.exponential(mean, cap=20 * mean)}[options.latency_dist]
        command = [str(Path(options.bin).absolute()), *options.args]  # absolute, symlinks kept (argv[0])
        self.services = make_services(options.seed)
        self.nodes: dict[str, MaelstromNode] = {}
        self.cgroups = RunCgroups.create()
        """Each node life's processes in a cgroup of its own, killed whole (None: cgroup v2 not writable here)."""
        self.router = Router(self.nodes, self.model, options.seed, self.services, latency, journal)
        console = Console(options.log_stderr, options.log_net_send, options.log_net_recv)
        on_lines = self.router.on_lines if not (console.net_send or console.net_recv) else self._tap(console)
        for node_id in options.node_ids:
            node = self.nodes[node_id] = MaelstromNode(node_id, command, run_dir / "nodes" / f"{node_id}.log", on_lines,
                                                       self.cgroups)
            if console.stderr:
                node.on_stderr = console.node_stderr
            if console.net_recv:
                node.on_receive = self._received(console)
        self.workload: Workload = make_workload(options.workload, options.concurrency)
        self.ops = 0

    def _tap(self, console: Console) -> Callable[[str, Lines], None]:
        """``--log-net-send`` / ``--log-net-recv`` around the router, which stays as it is: every message a
        node writes is sent, and received by a client or service when it arrives (``Router._arrive``, after
        ``--latency``); the harness's own sends (clients, service replies) go through ``send_from_outside``."""
        router = self.router
        route, outside = router.on_lines, router.send_from_outside

        def on_lines(src: str, batch: Lines) -> None:
            if console.net_send:
                for _, msg in batch:
                    console.message("send", src, msg["dest"], msg["body"])
            route(src, batch)

        if console.net_recv:  # a client or service receives when the message arrives (after --latency)
            arrive = router._arrive

            def arrived(src: str, dest: str, body: dict[str, Any]) -> None:
                console.message("recv", src, dest, body)
                arrive(src, dest, body)

            router._arrive = arrived  # type: ignore[method-assign]

        def send_from_outside(src: str, dest: str, body: dict[str, Any]) -> bool:
            if console.net_send:
                console.message("send", src, dest, body)
            return outside(src, dest, body)

        router.send_from_outside = send_from_outside  # type: ignore[method-assign]
        return on_lines

    @staticmethod
    def _received(console: Console) -> Callable[[bytes], None]:
        def on_receive(line: bytes) -> None:
            msg = parse_line(line.rstrip(b"\n"))
            console.message("recv", msg["src"], msg["dest"], msg["body"])
        return on_receive

    def event(self, kind: str, **fields: Any) -> None:
        self.journal.event(kind, **fields)

    def start_node(self, node_id: str) -> None:
        self.nodes[node_id].start(self.nursery)

    async def call(self, client: str, node_id: str, body: dict[str, Any],
                   timeout: float) -> tuple[dict[str, Any], str] | None:
        """One request from ``client`` to a node; its reply body and the node that sent it (as in Maelstrom, any
        node may answer a call), or None after ``timeout`` seconds."""
        msg_id = body["msg_id"] if "msg_id" in body else self.router.clients.next_msg_id()
        body = {**body, "msg_id": msg_id}
        done = trio.Event()
        box: list[tuple[dict[str, Any], str]] = []

        def on_reply(reply: dict[str, Any], sender: str) -> None:
            box.append((reply, sender))
            done.set()

        self.router.clients.expect(client, msg_id, on_reply, node_id)
        self.router.send_from_outside(client, node_id, body)
        with trio.move_on_after(timeout):
            await done.wait()
        if not box:
            self.router.clients.forget(client, msg_id)
            return None
        return box[0]

    async def init(self, node_id: str) -> None:
        body: dict[str, Any] = {"type": "init", "node_id": node_id, "node_ids": self.options.node_ids}
        body_id = body["msg_id"] = self.router.clients.next_msg_id()
        answer = await self.call(INIT_CLIENT, node_id, body, INIT_TIMEOUT)
        if answer is None:
            if not self.nodes[node_id].alive:
                return  # crashed again meanwhile
            stray = self.router.clients.last_unexpected.get(node_id)
            sent = (f"; it sent {json.dumps(stray)[:100]}, which answers no request (init's msg_id was "
                    f"{body_id})" if stray is not None else "")
            raise NodeFailure(f"node {node_id} did not answer init within {INIT_TIMEOUT:g} s{sent} "
                              f"(see {self.nodes[node_id].log_path})")
        reply, sender = answer
        if reply.get("type") != "init_ok":
            what = "init" if sender == node_id else f"{INIT_CLIENT}'s init to {node_id}"
            raise NodeFailure(f"node {sender} answered {what} with {reply.get('type')!r}, not init_ok: "
                              f"{json.dumps(reply)[:120]}")

    async def client(self, k: int, stop_at: float) -> None:
        """Load client ``c<k+1>``, bound to node ``k mod N``.

        Its operations and their planned start times come from its own seeded stream; it stops at the
        first planned start past the time limit (so timing jitter does not change how many it issues),
        or when a reply comes back more than ``LATE_GRACE`` past the time limit (a node that stops
        answering costs one 5 s timeout per client, not one per planned operation; the grace keeps a
        reply a few milliseconds late from changing how many operations a replay issues).
        After an ``info`` it takes a new process id, ``k + concurrency * generation``, as Jepsen does.
        """
        options = self.options
        name = f"c{k + 1}"
        node_id = options.node_ids[k % options.node_count]
        rng = random.Random(f"{options.seed}/maelstrom/client/{k}")
        generation = 0
        n = 0
        gap = options.concurrency / options.rate if options.rate > 0 else 0.0
        planned = trio.current_time() + rng.uniform(0, 2 * gap)
        while True:
            if gap:
                if planned >= stop_at:
                    break
                await trio.sleep_until(planned)
                planned += rng.uniform(0, 2 * gap)
            elif trio.current_time() >= stop_at:
                break
            op = self.workload.next_op(rng, k, n)
            n += 1
            process = k + options.concurrency * generation
            if await self.operate(name, node_id, process, op, final=False) == "info":
                generation += 1
            if trio.current_time() >= stop_at + LATE_GRACE:
                break  # a slow reply (up to the 5 s timeout) ran well past the time limit: issue no more
            if not gap:
                await trio.lowlevel.checkpoint()
        self.generations = max(self.generations, generation + 1)

    generations = 1

    async def operate(self, client: str, node_id: str, process: int, op: Op, final: bool) -> str:
        """Invoke ``op`` on ``node_id``, wait for its reply (5 s), record both; the completion's type."""
        record = self.history.record
        record(process=process, type="invoke", f=op.f, key=op.key, value=op.value, node=node_id,
               final=True if final else None)
        answer = await self.call(client, node_id, op.body, CALL_TIMEOUT)
        done = self.workload.complete(op, answer[0] if answer is not None else None)
        # the completion names the node that replied (another than the one asked when it forwarded the request)
        record(process=process, type=done.type, f=op.f, key=op.key, value=done.value,
               node=answer[1] if answer is not None else node_id,
               error=done.error, final=True if final else None)
        self.ops += 1
        return done.type


async def _run(options: MaelstromOptions, run_dir: Path, schedule: FaultSchedule, outcome: dict[str, Any],
               guard: InterruptGuard) -> None:
    with trio.CancelScope() as scope:
        guard.attach(scope)
        await _run_in(options, run_dir, schedule, outcome)


async def _run_in(options: MaelstromOptions, run_dir: Path, schedule: FaultSchedule,
                  outcome: dict[str, Any]) -> None:
    workload = make_workload(options.workload, options.concurrency)
    header = {"history": 1, "workload": workload.history_workload,
              "meta": {"system": "maelstrom", "node": options.bin}}
    history = _History(run_dir / "history.jsonl", header)
    journal = MessageJournal(run_dir / "messages.jsonl.gz", {"seed": options.seed, "nodes": options.node_ids,
                                                             "workload": options.workload}, start=history.started)
    run: _Run | None = None
    try:
        async with trio.open_nursery() as nursery:
            run = _Run(options, run_dir, nursery, history, journal)
            await nursery.start(run.router.run_timers)
            try:
                for node_id in options.node_ids:
                    run.start_node(node_id)
                    run.event("start", node=node_id)
                async with trio.open_nursery() as inits:
                    for node_id in options.node_ids:
                        inits.start_soon(run.init, node_id)
                setup = run.workload.setup(options.node_ids, options.topology)
                for node_id, body in setup.items():
                    answer = await run.call(INIT_CLIENT, node_id, body, CALL_TIMEOUT)
                    if answer is None or answer[0].get("type") != body["type"] + "_ok":
                        who = (f"node {node_id}" if answer is None or answer[1] == node_id
                               else f"node {answer[1]} (answering {INIT_CLIENT}'s {body['type']} to {node_id})")
                        raise NodeFailure(f"{who} did not answer {body['type']} with {body['type']}_ok within "
                                          f"{CALL_TIMEOUT:g} s: {json.dumps(answer[0])[:120] if answer else 'no reply'}")
                history.start_load()
                stop_at = trio.current_time() + options.time_limit
                async with trio.open_nursery() as load:
                    load.start_soon(run_schedule, schedule, run.model, _Control(run), history.nemesis)
                    for k in range(options.concurrency):
                        load.start_soon(run.client, k, stop_at)
                outcome["load_ops"] = run.ops
                final = run.workload.final_op()
                if final is not None:
                    await trio.sleep(options.quiesce)
                    base = options.concurrency * run.generations
                    async with trio.open_nursery() as reads:
                        for i, node_id in enumerate(options.node_ids):
                            reads.start_soon(run.operate, INIT_CLIENT, node_id, base + i, final, True)
            finally:
                with trio.CancelScope(shield=True):
                    for node in run.nodes.values():
                        node.expect_exit()
                    await stop_processes([n.proc for n in run.nodes.values() if n.proc is not None], grace=2.0)
                    for node in run.nodes.values():  # whatever a node forked, in any of its lives
                        node.signal_group(signal.SIGKILL, every_life=True)
                    if run.cgroups is not None:
                        run.cgroups.close()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        failures, rest = group.split(NodeFailure)
        if failures is None:
            raise
        first = failures.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        if rest is not None and rest.subgroup(KeyboardInterrupt) is not None:
            raise KeyboardInterrupt from None
        raise first from None
    finally:
        history.close()
        journal.close()
        if run is not None:
            outcome["ops"] = run.ops
            outcome["counts"] = dict(run.router.counts)
            outcome["unknown_dests"] = dict(run.router.unknown_dests)
            outcome["faults"] = {k: v for k, v in attrs.asdict(run.model.counters).items() if v}
            outcome["services"] = {name: s.requests for name, s in run.services.items() if s.requests}
            outcome["services_refused"] = {name: s.refused for name, s in run.services.items()
                                           if getattr(s, "refused", 0)}
            outcome["crashes"] = history.faults.get("crash", 0)
            outcome["fault_windows"] = {k: v for k, v in history.faults.items() if v}


# -- the check and the summary ----------------------------------------------------------------------------


def net_stats(counts: dict[str, Any], ops: int) -> dict[str, dict[str, Any]]:
    """Maelstrom's ``:net`` figures: ``all``, ``clients`` (messages to or from a client, ``init`` included) and
    ``servers`` (every other message: node to node, and to or from a service, as ``maelstrom.util/client?``
    divides them), each with ``send_count``, ``recv_count`` (copies delivered) and ``msg_count``; ``msgs_per_op``
    divides by the client operations. ``inter_node_msgs_per_op``: node to node only, services left out."""
    clients = counts.get("client", 0)
    servers = counts.get("inter_node", 0) + counts.get("service", 0)
    recv_c, recv_s = counts.get("recv_client", 0), counts.get("recv_server", 0)

    def per(n: int) -> float | None:
        return round(n / ops, 2) if ops else None

    return {"all": {"send_count": clients + servers, "recv_count": recv_c + recv_s, "msg_count": clients + servers,
                    "msgs_per_op": per(clients + servers)},
            "clients": {"send_count": clients, "recv_count": recv_c, "msg_count": clients},
            "servers": {"send_count": servers, "recv_count": recv_s, "msg_count": servers,
                        "msgs_per_op": per(servers), "inter_node_msgs_per_op": per(counts.get("inter_node", 0))}}


CHECK_NAMES = {"echo": "echo", "unique-ids": "unique-ids", "broadcast": "set-full", "g-set": "set-full",
               "g-counter": "counter", "pn-counter": "counter", "lin-kv": "linearizable"}
"""The check each workload gets, by the name results.json gives it (Jepsen's names where there is one)."""


def _check(options: MaelstromOptions, run_dir: Path, outcome: dict[str, Any]) -> dict[str, Any]:
    counts = outcome.get("counts", {})
    ops = outcome.get("ops", 0)
    per_op = {"client": round(counts.get("client", 0) / ops, 2) if ops else None,
              "inter_node": round(counts.get("inter_node", 0) / ops, 2) if ops else None,
              "service": round(counts.get("service", 0) / ops, 2) if ops else None,
              "servers": round((counts.get("inter_node", 0) + counts.get("service", 0)) / ops, 2) if ops else None}
    counts = {**counts, "unknown_dests": outcome.get("unknown_dests") or {}} if counts.get("unknown_dest") else counts
    base = {"maelstrom": {"workload": options.workload, "node": options.bin, "seed": options.seed,
                          "ops": ops, "load_ops": outcome.get("load_ops"), "messages": counts, "messages_per_op": per_op,
                          "net": net_stats(counts, ops),
                          "faults": outcome.get("faults", {}), "services": outcome.get("services", {}),
                          "services_refused": outcome.get("services_refused", {}),
                          "reproducible": "as far as the node itself is deterministic"}}
    history_path = run_dir / "history.jsonl"
    try:  # from the history whatever the verdict: an UNKNOWN run's operations were still done and counted
        base["maelstrom"]["stats"] = op_stats(history_path)
        base["maelstrom"]["latency_ms"] = ok_latency(history_path)
    except (OSError, ValueError, AttributeError, TypeError, KeyError):
        pass  # no history, or a torn one: the check below says so
    if outcome.get("failure"):
        return {"valid": "unknown", "reason": outcome["failure"], "checker": CHECK_NAMES.get(options.workload),
                **base}
    from checker.api import CheckOptions, check
    from checker.history import HistoryError

    if options.workload == "lin-kv":
        check_options = CheckOptions(checkers=("linearizable",), null_read="absent", time_limit=120.0)
    else:
        check_options = CheckOptions()
    try:
        result = check(run_dir / "history.jsonl", check_options)
    except (HistoryError, ValueError) as exc:
        return {"valid": "unknown", "reason": f"the checker could not read the history: {exc}",
                "checker": CHECK_NAMES.get(options.workload), **base}
    results = dict(result.results)
    if results.get("checker") == "convergence" and results.get("rule") == CHECK_NAMES.get(options.workload):
        # a Maelstrom workload's own check: not the store's words (convergence, a conflict mode, the kv model)
        results["checker"] = results["rule"]
        results.pop("conflict", None)
        settings = results.get("check_settings")
        if isinstance(settings, dict):
            results["check_settings"] = {k: v for k, v in settings.items()
                                         if k not in ("model", "null_read", "fail_cas", "checkers")}
    name_crashes(results, run_dir / "history.jsonl")
    if results.get("valid") == "unknown" and not results.get("reason"):  # the checker's why, in one line
        whys = list(dict.fromkeys(str(u.get("reason") or u.get("kind")) for u in results.get("unknown") or []))
        if whys:
            results["reason"] = "; ".join(whys[:3]) + (f"; and {len(whys) - 3} more" if len(whys) > 3 else "")
    stats = base["maelstrom"].get("stats") or {}
    never = [f for f, c in stats.items() if not c.get("ok")]
    if never:  # Maelstrom's (Jepsen's) stats checker: an operation kind with no ok at all fails the run
        said = ", ".join(f"{f} ({sum(stats[f].values())} completed: {stats[f].get('fail', 0)} definite failures, "
                         f"{stats[f].get('info', 0)} indeterminate, none ok)" for f in never)
        short = (f"; with {sum(sum(c.values()) for c in stats.values())} operations in {options.time_limit:g} s, a "
                 "correct node may simply not have had one succeed (a cas refused by its precondition is a definite "
                 "failure): a longer --time-limit tells a short run from a node that cannot")
        results["valid"] = False
        results["reason"] = (f"some kind of operation never succeeded: {said}; Maelstrom's stats checker fails "
                             "such a run" + short + (f"; also: {results['reason']}" if results.get("reason") else ""))
    if options.availability == "total":
        failed, excused = _not_ok(run_dir / "history.jsonl")
        base["maelstrom"]["availability"] = {"required": "total", "not_ok": failed, "excused": excused,
                                             "excused_why": EXCUSED_WHY}
        if failed and results.get("valid") is True:
            results["valid"] = False
            results["reason"] = (f"--availability total: {failed} operation(s) did not succeed"
                                 + (f" ({excused} more, {EXCUSED_WHY}, left out)" if excused else ""))
    results.update(base)
    return results


# lost-element is not here: the set rule itself names the crashes of the nodes that lost the element.
CRASH_SENSITIVE = ("divergent", "counter-out-of-bounds", "final-read-missing")


def name_crashes(results: dict[str, Any], history: Path) -> None:
    """Name, in each anomaly a crash can cause, the crashes after its first operation (and add ``crashes``).

    The checker names the faults active *around* an anomaly's operations; a Maelstrom node keeps its
    state in memory, so a crash any time later can lose what it acknowledged: that crash is the
    explanation a reader needs, and the checker cannot know it (it never reads the run's mode).
    """
    anomalies = [a for a in results.get("anomalies") or [] if a.get("type") in CRASH_SENSITIVE]
    if not anomalies:
        return
    times: dict[int, int] = {}
    crashes: list[tuple[int, list[str]]] = []
    with history.open("rb") as f:
        for line in f:
            ev = json.loads(line)
            if "index" not in ev:
                continue
            times[ev["index"]] = ev.get("time") or 0
            if ev.get("f") == "crash-start" and isinstance(ev.get("value"), dict):
                crashes.append((ev.get("time") or 0, list(ev["value"].get("nodes") or [])))
    if not crashes:
        return
    for anomaly in anomalies:
        indexes = anomaly.get("indexes") or []
        since = min((times.get(i, 0) for i in indexes), default=0)
        after = [(t, nodes) for t, nodes in crashes if t >= since]
        if not after:
            continue
        anomaly["crashes"] = [{"time_s": round(t / 1e9, 3), "nodes": nodes} for t, nodes in after]
        said = "; ".join(f"{', '.join(nodes)} at {t / 1e9:.3f} s" for t, nodes in after[:4])
        more = f" and {len(after) - 4} more" if len(after) > 4 else ""
        anomaly["explanation"] = (f"{anomaly.get('explanation', '')} Crashed after its first operation: {said}{more} "
                                  "(a crash restarts a Maelstrom node with a fresh init: whatever it kept only "
                                  "in memory and had not passed on is gone).")


def op_stats(history: Path) -> dict[str, dict[str, int]]:
    """Per ``f`` of the clients' operations (final reads included), how many completed ok, fail and info."""
    stats: dict[str, dict[str, int]] = {}
    with history.open("rb") as f:
        for line in f:
            ev = json.loads(line)
            kind = ev.get("type")
            if kind in ("ok", "fail", "info") and ev.get("process") != "nemesis" and "f" in ev:
                per = stats.setdefault(str(ev["f"]), {"ok": 0, "fail": 0, "info": 0})
                per[kind] += 1
    return stats


def ok_latency(history: Path) -> dict[str, dict[str, float]]:
    """Per ``f`` of the load's operations (final reads aside), median and max latency in ms of those that
    completed ok: the Gossip Glomers' latency targets are stated for acknowledged operations."""
    invoked: dict[Any, int] = {}
    per: dict[str, list[float]] = {}
    with history.open("rb") as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("process") in (None, "nemesis") or ev.get("final") or not isinstance(ev.get("time"), int):
                continue
            if ev.get("type") == "invoke":
                invoked[ev["process"]] = ev["time"]
            elif ev["process"] in invoked:
                t0 = invoked.pop(ev["process"])
                if ev.get("type") == "ok":
                    per.setdefault(str(ev.get("f")), []).append((ev["time"] - t0) / 1e6)
    out = {}
    for name, xs in sorted(per.items()):
        xs.sort()
        out[name] = {"n": len(xs), "p50": round(xs[len(xs) // 2], 3), "max": round(xs[-1], 3)}
    return out


EXCUSED_WHY = ("sent to a node the harness's own crash nemesis had down, in flight when it crashed, or to a node "
               "its pause nemesis still held (or had let go less than a second before) when the operation ended")
"""Why ``--availability total`` leaves an operation out: no node can answer while the harness holds it killed
or stopped (Maelstrom's clients are bound to one node each, so the request could not go elsewhere)."""

PAUSE_GRACE_NS = 1_000_000_000
"""A paused node keeps the requests it was sent (they wait in its input) and answers them once resumed: an
operation whose node was resumed more than this long (ns) before the operation ended is not excused by the pause."""


def _not_ok(history: Path) -> tuple[int, int]:
    """(operations that did not succeed, those of them excused). An operation is excused by a crash window of
    its node (``crash-start`` naming it, up to the window's stop) when it was invoked while the node was down
    (the router drops what a dead node is sent) or the crash began while it was in flight (the killed node
    loses what it had not answered); by a pause window only when its node was still paused (or had been resumed
    less than ``PAUSE_GRACE_NS`` before) when the operation ended: a resumed node still holds the request, and a
    pause that ended long before the time-out does not explain the missing answer."""
    events = [json.loads(line) for line in history.read_bytes().splitlines() if line.strip()]
    down: dict[str, list[tuple[str, float, float]]] = {}
    holding: list[str] = []
    kind = ""
    since = 0
    for ev in events:
        f = ev.get("f")
        if ev.get("process") != "nemesis" or not isinstance(f, str):
            continue
        if f in ("crash-start", "pause-start") and isinstance(ev.get("value"), dict):
            holding = [str(n) for n in ev["value"].get("nodes") or []]
            kind = f[:-len("-start")]
            since = ev.get("time") or 0
        elif f.endswith("-stop") or f == "heal":
            for node in holding:
                down.setdefault(node, []).append((kind, since, ev.get("time") or 0))
            holding = []
    for node in holding:  # never stopped (the run was cut short): down to the end
        down.setdefault(node, []).append((kind, since, math.inf))
    invoked: dict[Any, int] = {}
    count = excused = 0
    for ev in events:
        if ev.get("process") in (None, "nemesis"):
            continue
        if ev.get("type") == "invoke":
            invoked[ev["process"]] = ev.get("time") or 0
            continue
        start = invoked.pop(ev["process"], 0)
        if ev.get("type") not in ("fail", "info"):
            continue
        end = ev.get("time") or 0
        if any(a <= start <= b or start <= a <= end if k == "crash" else a <= end <= b + PAUSE_GRACE_NS
               for k, a, b in down.get(str(ev.get("node")), ())):
            excused += 1
        else:
            count += 1
    return count, excused


#: How many anomalies the summary writes out (the counts line counts every one; results.json lists them all).
SUMMARY_ANOMALIES = 3


def format_summary(outcome: dict[str, Any]) -> str:
    results = outcome["results"]
    options: MaelstromOptions = outcome["options"]
    valid = results.get("valid")
    verdict = {True: "VALID", False: "INVALID"}.get(valid, "UNKNOWN")
    m = results.get("maelstrom", {})
    per = m.get("messages_per_op", {})
    lines = [f"maelstrom {options.workload} on {options.node_count} node(s) of {options.bin}: {verdict}"]
    if results.get("reason"):
        lines.append(f"  reason: {results['reason']}")
    anomalies = results.get("anomalies") or []
    if anomalies:
        by_type: dict[str, int] = {}
        for a in anomalies:
            by_type[str(a.get("type"))] = by_type.get(str(a.get("type")), 0) + 1
        listed = dict(by_type)
        totals = (results.get("stats") or {}).get("anomaly_counts")
        if isinstance(totals, dict):  # the true totals: a checker lists only so many of each
            by_type.update({str(k): int(v) for k, v in totals.items() if isinstance(v, int) and v > by_type.get(str(k), 0)})
        lines.append("  anomalies: " + ", ".join(
            f"{k} {v}" + (f" ({listed.get(k, 0)} listed)" if v > listed.get(k, 0) else "")
            for k, v in sorted(by_type.items())))
    for a in anomalies[:SUMMARY_ANOMALIES]:
        text = str(a.get("explanation", "")).split(" Crashed after its first operation:")[0]
        lines.append(f"  {a.get('type')}: {text}")  # whole: the sentence that matters is often its end
        if a.get("crashes"):
            said = "; ".join(f"{', '.join(c['nodes'])} at {c['time_s']:.3f} s" for c in a["crashes"][:3])
            lines.append(f"    crashed after its first operation: {said} (state kept only in memory is lost)")
    if len(anomalies) > SUMMARY_ANOMALIES:  # the counts above are of every one: say that these are not
        lines.append(f"  ... {len(anomalies) - SUMMARY_ANOMALIES} more not shown here (the first {SUMMARY_ANOMALIES} of "
                     f"the {len(anomalies)} listed are above; results.json has them all)")
    counts = m.get("messages", {})
    lines.append(f"  ops {m.get('ops', 0)}; messages: client {counts.get('client', 0)}, inter-node "
                 f"{counts.get('inter_node', 0)}, service {counts.get('service', 0)}")
    if m.get("stats"):  # as Maelstrom's :stats: a VALID echo run may still have failed most of its ops
        lines.append("  " + "; ".join(f"{f}: ok {c.get('ok', 0)}, fail {c.get('fail', 0)}, info {c.get('info', 0)}"
                                      for f, c in sorted(m["stats"].items())))
    if counts.get("reply_from_other_node"):
        lines.append(f"  replies from another node than the one asked: {counts['reply_from_other_node']} (taken as the "
                     "answer, as Maelstrom's client does: a node forwarded the request; the history names the node "
                     "that replied)")
    if counts.get("unknown_dest"):
        names = counts.get("unknown_dests") or {}
        shown = ", ".join(f"{d} {n}" for d, n in list(names.items())[:4])
        lines.append(f"  to nonexistent destinations: {counts['unknown_dest']} ({shown}{', ...' if len(names) > 4 else ''}) "
                     "dropped: no node, client or service has that name (the services are lin-kv, seq-kv, lww-kv, "
                     "lin-tso)")
    dropped = {"lost to faults": counts.get("lost", 0), "to a crashed node": counts.get("to_dead_node", 0),
               "node's input full (64 MiB unread)": counts.get("input_full", 0)}
    if any(dropped.values()):
        lines.append("  not delivered: " + ", ".join(f"{k} {v}" for k, v in dropped.items() if v))
    if m.get("services_refused"):
        from .services import MAX_KEYS, MAX_VALUE_BYTES

        lines.append("  services refused (error 11, nothing written) at the harness's caps of "
                     f"{MAX_VALUE_BYTES >> 20} MiB of stored values and {MAX_KEYS} keys: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(m["services_refused"].items())))
    if per.get("inter_node") is not None:
        lines.append(f"  messages per op: client {per['client']}, inter-node {per['inter_node']}, "
                     f"service {per['service']}")
        servers = per.get("servers", per["inter_node"])
        glomers = (f"  Gossip Glomers terms: msgs-per-op {servers} (Maelstrom's :servers: messages not involving a "
                   f"client, services included / client operations; inter-node only {per['inter_node']})")
        stable = ((results.get("stats") or {}).get("set") or {}).get("stable_latencies")
        if stable:
            glomers += ("; stable-latencies (Jepsen's: ack to the last read that missed it, ms) "
                        + "{" + ", ".join(f"{q} {v}" for q, v in stable.items()) + "}")
        if m.get("latency_ms"):
            glomers += "; latency of ok operations " + ", ".join(
                f"{f} median {v['p50']:g} ms, max {v['max']:g} ms" for f, v in m["latency_ms"].items())
        lines.append(glomers)
    if outcome.get("fault_windows"):
        lines.append("  nemesis windows: " + ", ".join(f"{k} {v}" for k, v in sorted(outcome["fault_windows"].items())))
    if m.get("faults"):
        lines.append("  faults: " + ", ".join(f"{k} {v}" for k, v in sorted(m['faults'].items())))
    lines.append(f"  seed {options.seed}: reproducible as far as the node itself is deterministic "
                 "(harness.py replay RUN re-runs it)")
    if outcome.get("not_tried"):
        lines.append(f"  faults {outcome['not_tried']}")
    if outcome.get("report_error"):
        lines.append(f"  report.html not written: {outcome['report_error'][:160]}")
    lines.append(f"  wrote {outcome['run_dir']}/")
    return "\n".join(lines)


def main() -> None:  # pragma: no cover - python -m runner.maelstrom.command
    sys.exit(maelstrom_command(sys.argv[1:]))


# -- replay -----------------------------------------------------------------------------------------------


def _events(history: Path) -> dict[str, list[str]]:
    """Each process's events in order, without ``index`` and ``time`` (nemesis events under "nemesis"):
    what a replay of a deterministic node repeats. How processes interleave is real time's business."""
    out: dict[str, list[str]] = {}
    with history.open("rb") as f:
        for line in f:
            ev = json.loads(line)
            if "process" not in ev:
                continue  # the header
            rest = {k: v for k, v in ev.items() if k not in ("index", "time")}
            out.setdefault(str(ev["process"]), []).append(json.dumps(rest, sort_keys=True))
    return out


def brief_event(text: str, limit: int = 160) -> str:
    """An event (JSON text) in about ``limit`` characters, cut at whole items: a long list keeps its first
    elements and says how many more (``[1, 2, ... 53 more]``), a long string its head and its length."""
    if len(text) <= limit:
        return text
    try:
        ev = json.loads(text)
    except ValueError:
        return text[:limit] + "..."
    if not isinstance(ev, dict):
        return text[:limit] + "..."
    parts: list[str] = []
    for k, v in ev.items():
        rest = max(40, limit - sum(len(p) + 2 for p in parts))
        parts.append(f"{json.dumps(k)}: {_brief_value(v, rest)}")
    return "{" + ", ".join(parts) + "}"


def _brief_value(v: Any, room: int) -> str:
    full = json.dumps(v)
    if len(full) <= room:
        return full
    if isinstance(v, list):
        shown: list[str] = []
        used = 0
        for x in v:
            item = json.dumps(x)
            if used + len(item) + 2 > room - 12 and shown:
                break
            shown.append(item if len(item) <= room else _brief_value(x, room // 2))
            used += len(shown[-1]) + 2
        more = len(v) - len(shown)
        return "[" + ", ".join(shown + ([f"... {more} more"] if more else [])) + "]"
    if isinstance(v, str):
        return json.dumps(v[:room // 2]) + f"... ({len(v)} characters)"
    if isinstance(v, dict):
        return "{" + f"... {len(v)} keys" + "}"
    return full


def compare_histories(old: Path, new: Path) -> str:
    """One sentence: whether each process's events (times and interleaving aside) are the recorded ones."""
    if not old.is_file():
        return "cannot compare: the recorded run has no history.jsonl"
    a, b = _events(old), _events(new)
    total = sum(len(v) for v in b.values())
    if a == b:
        return (f"identical: every process's events ({total}) are the recorded ones (times and the interleaving "
                "of processes aside)")
    differing = sorted(p for p in set(a) | set(b) if a.get(p) != b.get(p))
    first = differing[0]
    x, y = a.get(first, []), b.get(first, [])
    at = next((i for i, (u, v) in enumerate(zip(x, y, strict=False)) if u != v), min(len(x), len(y)))
    shown = y[at] if at < len(y) else "(no event)"
    recorded = x[at] if at < len(x) else "(no event)"
    return (f"DIFFERENT: {len(differing)} process(es) differ, first process {first} at its event {at}: recorded "
            f"{brief_event(recorded)}, replayed {brief_event(shown)}. The harness's choices follow from the seed; what differs "
            "came from the node "
            "(threads, clocks, its own randomness) or from timing (a reply after the 5 s timeout, a fault window edge)")


RECORDED_CHOICES: dict[str, tuple[Any, ...]] = {
    "workload": WORKLOADS, "latency_dist": ("constant", "uniform", "exponential"), "topology": TOPOLOGIES,
    "availability": (None, "total"), "partition": PARTITION_KINDS, "crash_targets": CRASH_TARGETS,
}
"""run.json fields a flag's ``choices`` bound (``parser``), checked again on replay."""


def recorded_problem(data: object) -> str | None:
    """What is wrong with run.json's ``options`` as ``options_from_args`` would have refused it (a field named
    ``options.X``), or None: a replay of an edited or damaged run.json is one line, not an internal error."""
    if not isinstance(data, dict):
        return "options: missing, or not an object"
    for field, choices in RECORDED_CHOICES.items():
        if (field == "workload" or field in data) and data.get(field) not in choices:  # the others have defaults
            return f"options.{field}: {data.get(field)!r} is not one of {', '.join(map(str, choices))}"
    if not isinstance(data.get("bin"), str) or not data["bin"].strip():
        return "options.bin: must name the node program"
    for field, low in (("node_count", 1), ("concurrency", 1), ("seed", 0)):
        value = data.get(field, 1)
        if type(value) is not int or value < low or value >= 2**63:
            return f"options.{field}: must be an integer of at least {low}, got {value!r}"
    for field, positive in (("time_limit", True), ("nemesis_interval", True), ("rate", False), ("latency", False),
                            ("quiesce", False)):
        value = data.get(field, 1.0)
        if type(value) not in (int, float) or not (0 < value < 1e9 if positive else 0 <= value < 1e9):
            return f"options.{field}: must be a number {'> 0' if positive else '>= 0'} (seconds), got {value!r}"
    for field in ("nemesis", "args"):
        value = data.get(field, [])
        if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
            return f"options.{field}: must be a list of strings, got {value!r}"
    unknown = [k for k in data.get("nemesis", []) if k not in NEMESES]
    if unknown:
        return f"options.nemesis: unknown fault {unknown[0]!r}; valid: {', '.join(NEMESES)}"
    if "partition" in data.get("nemesis", []) and data.get("node_count", 5) < 2:
        return "options.nemesis: partition needs options.node_count 2 or more"
    for field in ("log_stderr", "log_net_send", "log_net_recv"):
        if type(data.get(field, False)) is not bool:
            return f"options.{field}: must be true or false, got {data.get(field)!r}"
    return None


def replay_maelstrom(run_dir: Path, metadata: dict[str, Any], out: str | None) -> int:
    """``harness.py replay RUN`` for a Maelstrom run: the same options, seed and schedule, compared.

    The new run goes to ``--out``, else beside RUN, except that a run in ``histories/examples/`` (tracked)
    is replayed into ``histories/`` (the README's rule, as ``harness.py replay`` of a store's run). A run.json
    that could not have been recorded (a field out of range) or whose node program is gone is refused in one
    line naming the field (exit 254), before anything runs."""
    where = run_dir / "run.json"
    problem = recorded_problem(metadata.get("options"))
    if problem is not None:
        raise OptionError(f"{where}: {problem}")
    options = MaelstromOptions.from_json(metadata["options"])
    missing = bin_problem(options.bin)
    if missing is not None:
        raise OptionError(f"{where}: options.bin: {missing.removeprefix('--bin ')} (the node program was moved "
                          "or deleted? put it back, or edit options.bin)")
    if out is None:
        out = str(run_dir.parent.parent if run_dir.parent.name == "examples" else run_dir.parent)
    options = attrs.evolve(options, out=out)
    try:
        schedule = FaultSchedule.from_json(metadata["schedule"], "schedule")
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise OptionError(f"{where}: schedule: {exc}") from None
    if tuple(schedule.nodes) != tuple(options.node_ids):
        raise OptionError(f"{where}: schedule: its nodes {','.join(schedule.nodes)} are not options.node_count "
                          f"{options.node_count}'s {','.join(options.node_ids)}")
    new_dir = new_run_dir(Path(options.out), f"maelstrom-{options.workload}-replay")
    outcome = run(options, new_dir, ["harness.py", "replay", str(run_dir)], schedule=schedule)
    from minikeydb.cli import decided

    code = decided(verdict_exit(outcome["results"].get("valid")))
    print(format_summary(outcome))
    print(compare_histories(run_dir / "history.jsonl", new_dir / "history.jsonl"))
    print("a Maelstrom run is reproducible only as far as the node itself is deterministic")
    return code
