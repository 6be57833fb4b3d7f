"""Cluster config: the shipped default loads, files round-trip, and every error names file and setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikeydb.config import ConfigError, load_config, parse_config, write_config

GOOD = """
[cluster]
replicas = 3
write_quorum = 2
read_quorum = 2
data_dir = "data"

[timeouts]
client = 1.5

[[nodes]]
id = "a"
host = "127.0.0.1"
port = 9001

[[nodes]]
id = "b"
host = "127.0.0.1"
port = 9002

[[nodes]]
id = "c"
host = "127.0.0.1"
port = 9003
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    return path


def test_default_config_is_five_loopback_nodes_with_data_under_cwd(monkeypatch, tmp_path):
    """load_config(None) gives the shipped 5-node cluster, N=3 W=1 R=1, data in ./minikeydb-data."""
    monkeypatch.chdir(tmp_path)
    config = load_config(None)
    assert config.node_ids == ("n1", "n2", "n3", "n4", "n5")
    assert all(n.host == "127.0.0.1" for n in config.nodes)
    assert (config.replicas, config.write_quorum, config.read_quorum) == (3, 1, 1)
    assert config.data_dir == tmp_path / "minikeydb-data"


def test_a_good_file_loads_and_round_trips(tmp_path):
    """A written config reads back equal (apart from its source name)."""
    config = load_config(write(tmp_path, GOOD))
    assert config.write_quorum == 2 and config.timeouts.client == 1.5
    out = tmp_path / "again.toml"
    write_config(config, out)
    again = load_config(out)
    assert again.nodes == config.nodes
    assert again.timeouts == config.timeouts
    assert again.data_dir == config.data_dir
    assert (again.replicas, again.write_quorum, again.read_quorum, again.vnodes) == (3, 2, 2, 64)
    assert config.conflict == again.conflict == "lww"


@pytest.mark.parametrize("mode", ["lww", "siblings", "crdt"])
def test_conflict_mode_is_read_and_written_back(tmp_path, mode):
    """conflict = lww | siblings | crdt loads, and a written config keeps it (lww, the default, is left out)."""
    config = load_config(write(tmp_path, GOOD.replace('data_dir = "data"', f'data_dir = "data"\nconflict = "{mode}"')))
    assert config.conflict == mode
    out = tmp_path / "again.toml"
    write_config(config, out)
    assert load_config(out).conflict == mode
    assert ("\nconflict = " in out.read_text()) == (mode != "lww")


@pytest.mark.parametrize(
    "old, new, setting",
    [
        ("port = 9002", 'port = "9002"', "port"),
        ("port = 9002", "port = 70000", "port"),
        ("write_quorum = 2", "write_quorum = 4", "write_quorum"),
        ("read_quorum = 2", "read_quorum = 0", "read_quorum"),
        ("replicas = 3", "replicas = 0", "replicas"),
        ("replicas = 3", "replicas = 3\nreplication = 3", "replication"),
        ("client = 1.5", "client = -1", "client"),
        ("client = 1.5", "clients = 1.5", "clients"),
        ('id = "b"', 'id = "a"', "unique"),
        ('host = "127.0.0.1"\nport = 9002', "port = 9002", "host"),
        ('data_dir = "data"', "data_dir = 5", "data_dir"),
        ('data_dir = "data"', 'data_dir = "data"\nconflict = "sibling"', "did you mean 'siblings'"),
        ('data_dir = "data"', 'data_dir = "data"\nconflict = 3', "conflict"),
        ('data_dir = "data"', 'data_dir = "data"\nconflicts = "crdt"', "conflicts"),
    ],
)
def test_errors_name_the_file_and_the_setting(tmp_path, old, new, setting):
    """A bad value, unknown name or missing field raises ConfigError naming the file and the setting."""
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert setting in str(info.value)


def test_not_toml_names_the_file(tmp_path):
    """A file that is not TOML is a ConfigError naming the file and where parsing failed."""
    path = write(tmp_path, "[cluster\nreplicas = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path):
    """A config path that does not exist is a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


def test_no_nodes_is_a_config_error():
    """A config without [[nodes]] says nodes are required."""
    with pytest.raises(ConfigError, match="nodes"):
        parse_config({"cluster": {}}, "x.toml")


def test_unknown_node_id_lists_the_known_ones(tmp_path):
    """Asking a config for a node it lacks names the file and the nodes it has."""
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="a, b, c"):
        config.node("zz")


def test_secret_comes_from_the_environment_or_a_created_file(tmp_path, monkeypatch):
    """$MINIKEYDB_SECRET wins; without it a secret file is created once (mode 600) and reused."""
    config = parse_config(
        {"cluster": {"secret_file": "s/secret"}, "nodes": [{"id": "a", "host": "127.0.0.1", "port": 1}]}, "x", tmp_path
    )
    assert config.load_secret() == b"store-tests-secret"
    monkeypatch.delenv("MINIKEYDB_SECRET")
    first = config.load_secret()
    assert first and config.load_secret() == first
    assert (tmp_path / "s" / "secret").stat().st_mode & 0o777 == 0o600
