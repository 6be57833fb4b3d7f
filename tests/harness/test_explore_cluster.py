"""``explore --cluster``'s executor on a real Dask cluster: a scheduler and two workers started as
separate processes with the commands a user types (``python -m dask scheduler``/``worker``) on
127.0.0.1, then torn down by process group, whatever the test's outcome.

Skipped, with the reason, when Dask distributed is not installed (``pip install -e '.[cluster]'``;
``.ci/run`` installs it). The errors that need no cluster run either way. The fault cases that
kill workers or start a second cluster, and the `harness.py explore --cluster` end-to-end runs, are marked
``cluster``: outside the default suite for time
(about 15 s), run by ``.ci/run`` (``python -m pytest -m cluster``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.explore_cluster import ClusterError, ClusterExecutor
from tests.sim.runs import run_short

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (1, 2, 3, 4)


def sim_digest(seed: int) -> tuple[int, str, str]:
    """A task: one short simulated run of ``seed`` (2 virtual s); its seed, history digest and verdict."""
    out = Path(tempfile.mkdtemp(prefix="cluster-task-"))
    try:
        result = run_short(out, seed=seed, time_limit=2.0)
        digest = hashlib.sha256((result.run_dir / "history.jsonl").read_bytes()).hexdigest()
        return seed, digest, str(result.results.get("verdict"))
    finally:
        shutil.rmtree(out, ignore_errors=True)


def nap(seconds: float) -> float:
    """A task that only takes time."""
    time.sleep(seconds)
    return seconds


def wait_for(path: str) -> str:
    """A task that waits (up to 2 minutes) until ``path`` exists."""
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    return path


def die_once(marker: str) -> int:
    """A task that kills its worker process the first time (``marker`` records that), then returns its pid."""
    if not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)
    return os.getpid()


def die_always(_: int) -> int:
    """A task that kills its worker process every time."""
    os._exit(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM each process group (a worker's nanny and its worker), SIGKILL what is left after 10 s."""
    for p in reversed(procs):
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def _start_cluster(logs: Path, code: Path, workers: int, procs: list[subprocess.Popen[bytes]]) -> str:
    """``dask scheduler`` and ``workers`` x ``dask worker ADDRESS --nthreads 1`` importing the project from ``code``.

    Each process is appended to ``procs`` (its own session) as soon as it starts, for the caller to stop.
    """
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])),
           # a task whose worker dies twice is reported (Dask's default allows 3 deaths: slower to test)
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
    commands = [[sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                 "--no-dashboard"]]
    commands += [[sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--local-directory", str(logs / f"w{i}")] for i in range(workers)]
    for i, argv in enumerate(commands):
        with open(logs / f"{i}.log", "wb") as log:
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=code,
                                          start_new_session=True))
    with Client(address, timeout=60, set_as_default=False) as client:
        client.wait_for_workers(workers, timeout=120)
    return address


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker ADDRESS --nthreads 1`` (allowed failures 1), each its own session."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        yield _start_cluster(tmp_path_factory.mktemp("dask-cluster"), ROOT, 2, procs)
    finally:
        _stop(procs)
        for p in procs:
            assert p.poll() is not None


def test_sweep_on_the_cluster_matches_in_process_runs(dask_cluster):
    """Four seeds' simulated runs on two Dask workers give the same histories and verdicts as in this process."""
    with ClusterExecutor(dask_cluster) as executor:
        assert executor.workers == 2
        remote = sorted(executor.map_unordered(sim_digest, SEEDS))
    assert [seed for seed, _, _ in remote] == list(SEEDS)
    local = [sim_digest(seed) for seed in SEEDS]
    assert remote == local
    assert len({digest for _, digest, _ in remote}) == len(SEEDS)  # four different runs, not one four times


def test_host_port_without_scheme_and_lazy_items(dask_cluster):
    """HOST:PORT is accepted, and items are pulled lazily: at most twice the worker threads ahead of the results."""
    pulled: list[int] = []

    def items() -> Iterator[float]:
        for i in range(20):
            pulled.append(i)
            yield 0.01

    with ClusterExecutor(dask_cluster.removeprefix("tcp://")) as executor:
        results = executor.map_unordered(nap, items())
        next(results)
        assert len(pulled) <= 2 * executor.workers + 1
        assert len(list(results)) == 19


def test_a_task_from_other_code_is_refused(dask_cluster):
    """A task carrying another code fingerprint than the worker's is refused with a message naming the worker."""
    with ClusterExecutor(dask_cluster) as executor:
        executor.fingerprint = "0" * 64
        with pytest.raises(ClusterError, match=r"the worker tcp://127\.0\.0\.1:\d+ runs different MinikeyDB code"
                                               r".*same commit on every machine"):
            list(executor.map_unordered(nap, [0.0]))


def test_leaving_early_cancels_pending_tasks(dask_cluster, tmp_path):
    """A Ctrl-C (KeyboardInterrupt) while results are awaited cancels every pending task on the scheduler."""
    gate = tmp_path / "gate"  # the tasks behind it cannot finish by themselves before it exists
    with ClusterExecutor(dask_cluster) as executor:
        try:
            results = executor.map_unordered(wait_for, [str(tmp_path)] + [str(gate)] * 6)
            assert next(results) == str(tmp_path)
            assert executor.client.run_on_scheduler(_scheduler_tasks) >= 2
            with pytest.raises(KeyboardInterrupt):
                results.throw(KeyboardInterrupt)
            deadline = time.monotonic() + 60
            while executor.client.run_on_scheduler(_scheduler_tasks) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert executor.client.run_on_scheduler(_scheduler_tasks) == 0
        finally:
            gate.write_text("open")  # the one still running on a worker ends now


def tagged(item: tuple[str, float]) -> tuple[str, float]:
    """A task that takes ``item[1]`` seconds and returns its item (whose call it belongs to)."""
    time.sleep(item[1])
    return item


def test_a_call_left_early_never_delivers_into_a_later_call(dask_cluster):
    """map_unordered closed with tasks running and queued (explore's first failure, a shrink's end): the next call
    yields exactly its own results, though the abandoned tasks finish on the workers meanwhile."""
    with ClusterExecutor(dask_cluster) as executor:
        for round_ in range(3):
            first = executor.map_unordered(tagged, [(f"left-{round_}", 0.0)] + [(f"left-{round_}", 0.7)] * 5)
            assert next(first)[0] == f"left-{round_}"  # whichever finished first: Dask promises no order
            first.close()  # type: ignore[attr-defined]  # (a generator) two 0.7 s tasks are running on the workers now, the rest queued
            mine = [(f"next-{round_}-{i}", 0.3) for i in range(4)]
            assert sorted(executor.map_unordered(tagged, mine)) == mine


def _explore_cli(tmp: Path, name: str, *flags: str) -> tuple[int, dict, list[dict]]:
    """``python harness.py explore FLAGS`` as a user runs it: exit code, its --json, its ledger lines (wall times dropped)."""
    import json

    ledger, summary = tmp / f"{name}.jsonl", tmp / f"{name}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", *flags, "--out", str(tmp / name),
                           "--ledger", str(ledger), "--json", str(summary)],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    lines = [json.loads(line) for line in ledger.read_text().splitlines()[1:]]
    for line in lines:
        line.pop("wall_s")
    return done.returncode, json.loads(summary.read_text()), lines


EXPLORE_SHORT = ["--time-limit", "3", "--fault-interval", "1", "--quiesce", "1", "--converge-timeout", "3"]


@pytest.mark.cluster  # two explores as processes each way: 17-25 s at load 13, over the default suite's share
@pytest.mark.parametrize("bug", [["--bug", "no-repair"], []], ids=["finds", "finds-nothing"])
def test_explore_cli_on_the_cluster_gives_what_one_worker_gives(dask_cluster, tmp_path, bug):
    """`harness.py explore --cluster ADDRESS --runs 3` finds (or not) what --workers 1 finds: the same exit code,
    ledger lines (wall times aside), failing seed and shrunk run."""
    flags = ["--runs", "3", *bug, "--nemesis", "partition", *EXPLORE_SHORT, "--shrink-runs", "6"]
    one = _explore_cli(tmp_path, "one", *flags, "--workers", "1")
    remote = _explore_cli(tmp_path, "cluster", *flags, "--cluster", dask_cluster)
    assert one[0] == remote[0] == (1 if bug else 0)
    assert remote[2] == one[2] and len(one[2]) == (1 if bug else 3)  # a failure at seed 1 stops the sweep there
    keys = ("failing_seed", "anomaly", "original", "shrunk", "shrink_trials", "steps", "findings", "runs")
    assert {k: remote[1].get(k) for k in keys} == {k: one[1].get(k) for k in keys}
    assert remote[1]["workers"] == 2 and one[1]["workers"] == 1


def _scheduler_tasks(dask_scheduler) -> int:  # noqa: ANN001 - Dask passes its Scheduler by this name
    return len(dask_scheduler.tasks)


@pytest.mark.cluster
def test_a_worker_dying_mid_task_is_retried(dask_cluster, tmp_path):
    """A task whose worker dies is given to a worker again and its result still arrives."""
    with ClusterExecutor(dask_cluster) as executor:
        [pid] = list(executor.map_unordered(die_once, [str(tmp_path / "died")]))
    assert (tmp_path / "died").exists() and pid > 0


@pytest.mark.cluster
def test_a_task_that_kills_every_worker_is_reported(dask_cluster):
    """A task whose workers die each time it is tried ends in one ClusterError naming the task."""
    with ClusterExecutor(dask_cluster, worker_wait=60) as executor:
        with pytest.raises(ClusterError, match=r"task 7 was running on workers that died"):
            list(executor.map_unordered(die_always, [7]))


@pytest.mark.cluster
def test_a_worker_on_another_checkout_is_named_before_any_seed(tmp_path):
    """A worker importing a checkout whose code differs (one edited file) is one ClusterError naming it, at connect."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    other = tmp_path / "other-checkout"
    other.mkdir()
    for name in ("harness.py", "minikeydb", "nemesis", "checker", "runner"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, other / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, other / name)
    with open(other / "runner" / "run.py", "a") as f:
        f.write("# another commit\n")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        address = _start_cluster(tmp_path, other, 1, procs)
        with pytest.raises(ClusterError, match=r"the worker tcp://127\.0\.0\.1:\d+ runs different MinikeyDB code"
                                               r".*same commit on every machine"):
            ClusterExecutor(address)
    finally:
        _stop(procs)


@pytest.mark.cluster
def test_losing_the_scheduler_mid_sweep_is_one_line(tmp_path):
    """The scheduler killed while seeds run: one one-line ClusterError saying so, not a hang or Dask's text."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        address = _start_cluster(tmp_path, ROOT, 1, procs)
        with ClusterExecutor(address) as executor:
            results = executor.map_unordered(nap, [0.01] + [1.0] * 10)
            assert next(results) == 0.01
            os.killpg(procs[0].pid, signal.SIGKILL)  # the scheduler
            with pytest.raises(ClusterError) as caught:
                list(results)
        message = str(caught.value)
        assert "lost the connection to the Dask scheduler" in message and "\n" not in message
    finally:
        _stop(procs)


def test_a_worker_that_cannot_import_the_project_is_recognised():
    """Dask hands a worker's failed import back as a bare Exception's text; it is still read as one."""
    from runner.explore_cluster import _import_failure

    # the exception ClusterExecutor got from Client.run with a worker on a checkout without explore_cluster.py
    assert _import_failure(Exception("ModuleNotFoundError(\"No module named 'runner.explore_cluster'\")"))
    assert _import_failure(ModuleNotFoundError("No module named 'minikeydb'"))
    assert not _import_failure(ModuleNotFoundError("No module named 'numpy'"))
    assert not _import_failure(ValueError("runner"))


def test_unreachable_address_is_one_clear_error():
    """No scheduler at the address: a ClusterError naming it and how to start one, within the timeout."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterError) as caught:
        ClusterExecutor(address, timeout=1)
    message = str(caught.value)
    assert "\n" not in message and address in message and "dask scheduler" in message
    assert time.monotonic() - started < 30


def test_engine_not_installed_names_the_extra(monkeypatch):
    """Without Dask distributed importable, the error names pip install -e '.[cluster]'."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed then raises ImportError
    with pytest.raises(ClusterError, match=r"pip install -e '\.\[cluster\]'"):
        ClusterExecutor("tcp://127.0.0.1:1")


@pytest.mark.parametrize("address", ["bogus", "", "http://127.0.0.1:8799", "tcp://[::1]:99999", "tcp://:8786",
                                     "tcp://host:0", "host:port"])
def test_a_malformed_address_is_one_line_before_any_connection(address, monkeypatch):
    """A malformed --cluster address is a one-line ClusterError naming the expected form; Dask is never asked."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    import distributed

    def no_client(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("a malformed address reached Dask")

    monkeypatch.setattr(distributed, "Client", no_client)
    with pytest.raises(ClusterError) as caught:
        ClusterExecutor(address)
    message = str(caught.value)
    assert "tcp://HOST:PORT" in message and "\n" not in message


@pytest.mark.realtime  # 10-17 s of real processes: with .ci/run's second step, off the 10-minute default suite
def test_explore_at_a_silent_port_is_one_line_within_the_timeout_and_no_traceback_at_exit():
    """explore --cluster at a port that accepts but never answers: exit 254, one stderr line saying 10 s, and no
    Dask traceback as it exits (Client.__del__ waited 20 s more and printed a TimeoutError)."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    with socket.socket() as silent:  # the kernel completes the connection; nobody ever speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        proc = subprocess.run([sys.executable, str(ROOT / "harness.py"), "explore", "--cluster", address, "--runs",
                               "1"], env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 254, proc.stderr
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "within 10 s" in proc.stderr, proc.stderr


def test_a_task_that_killed_every_worker_is_named_in_a_short_line():
    """KilledWorker for an explore trial names its seed, not the TrialTask's kilobyte repr."""
    pytest.importorskip("distributed", reason="Dask distributed is not installed: pip install -e '.[cluster]'")
    from distributed import KilledWorker

    from runner.explore import candidate_for
    from runner.explore_trial import TrialTask
    from runner.options import RunOptions

    class Future:
        def result(self):  # noqa: ANN202
            raise KilledWorker("run", "tcp://w", "killed")

    executor = ClusterExecutor.__new__(ClusterExecutor)
    executor.address = "tcp://127.0.0.1:8786"
    task = TrialTask(0, candidate_for(RunOptions(mode="sim", nemesis=("partition",)), 5, False), ("x",))
    with pytest.raises(ClusterError) as caught:
        executor._result(Future(), task)
    message = str(caught.value)
    assert "seed 5" in message and "TrialTask(" not in message and len(message) < 300
