"""harness.py run from another directory: its check process and journal writer must run the harness's own code."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness._children import start_run


@pytest.mark.realtime
def test_children_import_the_harness_tree_not_a_runner_package_in_the_working_directory(tmp_path: Path) -> None:
    """A `runner` package in the cwd (another clone, a user's project) must not replace the children's code."""
    cwd = tmp_path / "elsewhere"
    shadow = cwd / "runner"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("")
    for name in ("check_process", "journal_writer"):
        (shadow / f"{name}.py").write_text(f"open({str(tmp_path / ('ran-' + name))!r}, 'w').write('shadow')\n")
    run = start_run(tmp_path / "out", cwd=cwd, time_limit=5)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    ran = sorted(p.name for p in tmp_path.glob("ran-*"))
    assert ran == [], f"the cwd's shadow modules ran in the run's child processes: {ran}"
    assert "writer process died" not in out, out
