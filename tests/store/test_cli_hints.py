"""``python -m minikeydb``: a mistyped command or flag gets the nearest real one, exit 254."""

from __future__ import annotations

import pytest

from minikeydb.cli import main


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["gett", "k"], "did you mean 'get'?"),
        (["stat"], "did you mean 'stats'?"),
        (["put", "k", "v", "--nodes", "n1"], "did you mean '--node'?"),
        (["get", "k", "--confg", "x.toml"], "did you mean '--config'?"),
    ],
)
def test_near_misses_are_suggested(capsys: pytest.CaptureFixture[str], args: list[str], hint: str) -> None:
    """The one-line usage error names the command or flag the user probably meant."""
    assert main(args) == 254
    err = capsys.readouterr().err
    assert hint in err and len(err.strip().splitlines()) == 1


def test_probe_tells_a_closed_port_from_a_silent_listener() -> None:
    """probe_ports: a bound but silent UDP socket is 'listening', a port nobody holds is refused."""
    import socket

    from minikeydb.cli import probe_ports
    from minikeydb.config import parse_config
    from minikeydb.transport import free_udp_ports

    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    closed_port = free_udp_ports(1)[0]
    config = parse_config({"nodes": [{"id": "up", "host": "127.0.0.1", "port": silent.getsockname()[1]},
                                     {"id": "down", "host": "127.0.0.1", "port": closed_port}]}, "<test>")
    try:
        assert probe_ports(config, ["up", "down"]) == {"up": True, "down": False}
    finally:
        silent.close()
