"""Errors the nodes log (a handler's traceback) are counted by exception type for the summary."""

from __future__ import annotations

from pathlib import Path

from runner.node_logs import describe, scan_node_logs

LOG = """2026-11-25 14:49:58,479 minikeydb.node ERROR node n3: error handling Digests(id=1, src='n5')
Traceback (most recent call last):
  File "/x/minikeydb/node.py", line 10, in dispatch
    await handler(message)
  File "/x/minikeydb/wire.py", line 20, in encode
    raise TooLarge(f"message of {len(payload)} bytes exceeds the limit")
    ^^^^^^^^^^^^^^
minikeydb.wire.TooLarge: message of 64172 bytes exceeds the 60000-byte datagram limit
2026-11-25 14:49:59,000 minikeydb.node INFO node n3: all well
"""


def test_a_handler_traceback_is_counted_and_named(tmp_path: Path) -> None:
    """Two logs with one TooLarge traceback each: 2 errors, TooLarge x2, named in the summary lines."""
    (tmp_path / "n1.log").write_text(LOG)
    (tmp_path / "n2.log").write_text(LOG)
    scan = scan_node_logs(tmp_path)
    assert scan["errors"] == 2
    assert scan["exceptions"]["minikeydb.wire.TooLarge"]["count"] == 2
    assert "64172 bytes" in "\n".join(describe(scan))


def test_clean_logs_add_no_summary_line(tmp_path: Path) -> None:
    """A log with no error gives no summary line."""
    (tmp_path / "n1.log").write_text("2026-11-25 14:49:59,000 minikeydb.node INFO node n1: up\n")
    assert describe(scan_node_logs(tmp_path)) == []


TRIMS = """2026-11-26 15:25:44,078 minikeydb.conflict WARNING key 'k76': concurrent siblings over the state limit; the oldest 1 dropped
2026-11-26 15:25:44,109 minikeydb.conflict WARNING key 'k76': concurrent siblings over the state limit; the oldest 2 dropped
2026-11-26 15:25:44,150 minikeydb.conflict WARNING key 'k368': concurrent siblings over the state limit; the oldest 1 dropped
2026-11-26 15:25:45,000 minikeydb.storage WARNING record not applied: too-large: key 'k9's OR-set state would take 50000 bytes encoded; a state is at most 49152 bytes
2026-11-26 15:25:46,000 minikeydb.node WARNING something else entirely
"""


def test_the_stores_data_affecting_warnings_are_counted_with_their_keys(tmp_path: Path) -> None:
    """Sibling trims and records not applied as too large (WARNING lines, no ERROR) are counted with their keys."""
    (tmp_path / "cluster.log").write_text(TRIMS)
    scan = scan_node_logs(tmp_path)
    assert scan["errors"] == 0
    trims = scan["warnings"]["sibling-trim"]
    assert (trims["count"], trims["dropped"], trims["keys_n"], trims["keys"]) == (3, 4, 2, ["k368", "k76"])
    assert trims["log"] == "cluster.log" and "'k76'" in trims["first"]
    assert scan["warnings"]["too-large"]["count"] == 1 and scan["warnings"]["too-large"]["keys"] == ["k9"]
    assert "log-damage" not in scan["warnings"]


def test_lost_writes_on_trimmed_keys_are_linked_to_the_trim(tmp_path: Path) -> None:
    """The summary lines name the trims, say lost writes on those keys may be the trim, and count the lost writes
    on trimmed keys among the verdict's."""
    (tmp_path / "cluster.log").write_text(TRIMS)
    anomalies = [{"type": "lost-write", "key": "k76"}, {"type": "lost-write", "key": "k5"},
                 {"type": "lost-write", "key": "k368"}]
    text = "\n".join(describe(scan_node_logs(tmp_path), anomalies))
    assert ("node logs: 3 sibling trims (4 siblings dropped on 2 keys: concurrent siblings over the 48 KiB state "
            "limit, the oldest dropped; first in nodes/cluster.log: key 'k76'") in text
    assert "2 of the 3 lost writes are on trimmed keys (k368, k76): the trim may be what lost them" in text
    assert "1 record not applied as too large (on 1 key; the replica kept its state" in text
    alone = "\n".join(describe(scan_node_logs(tmp_path)))
    assert "lost writes on those keys may be the trim" in alone


def test_set_trims_are_counted_and_linked_to_lost_elements(tmp_path: Path) -> None:
    """A crdt set's join trimmed over the state limit (minikeydb.conflict.trim_set's WARNING) is counted with its
    keys, and the set checker's lost elements on those keys are linked to it."""
    (tmp_path / "n1.log").write_text(
        "2026-11-26 16:00:00,000 minikeydb.conflict WARNING key 's1': a set's join over the state limit; "
        "3 elements removed (the largest)\n"
        "2026-11-26 16:00:01,000 minikeydb.conflict WARNING key 's1': a set's join over the state limit; "
        "1 element removed (the largest)\n")
    scan = scan_node_logs(tmp_path)
    trims = scan["warnings"]["set-trim"]
    assert (trims["count"], trims["dropped"], trims["keys"]) == (2, 4, ["s1"])
    text = "\n".join(describe(scan, [{"type": "lost-element", "key": "s1"}, {"type": "lost-element", "key": "s2"}]))
    assert "node logs: 2 set trims (4 elements dropped on 1 key: a set's join over the 48 KiB state limit" in text
    assert "1 of the 2 lost elements is on trimmed keys (s1): the trim may be what lost them" in text


def test_a_siblings_run_links_its_lost_writes_to_the_stores_trims(tmp_path: Path) -> None:
    """End to end: 16 KiB siblings on 3 keys under partitions overflow the 48 KiB state limit; results.json counts
    the trims the store logged (WARNING, no ERROR) and the summary ties the lost writes on those keys to them."""
    from runner.summary import format_summary
    from tests.sim.runs import run_short

    result = run_short(tmp_path, conflict="siblings", value_size="16384", keys=3, nemesis=("partition",),
                       time_limit=4.0, fault_interval=1.0, rate=100.0, concurrency=10, seed=4)
    trims = result.results["stats"]["node_logs"]["warnings"]["sibling-trim"]
    assert trims["count"] > 0 and trims["keys"]
    lost = [a for a in result.results["anomalies"] if a["type"] == "lost-write"]
    text = format_summary(result)
    assert f"sibling trims ({trims['dropped']} siblings dropped on {trims['keys_n']} keys" in text
    on = sum(1 for a in lost if a["key"] in trims["keys"])
    if lost:  # whether this seed loses writes is the store's business; when it does they are linked
        assert (f"{on} of the {len(lost)} lost write" in text) if on else ("none of the" in text)
