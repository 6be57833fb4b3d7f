"""The README's client-library example runs as written against a real cluster started as the README shows."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from minikeydb.transport import free_udp_ports

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"


def readme_client_example() -> str:
    """The ```python block of the README's "The store on its own" section."""
    text = README.read_text()
    section = text[text.index("## The store on its own"):]
    section = section[:section.index("\n## ", 1)]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "no python example under 'The store on its own'"
    return found.group(1)


def test_readme_client_example_puts_and_gets_on_a_real_cluster(tmp_path: Path) -> None:
    """The example, with its commented load_config("cluster.toml") (the shipped config on free ports), prints an ok
    Result for the put and `ok hello` for the get, as the README shows; `python -m minikeydb get` then reads it."""
    code = readme_client_example()
    assert "load_config()" in code and 'load_config("cluster.toml")' in code  # the README's two spellings
    default = (ROOT / "minikeydb" / "default_cluster.toml").read_text()
    ports = iter(free_udp_ports(5))
    config = re.sub(r"(?m)^port = 710\d$", lambda _: f"port = {next(ports)}", default)
    assert config != default
    (tmp_path / "cluster.toml").write_text(config)
    (tmp_path / "example.py").write_text(code.replace("load_config()", 'load_config("cluster.toml")', 1))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    log = (tmp_path / "cluster.log").open("wb")
    cluster = subprocess.Popen([sys.executable, "-m", "minikeydb", "cluster", "--config", "cluster.toml"],
                               cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:  # the nodes take a moment to start: until then a put is unknown (timed out)
            done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=60)
            if (done.returncode == 0 and done.stdout.endswith("ok hello\n")) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert done.returncode == 0, done.stderr + (tmp_path / "cluster.log").read_text()
        put_line, get_line = done.stdout.splitlines()
        assert put_line.startswith("Result(outcome='ok', value=None, stamp=(") and "error=None" in put_line
        assert get_line == "ok hello"
        got = subprocess.run([sys.executable, "-m", "minikeydb", "get", "libkey", "--config", "cluster.toml"],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert (got.returncode, got.stdout) == (0, "hello\n"), got.stderr
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
        log.close()
