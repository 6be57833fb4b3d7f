"""The compiled hot loops (`compiled.py`): the same results as their source, never a stale binary."""

from __future__ import annotations

import importlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import types
import warnings
from pathlib import Path
from typing import Any

import pytest

import checker.linearizable.check as check_module
import checker.linearizable.search as search_module
from checker.linearizable import check_events, compiled, direct, pairing, walk
from checker.linearizable.operations import HistoryInputError
from tests.linearizable.corpus import MANIFEST, check_kwargs, load_events, manifest_entries

ROOT = Path(__file__).resolve().parents[2]


def _cas_history(seed: int, ops: int = 160, processes: int = 4) -> list[dict[str, Any]]:
    """A cas-register history of `ops` operations on overlapping processes, a tenth of them
    timing out (info), every operation taking effect at one instant inside its interval."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    state = 0
    running: dict[int, dict[str, Any]] = {}
    started = 0
    while started < ops or running:
        idle = [p for p in range(processes) if p not in running]
        if idle and started < ops and (not running or rng.random() < 0.5):
            p = rng.choice(idle)
            f = rng.choice(["read", "write", "cas"])
            value = None if f == "read" else rng.randrange(4) if f == "write" else [rng.randrange(4), rng.randrange(4)]
            running[p] = {"f": f, "value": value, "done": False, "result": None}
            events.append({"process": p, "type": "invoke", "f": f, "value": value})
            started += 1
            continue
        p = rng.choice(sorted(running))
        op = running[p]
        if not op["done"]:  # it takes effect now
            op["done"] = True
            if op["f"] == "read":
                op["result"] = state
            elif op["f"] == "write":
                state = op["value"]
            elif state == op["value"][0]:
                state = op["value"][1]
            else:
                op["failed"] = True
            continue
        del running[p]
        kind = "info" if op["f"] != "read" and rng.random() < 0.1 else "fail" if op.get("failed") else "ok"
        value = op["result"] if op["f"] == "read" else op["value"]
        events.append({"process": p, "type": kind, "f": op["f"], "value": value})
    for i, event in enumerate(events):
        event["index"] = i
    return events


def _results_both_ways(histories: list[tuple[list[dict[str, Any]], str, dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """The results of checking each history with the copies the checker runs, then with the sources."""
    def timeless(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: timeless(v) for k, v in obj.items() if "second" not in k and k != "slowest_part"}
        return [timeless(v) for v in obj] if isinstance(obj, list) else obj

    def run() -> list[Any]:
        return [timeless(check_events(events, model, **kwargs)) for events, model, kwargs in histories]

    chosen = run()
    saved = check_module.direct_parts, check_module.pair_records, search_module.walk
    check_module.direct_parts, check_module.pair_records, search_module.walk = (
        direct.direct_parts, pairing.pair_records, walk.walk)
    try:
        source = run()
    finally:
        check_module.direct_parts, check_module.pair_records, search_module.walk = saved
    return chosen, source


def test_compiled_and_source_agree_on_parts_of_many_operations():
    """Cas-register histories of 160 operations with timed-out ones (parts past 64 operations, where a
    C integer would overflow a bitset) get the same verdicts and counts compiled as from the source."""
    histories = [(_cas_history(seed), "cas-register", {"init": 0}) for seed in range(6)]
    chosen, source = _results_both_ways(histories)
    assert [r["valid"] for r in source] == [True] * 6
    assert chosen == source


@pytest.mark.skipif(not MANIFEST.exists(), reason=f"Knossos corpus not present at {MANIFEST}")
def test_compiled_and_source_agree_on_the_knossos_corpus():
    """Every corpus history gets the same results (verdict, configurations per part, anomalies) both ways."""
    histories = [(load_events(MANIFEST.parent.parent / e["file"]), e["model"], check_kwargs(e))
                 for e in manifest_entries()]
    chosen, source = _results_both_ways(histories)
    assert chosen == source


def _malformed(events: list[dict[str, Any]]) -> str:
    try:
        check_module.pair_records(events)
    except HistoryInputError as exc:
        compiled_error = str(exc)
    else:
        compiled_error = "no error"
    try:
        pairing.pair_records(events)
    except HistoryInputError as exc:
        assert str(exc) == compiled_error
        return compiled_error
    raise AssertionError(f"the source paired a history the copy in use refused: {compiled_error}")


def test_compiled_pairing_reports_the_same_errors_as_its_source():
    """The pairing in use (compiled when built) refuses each malformed history with its source's very message,
    and pairs a tuple of events (no list-only annotation) into the same records."""
    ok = [{"process": 0, "type": "invoke", "f": "write", "value": 1, "index": 0, "time": 5},
          {"process": 0, "type": "ok", "f": "write", "value": 1, "index": 1, "time": 9}]
    assert check_module.pair_records(tuple(ok)) == pairing.pair_records(ok)
    assert "field 'index' must be an int" in _malformed([{**ok[0], "index": "x"}])
    assert "expected a JSON object, got list" in _malformed([[1, 2]])
    assert "invokes 'read' while its 'write'" in _malformed([ok[0], {**ok[0], "f": "read", "index": 1}])
    assert "field 'type' must be one of" in _malformed([ok[0], {**ok[1], "type": "done"}])
    assert "has no pending invocation" in _malformed([ok[1]])
    assert "does not match the invocation's 'write'" in _malformed([ok[0], {**ok[1], "f": "read"}])
    assert "field 'f' must be a string" in _malformed([{**ok[0], "f": 3}])


def _fake_extension(digest: str | None) -> types.ModuleType:
    mod = types.ModuleType("checker.linearizable._walk_c")
    mod.__file__ = str(Path(compiled.__file__).with_name("_walk_c" + importlib.machinery.EXTENSION_SUFFIXES[0]))
    if digest is not None:
        mod.SOURCE_SHA256 = digest  # type: ignore[attr-defined]
    return mod


def test_pick_refuses_a_compiled_copy_of_another_source(monkeypatch):
    """An extension built from a different walk.py (or with no hash) is not used: one warning, the source runs."""
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    for digest in ("0" * 64, None):
        monkeypatch.setattr(compiled.importlib, "import_module", lambda name, d=digest: _fake_extension(d))
        with pytest.warns(compiled.StaleCompiledWarning, match="walk.py changed after its compiled copy"):
            assert compiled.pick("walk", walk) is walk
    current = _fake_extension(compiled.source_sha256("walk"))
    monkeypatch.setattr(compiled.importlib, "import_module", lambda name: current)
    assert compiled.pick("walk", walk) is current


def test_pick_falls_back_to_the_source_when_nothing_is_built(monkeypatch):
    """No extension (ImportError), or MINIKEYDB_PURE set: the source, without a warning."""
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)

    def missing(name: str) -> types.ModuleType:
        raise ImportError(name)

    monkeypatch.setattr(compiled.importlib, "import_module", missing)
    assert compiled.pick("walk", walk) is walk
    monkeypatch.setattr(compiled.importlib, "import_module", lambda name: _fake_extension(compiled.source_sha256("walk")))
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert compiled.pick("walk", walk) is walk


def _describe(pythonpath: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "default", "-c",
         "import checker.linearizable.check\nfrom checker.linearizable.compiled import describe\nprint(describe())"],
        env={**{k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}, "PYTHONPATH": str(pythonpath), **env},
        cwd=pythonpath, capture_output=True, text=True,
        timeout=60, check=True,
    )


@pytest.mark.skipif(not compiled.describe().startswith("compiled: yes"),
                    reason="no current compiled build here (pip install -e . with a C compiler builds one)")
def test_an_edited_source_runs_instead_of_its_older_build(tmp_path):
    """A copy of the built package whose walk.py gains a line after the build: that module runs from
    its source (one warning naming it), direct.py still runs compiled; MINIKEYDB_PURE=1: both pure."""
    shutil.copytree(ROOT / "checker", tmp_path / "checker", ignore=shutil.ignore_patterns("__pycache__"))
    assert _describe(tmp_path).stdout.startswith("compiled: yes")
    with open(tmp_path / "checker" / "linearizable" / "walk.py", "a") as fh:
        fh.write("# edited after the build\n")
    done = _describe(tmp_path)
    assert "StaleCompiledWarning: checker/linearizable/walk.py changed after its compiled copy" in done.stderr
    assert done.stderr.count("StaleCompiledWarning") == 1
    assert done.stdout.strip() == ("compiled: no (direct.py compiled; pairing.py compiled; walk.py pure (compiled copy is stale))")
    pure = _describe(tmp_path, MINIKEYDB_PURE="1")
    assert pure.stdout.strip() == ("compiled: no (direct.py pure (MINIKEYDB_PURE is set); pairing.py pure (MINIKEYDB_PURE is set); "
                                   "walk.py pure (MINIKEYDB_PURE is set))")


def _hard_kv_history(path: Path, writers: int = 20) -> Path:
    """`writers` concurrent puts of one key, then a get of a value none wrote: refuted only after
    every order of the puts is tried (a minute or more, compiled or not)."""
    rows = [{"process": p, "type": "invoke", "f": "put", "value": p, "key": "k"} for p in range(writers)]
    rows += [{"process": p, "type": "ok", "f": "put", "value": p, "key": "k"} for p in range(writers)]
    rows += [{"process": writers, "type": "invoke", "f": "get", "value": None, "key": "k"},
             {"process": writers, "type": "ok", "f": "get", "value": "never-written", "key": "k"}]
    path.write_text("".join(json.dumps({**row, "index": i}) + "\n" for i, row in enumerate(rows)))
    return path


def _cpu_seconds(pid: int) -> float:
    """The CPU time process `pid` has used so far (user + system, /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize(("entry", "signum", "code"), [("module", signal.SIGINT, 130), ("harness", signal.SIGTERM, 143)])
def test_a_signal_stops_a_long_search_at_once(tmp_path, entry, signum, code):
    """Ctrl-C or SIGTERM in the middle of a long search (compiled when built) stops the check at
    once with 128 + the signal, however long the search had left (the compiled loop used to run on)."""
    history = _hard_kv_history(tmp_path / "history.jsonl")
    args = ([sys.executable, "-m", "checker.linearizable", str(history), "--model", "kv"] if entry == "module"
            else [sys.executable, "harness.py", "check", str(history), "--checker", "linearizable", "--model", "kv"])
    proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        while _cpu_seconds(proc.pid) < 0.7:  # started, read the history and searching (imports take ~0.3 s)
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signum)
        try:
            out, err = proc.communicate(timeout=10)  # it stops within milliseconds; the search had a minute more
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10 s after {signum.name}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, (out, err)
    assert "Traceback" not in err and err.strip(), err


def test_a_stale_copy_under_warnings_as_errors_still_runs_the_source(monkeypatch, capsys):
    """With warnings made errors (-W error, PYTHONWARNINGS=error) a stale compiled copy still only
    warns, in one line on stderr, and the source runs: the warning never stops a check."""
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    monkeypatch.setattr(compiled.importlib, "import_module", lambda name: _fake_extension("0" * 64))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert compiled.pick("walk", walk) is walk
    err = capsys.readouterr().err
    assert err.count("StaleCompiledWarning: checker/linearizable/walk.py changed after its compiled copy") == 1, err


def _copy_of_checker(tmp_path: Path) -> Path:
    """The checker package (with whatever compiled copies are built) and harness.py, in `tmp_path`."""
    shutil.copytree(ROOT / "checker", tmp_path / "checker", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "harness.py", tmp_path / "harness.py")
    history = tmp_path / "history.jsonl"
    history.write_text('{"process": 0, "type": "invoke", "f": "put", "value": 1, "key": "a", "index": 0}\n'
                       '{"process": 0, "type": "ok", "f": "put", "value": 1, "key": "a", "index": 1}\n')
    return history


def _run_both(tmp_path: Path, history: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], ...]:
    """`python -m checker.linearizable` and `harness.py check --checker linearizable` on `history`,
    with the package in `tmp_path`."""
    env = {**{k: v for k, v in os.environ.items() if k != compiled.PURE_ENV}, "PYTHONPATH": str(tmp_path), **env}
    return tuple(
        subprocess.run([sys.executable, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        for args in (["-m", "checker.linearizable", str(history), "--model", "kv"],
                     ["harness.py", "check", str(history), "--checker", "linearizable", "--model", "kv"])
    )


@pytest.mark.skipif(not compiled.describe().startswith("compiled: yes"),
                    reason="no current compiled build here (pip install -e . with a C compiler builds one)")
def test_a_stale_copy_with_pythonwarnings_error_still_checks(tmp_path):
    """PYTHONWARNINGS=error and a walk.py edited after its build: both entry points check the history
    (valid, exit 0) with the source, saying once that the compiled copy is stale."""
    history = _copy_of_checker(tmp_path)
    with open(tmp_path / "checker" / "linearizable" / "walk.py", "a") as fh:
        fh.write("# edited after the build\n")
    for done in _run_both(tmp_path, history, PYTHONWARNINGS="error"):
        assert done.returncode == 0, (done.args, done.stdout, done.stderr)
        assert done.stderr.count("StaleCompiledWarning") == 1, done.stderr
        assert "Traceback" not in done.stderr


def test_a_missing_module_of_the_checker_is_named_never_a_traceback(tmp_path):
    """walk.py deleted: `python -m checker.linearizable` says in one line that the module is missing
    and exits 254 (never 1, the NOT-linearizable code); `harness.py check` names it too."""
    history = _copy_of_checker(tmp_path)
    (tmp_path / "checker" / "linearizable" / "walk.py").unlink()
    module, harness = _run_both(tmp_path, history)
    assert module.returncode == 254, (module.stdout, module.stderr)
    assert module.stderr.strip().count("\n") == 0 and "Traceback" not in module.stderr, module.stderr
    assert "No module named 'checker.linearizable.walk'" in module.stderr, module.stderr
    assert harness.returncode == 254, (harness.stdout, harness.stderr)
    assert "No module named 'checker.linearizable.walk'" in harness.stderr, harness.stderr
    assert "circular" not in harness.stderr


@pytest.mark.parametrize("walk_fn", list({id(w): w for w in (walk.walk, search_module.walk)}.values()),
                         ids=lambda w: getattr(w, "__module__", "?"))
def test_the_search_lets_signal_handlers_run_even_without_limits(monkeypatch, walk_fn):
    """With no deadline, cap or budget, the search (compiled or not) still calls back into Python
    now and then, where a pending Ctrl-C is raised: its exception leaves the search."""
    from tests.linearizable.test_time_limit import _wide_part

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules[walk_fn.__module__], "let_signals_run", interrupted)
    arrays = _wide_part(2000, 100)
    n = len(arrays[0])
    with pytest.raises(KeyboardInterrupt):
        walk_fn(*arrays, search_module._bits(n), 1 << n, None, None, None, None, None)


def test_the_search_in_use_takes_tuples_as_its_source_does():
    """`walk` compiled takes its arrays as tuples as well as lists, like its source, with the same
    result either way (the compiled copy used to refuse a tuple: "expected list, got tuple")."""
    from tests.linearizable.test_time_limit import _wide_part

    arrays = _wide_part(30, 10)
    n = len(arrays[0])
    bit = search_module._bits(n)
    results = [w(*(kind(a) for a in arrays), kind(bit), 1 << n, None, None, None, None, None)[:3]
               for w in (search_module.walk, walk.walk) for kind in (list, tuple)]
    assert results == [(True, walk.DONE, n + 1)] * 4


@pytest.mark.realtime
def test_setup_says_why_the_loops_run_pure_once_in_the_build_not_in_the_metadata_run(tmp_path):
    """pip runs setup.py for the metadata and then for the build: "the hot loops run as pure Python"
    is said in the build only, so an install without Cython says it once (it used to say it twice)."""
    env = {**os.environ, "MINIKEYDB_NO_COMPILE": "1"}
    metadata = subprocess.run([sys.executable, "setup.py", "-q", "egg_info", "--egg-base", str(tmp_path)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    build = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--dry-run"],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True)
    assert "minikeydb:" not in metadata.stderr, metadata.stderr
    assert build.stderr.count("minikeydb: MINIKEYDB_NO_COMPILE is set: the checker's hot loops run as pure Python") == 1
