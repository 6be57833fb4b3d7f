"""Review s28's findings on explanations: the nodes, writes and sizes an anomaly names are the right ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from checker.api import check

ROOT = Path(__file__).resolve().parents[2]


class H:
    """A history built line by line (index and time from the line number, 1 ms apart)."""

    def __init__(self, header: dict[str, Any] | None = None) -> None:
        self.lines: list[dict[str, Any]] = [header] if header else []
        self.n = 0

    def op(self, p: int, f: str, key: Any, value: Any, result: Any = "same", node: str = "n1", typ: str = "ok",
           **extra: Any) -> int:
        """An invoke and its completion; returns the completion's index."""
        for t, v in (("invoke", value), (typ, value if result == "same" else result)):
            self.lines.append({"index": self.n, "time": (self.n + 1) * 1_000_000, "process": p, "type": t, "f": f,
                               "key": key, "value": v, "node": node, **extra})
            self.n += 1
        return self.n - 1

    def nemesis(self, f: str, value: Any, t_s: float) -> None:
        self.lines.append({"index": self.n, "time": int(t_s * 1e9), "process": "nemesis", "type": "info", "f": f,
                           "value": value})
        self.n += 1

    def write(self, path: Path) -> Path:
        path.write_text("".join(json.dumps(x) + "\n" for x in self.lines))
        return path


def test_resurrected_sibling_names_only_the_nodes_whose_final_read_holds_it(tmp_path: Path) -> None:
    """Put a and b, a get of [a, b], put ab with that context; only n2's final read holds a: only n2 is named."""
    h = H({"history": 1, "conflict": "siblings"})
    h.op(0, "put", "k", "a")
    h.op(1, "put", "k", "b")
    g = h.op(2, "get", "k", None, ["a", "b"])
    h.op(2, "put", "k", "ab", context_from=g)
    h.op(9, "get", "k", None, ["ab"], node="n1", final=True)
    h.op(9, "get", "k", None, ["ab", "a"], node="n2", final=True)
    res = check(h.write(tmp_path / "sib.jsonl")).results
    (a,) = [x for x in res["anomalies"] if x["type"] == "resurrected-sibling"]
    assert a["explanation"].rstrip(".").endswith('still among the final siblings on n2'), a["explanation"]


def test_a_get_listing_a_sibling_twice_counts_it_once(tmp_path: Path) -> None:
    """A get of [A, B, B] is two siblings in max_siblings, as the final reads' sets count it (it said 3)."""
    h = H({"history": 1, "conflict": "siblings"})
    h.op(0, "put", "k", "A")
    h.op(1, "put", "k", "B")
    h.op(2, "get", "k", None, ["A", "B"])
    h.op(9, "get", "k", None, ["A", "B", "B"], node="n1", final=True)
    h.op(9, "get", "k", None, ["B", "A"], node="n2", final=True)
    res = check(h.write(tmp_path / "sib.jsonl")).results
    assert res["valid"] is True
    assert res["stats"]["siblings"]["max_siblings"] == 2


def test_set_phantom_from_the_future_reads_as_a_sentence(tmp_path: Path) -> None:
    """A set element read before its first add: 'but its first add was invoked only after' (no 'there is')."""
    h = H({"history": 1, "workload": "set"})
    h.op(2, "read", "s", None, ["x"])
    h.op(0, "add", "s", "x")
    h.op(9, "read", "s", None, ["x"], node="n1", final=True)
    res = check(h.write(tmp_path / "set.jsonl")).results
    (a,) = res["anomalies"]
    assert "returned it, but its first add was invoked only after the read completed" in a["explanation"]
    assert "there is its" not in a["explanation"]


def test_divergence_names_the_delete_behind_a_replicas_null(tmp_path: Path) -> None:
    """n4, n5 hold p19-2 and n2 holds null after an acknowledged delete: the delete is named beside n2's null."""
    h = H()
    h.op(19, "put", "k", "p19-2", node="n2")
    h.op(3, "delete", "k", None, node="n2")
    for node, v in (("n2", None), ("n4", "p19-2"), ("n5", "p19-2")):
        h.op(99, "get", "k", None, v, node=node, final=True)
    res = check(h.write(tmp_path / "del.jsonl")).results
    (a,) = [x for x in res["anomalies"] if x["type"] == "divergent"]
    assert "n4, n5 returned p19-2, put p19-2 acknowledged by n2 at 0.002 s" in a["explanation"]
    assert "n2 returned null, the delete (process 3) acknowledged by n2 at 0.004 s" in a["explanation"], a


def test_divergence_names_the_newest_put_of_a_repeated_value(tmp_path: Path) -> None:
    """A value put twice: the newest acknowledged put of it is named, not the first."""
    h = H()
    h.op(1, "put", "k", "v", node="n1")
    h.op(2, "put", "k", "w", node="n2")
    h.op(3, "put", "k", "v", node="n3")
    for node, v in (("n1", "v"), ("n2", "w")):
        h.op(99, "get", "k", None, v, node=node, final=True)
    (a,) = [x for x in check(h.write(tmp_path / "rep.jsonl")).results["anomalies"] if x["type"] == "divergent"]
    assert "n1 returned v, put v acknowledged by n3 at 0.006 s" in a["explanation"], a


def test_long_keys_and_values_are_shortened_in_explanations(tmp_path: Path) -> None:
    """1 KiB keys and 32 KiB values appear as 40 characters and their size: the summary stays small."""
    h = H()
    for n in range(4):
        key = f"K{n}" + "k" * 1022
        h.op(0, "put", key, "A" * 32768)
        h.op(1, "put", key, "B" * 32768, node="n2")
        h.op(2, "get", key, None, "C" * 32768, node="n2")
        for node, v in (("n1", "A" * 32768), ("n3", "C" * 32768)):
            h.op(9, "get", key, None, v, node=node, final=True)
    path = h.write(tmp_path / "big.jsonl")
    res = check(path).results
    assert len(res["anomalies"]) >= 8
    for a in res["anomalies"]:
        assert len(a["explanation"]) < 1500, a["explanation"][:200]
        assert "K0" + "k" * 38 + "... (1,024 bytes)" in a["explanation"] or a["key"] != "K0" + "k" * 1022
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(path)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 1 and len(done.stdout) < 20_000, len(done.stdout)
    assert "... (32,768 bytes)" in done.stdout


def test_one_element_is_one_element(tmp_path: Path) -> None:
    """The set summary says '(1 element)', not '(1 elements)'."""
    h = H({"history": 1, "workload": "set"})
    h.op(0, "add", "s", "x")
    h.op(9, "read", "s", None, ["x"], node="n1", final=True)
    done = subprocess.run([sys.executable, str(ROOT / "harness.py"), "check", str(h.write(tmp_path / "s.jsonl"))],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert "(1 element)" in done.stdout and "1 elements" not in done.stdout, done.stdout


def test_a_set_divergence_lacking_one_element_reads_as_english(tmp_path: Path) -> None:
    """'n2 read 1 value, lacking it, which another node holds: "y"' (it said 'lacking 1 another node holds')."""
    h = H({"history": 1, "workload": "set"})
    h.op(0, "add", "s", "x")
    h.op(1, "add", "s", "y")
    h.op(9, "read", "s", None, ["x", "y"], node="n1", final=True)
    h.op(9, "read", "s", None, ["x"], node="n2", final=True)
    res = check(h.write(tmp_path / "s.jsonl")).results
    (a,) = [x for x in res["anomalies"] if x["type"] == "divergent"]
    assert 'n2 read 1 value, lacking it, which another node holds: "y"' in a["explanation"], a["explanation"]


def _stamped(h: H, p: int, key: str, value: str, node: str, t_s: float, stamp_s: float) -> None:
    """An acknowledged put invoked at t_s (1 ms long) whose ok carries meta.stamp on an epoch 1.8e9 s."""
    base = 1_800_000_000_000_000
    for typ, dt in (("invoke", 0.0), ("ok", 0.001)):
        ev: dict[str, Any] = {"index": h.n, "time": int((t_s + dt) * 1e9), "process": p, "type": typ, "f": "put",
                              "key": key, "value": value, "node": node}
        if typ == "ok":
            ev["meta"] = {"stamp": [base + int(stamp_s * 1e6), 0, f"c{p:016x}"]}
        h.lines.append(ev)
        h.n += 1


def test_a_lost_write_blames_skew_a_hybrid_clock_carried_past_the_window(tmp_path: Path) -> None:
    """Skew 5-10 s; put A at 11.346 s carries stamp 14.352 s and beats put B (12 s): the explanation says A's
    stamp was 3.006 s ahead and the skew had ended (it said only 'The acknowledged newer write is lost')."""
    h = H()
    for i in range(10):  # ordinary writes: their stamps fall within them
        _stamped(h, 100 + i, f"o{i}", f"v{i}", "n2", 1.0 + i * 0.1, 1.0 + i * 0.1 + 0.0005)
    h.nemesis("clock-skew-start", {"offsets": {"n3": 3.0}}, 5.0)
    h.nemesis("clock-skew-stop", None, 10.0)
    _stamped(h, 1, "k", "A", "n1", 11.346, 14.352)
    _stamped(h, 2, "k", "B", "n2", 12.0, 12.0005)
    for node in ("n1", "n2"):
        h.lines.append({"index": h.n, "time": 20_000_000_000, "process": 9, "type": "invoke", "f": "get", "key": "k",
                        "value": None, "node": node, "final": True})
        h.lines.append({"index": h.n + 1, "time": 20_001_000_000, "process": 9, "type": "ok", "f": "get", "key": "k",
                        "value": "A", "node": node, "final": True})
        h.n += 2
    res = check(h.write(tmp_path / "skew.jsonl")).results
    (a,) = [x for x in res["anomalies"] if x["type"] == "lost-write"]
    text = a["explanation"]
    assert "A's stamp was 3.006 s ahead of its acknowledgement at 11.347 s" in text, text
    assert "the clock skew of 5.000 s to 10.000 s had ended" in text and "B's was not ahead" in text, text
    assert abs(a["stamp_ahead_s"]["kept"] - 3.0055) <= 0.001


def test_without_stamps_or_lead_a_lost_write_says_nothing_of_carried_skew(tmp_path: Path) -> None:
    """Stamps that fall within their writes give no carried-skew sentence (the rule needs a stamp ahead)."""
    h = H()
    for i in range(10):
        _stamped(h, 100 + i, f"o{i}", f"v{i}", "n2", 1.0 + i * 0.1, 1.0 + i * 0.1 + 0.0005)
    _stamped(h, 1, "k", "A", "n1", 11.0, 11.0005)
    _stamped(h, 2, "k", "B", "n2", 12.0, 12.0005)
    h.lines.append({"index": h.n, "time": 20_000_000_000, "process": 9, "type": "invoke", "f": "get", "key": "k",
                    "value": None, "node": "n1", "final": True})
    h.lines.append({"index": h.n + 1, "time": 20_001_000_000, "process": 9, "type": "ok", "f": "get", "key": "k",
                    "value": "A", "node": "n1", "final": True})
    (a,) = [x for x in check(h.write(tmp_path / "calm.jsonl")).results["anomalies"] if x["type"] == "lost-write"]
    assert "stamp was" not in a["explanation"] and "stamp_ahead_s" not in a
