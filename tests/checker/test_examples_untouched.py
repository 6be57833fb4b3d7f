"""The README's commands on histories/examples/* leave the git tree clean and say where they wrote."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (ROOT / "histories" / "examples").iterdir() if p.is_dir())
# Replays re-run the store: only the simulated ones are fast, and one of each kind is enough.
REPLAYED = ["partition-sim", "shrunk-ack-before-durable"]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git repository holding copies of the examples, committed, with the project's .gitignore."""
    repo = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "histories" / "examples", repo / "histories" / "examples")
    shutil.copy(ROOT / ".gitignore", repo / ".gitignore")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t.invalid", "commit", "-qm", "examples")
    return repo


def _harness(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "harness.py"), *args], cwd=repo, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("name", EXAMPLES)
def test_check_and_report_of_an_example_leave_git_clean(repo: Path, name: str) -> None:
    """check, report and export of histories/examples/NAME touch no tracked file and say where they wrote."""
    example = f"histories/examples/{name}"
    done = _harness(repo, "check", example)
    assert done.returncode in (0, 1), done.stderr
    verdict = done.returncode
    assert "recorded in run.json" in done.stdout or "recorded in results.json" in done.stdout
    done = _harness(repo, "report", example)
    assert done.returncode == verdict, done.stderr  # report exits with check's verdict
    assert f"wrote histories/example-{name}/report.html" in done.stdout
    assert (repo / "histories" / f"example-{name}" / "report.html").is_file()
    done = _harness(repo, "export", example, "--edn")
    assert done.returncode == 0 and f"wrote histories/example-{name}/history.edn" in done.stderr, done.stderr
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""


@pytest.mark.parametrize("name", REPLAYED)
def test_replay_of_an_example_writes_under_histories(repo: Path, name: str) -> None:
    """replay of a simulated example puts its new run in histories/, not in the examples folder."""
    done = _harness(repo, "replay", f"histories/examples/{name}", "-q")
    assert done.returncode in (0, 1, 2), done.stderr
    wrote = [line for line in done.stdout.splitlines() if line.startswith("wrote ")]
    assert wrote and "/examples/" not in wrote[0] and "histories/" in wrote[0]
    assert _git(repo, "status", "--porcelain", "--untracked-files=all") == ""
