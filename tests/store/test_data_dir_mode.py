"""A node's data directory belongs to the conflict mode that wrote it: another mode is refused at start."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from minikeydb.config import write_config
from minikeydb.conflict import state_record
from minikeydb.dvv import EMPTY_CONTEXT, write
from minikeydb.log_storage import MODE_NAME, LogStorage, claim_conflict_mode
from minikeydb.record import Record
from minikeydb.storage import StorageError

from .cluster_fixture import make_config, running_cluster
from .subprocesses import run_cli


def _open(path: Path) -> LogStorage:
    return LogStorage.open(path / "records.log", bucket_of=lambda key: 0)


async def test_serve_refuses_a_data_dir_written_under_another_conflict_mode(tmp_path):
    """A node whose data dir holds lww records refuses to serve under siblings: one line naming both modes, exit 254."""
    config = make_config(tmp_path / "data", 3)
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert (await client.put("libkey", "v1", node="n1")).ok
    siblings = attrs.evolve(config, conflict="siblings")
    path = tmp_path / "siblings.toml"
    write_config(siblings, path)
    done = await run_cli("serve", "--config", path, "--node", "n2", timeout=15)
    assert done.returncode == 254, done.stderr
    lines = [line for line in done.stderr.splitlines() if " INFO " not in line]  # the start's log line
    assert len(lines) == 1, done.stderr
    assert "lww" in lines[0] and "siblings" in lines[0] and "data_dir" in lines[0], lines[0]


async def test_the_same_mode_starts_again_on_its_own_data(tmp_path):
    """A cluster restarted under the mode that wrote its data dir serves its keys as before."""
    config = attrs.evolve(make_config(tmp_path / "data", 3), conflict="siblings")
    async with running_cluster(config) as cluster, cluster.client() as client:
        assert (await client.put("k", "v1", node="n1")).ok
    async with running_cluster(config) as cluster, cluster.client() as client:
        got = await client.get("k", node="n2")
        assert got.ok and got.values == ("v1",), got


@pytest.mark.parametrize(
    ("written", "records", "opened", "refused"),
    [
        ("lww", [Record("a", "plain", (1, 0, "c"))], "siblings", True),
        ("lww", [Record("a", "plain", (1, 0, "c"))], "crdt", True),
        ("lww", [Record("a", "plain", (1, 0, "c"))], "lww", False),
        ("siblings", [state_record("a", "s", write(EMPTY_CONTEXT, ("c", 1), "v", (1, 0, "c")))], "lww", True),
        ("siblings", [state_record("a", "s", write(EMPTY_CONTEXT, ("c", 1), "v", (1, 0, "c")))], "siblings", False),
        ("empty", [], "crdt", False),
    ],
)
async def test_a_data_dir_from_before_the_marker_is_judged_by_its_records(tmp_path, written, records, opened, refused):
    """Without a mode marker (a data dir from before it), the records decide: they must be ones the mode writes."""
    store = _open(tmp_path)
    await store.apply(records)
    await store.aclose()
    assert not (tmp_path / MODE_NAME).exists()
    store = _open(tmp_path)
    try:
        if refused:
            with pytest.raises(StorageError, match=f"conflict mode {written}.*{opened}"):
                claim_conflict_mode(store, opened)
            assert not (tmp_path / MODE_NAME).exists()
        else:
            claim_conflict_mode(store, opened)
            assert (tmp_path / MODE_NAME).read_text().strip() == opened
    finally:
        await store.aclose()


async def test_the_marker_decides_once_written(tmp_path):
    """Once a data dir is marked lww, even with no records, opening it under crdt is refused."""
    store = _open(tmp_path)
    try:
        claim_conflict_mode(store, "lww")
        claim_conflict_mode(store, "lww")  # idempotent
        with pytest.raises(StorageError, match="conflict mode lww.*crdt"):
            claim_conflict_mode(store, "crdt")
    finally:
        await store.aclose()
    (tmp_path / MODE_NAME).write_text("bogus\n")
    store = _open(tmp_path)
    try:
        with pytest.raises(StorageError, match="bogus"):
            claim_conflict_mode(store, "lww")
    finally:
        await store.aclose()
