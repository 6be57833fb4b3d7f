"""A newcomer's second reading (README only): what the checker took for granted is said, not silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checker.cli import main

KV_NULL_AFTER_PUT = """\
{"time": 1000000, "process": 0, "type": "invoke", "f": "put", "key": "a", "value": "x1", "node": "n1"}
{"time": 2000000, "process": 0, "type": "ok", "f": "put", "key": "a", "value": "x1", "node": "n1"}
{"time": 3000000, "process": 1, "type": "invoke", "f": "get", "key": "a", "value": null, "node": "n2"}
{"time": 4000000, "process": 1, "type": "ok", "f": "get", "key": "a", "value": null, "node": "n2"}
{"time": 5000000, "process": 2, "type": "invoke", "f": "get", "key": "a", "value": null, "node": "n2"}
{"time": 6000000, "process": 2, "type": "ok", "f": "get", "key": "a", "value": "x1", "node": "n2"}
"""


def _write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_null_reads_taken_as_any_are_said_in_the_verdict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Under the default --null-read any, the verdict says how many null reads matched anything and how to change it."""
    path = _write(tmp_path, "kv.jsonl", KV_NULL_AFTER_PUT)
    assert main(["check", str(path), "--checker", "linearizable"]) == 0
    out = capsys.readouterr().out
    assert ("note: 1 read returned null and was taken to match any value (--null-read any, Knossos's convention); "
            "if null means the key is absent in your system, use --null-read absent") in out
    assert main(["check", str(path), "--checker", "linearizable", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)["stats"]
    assert stats["null_reads_any"] == 1 and "--null-read absent" in stats["notes"][0]
    assert main(["check", str(path), "--checker", "linearizable", "--null-read", "absent"]) == 1
    assert "taken to match any value" not in capsys.readouterr().out

TYPO_FINAL = """\
{"time": 1000000, "process": 0, "type": "invoke", "f": "put", "key": "a", "value": "x1", "node": "n1"}
{"time": 2000000, "process": 0, "type": "ok", "f": "put", "key": "a", "value": "x1", "node": "n1", "tags": [1]}
{"time": 3000000, "process": "nemesis", "type": "info", "f": "heal", "value": null}
{"time": 4000000, "process": 1, "type": "invoke", "f": "get", "key": "a", "value": null, "node": "n1", "finall": true}
{"time": 5000000, "process": 1, "type": "ok", "f": "get", "key": "a", "value": "x1", "node": "n1", "finall": true}
{"time": 6000000, "process": 2, "type": "invoke", "f": "get", "key": "a", "value": null, "node": "n2", "finall": true}
{"time": 7000000, "process": 2, "type": "ok", "f": "get", "key": "a", "value": "x1", "node": "n2", "finall": true}
"""


def test_a_misspelt_field_is_warned_once_with_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'finall' is named once (file, first line, the field meant) on stderr and in --json's notes; 'tags' is not."""
    path = _write(tmp_path, "typo.jsonl", TYPO_FINAL)
    assert main(["check", str(path)]) == 2  # still UNKNOWN: no final reads; the warning changes no verdict
    err = capsys.readouterr().err
    assert err.count("warning:") == 1
    assert f"{path}: line 4: field 'finall' is not a field of the history format; did you mean 'final'?" in err
    assert main(["check", str(path), "--json", "--checker", "convergence,linearizable"]) == 2
    notes = json.loads(capsys.readouterr().out)["notes"]
    assert len(notes) == 1 and "did you mean 'final'?" in notes[0]


def test_a_missing_field_names_its_near_miss(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A put without 'value' but with 'vaule' is refused with the near miss named."""
    path = _write(tmp_path, "vaule.jsonl", KV_NULL_AFTER_PUT.replace('"value": "x1"', '"vaule": "x1"', 1))
    assert main(["check", str(path)]) == 254
    assert "field 'value' missing; line 1 has 'vaule'" in capsys.readouterr().err


def _ops(n: int, time_of: object) -> str:
    """``n`` put/ok pairs on key a, the i-th event's time given by ``time_of(i)``."""
    rows = []
    for i in range(n):
        for j, typ in enumerate(("invoke", "ok")):
            t = time_of(2 * i + j)  # type: ignore[operator]
            rows.append(json.dumps({"time": t, "process": 0, "type": typ, "f": "put", "key": "a",
                                    "value": f"v{i}", "node": "n1"}))
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(("time_of", "said"), [
    (lambda i: 0.001 * (i + 1), "line 1: 'time' 0.001 is not a whole number"),
    (lambda i: i + 1, "every time is below 1,000,000 ns (1 ms) across 40 events"),
])
def test_times_that_look_like_seconds_are_said(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               time_of: object, said: str) -> None:
    """Float-second times (cut to 0 ns) and tiny integer times over many events are warned once, verdict unchanged."""
    path = _write(tmp_path, "secs.jsonl", _ops(20, time_of))
    main(["check", str(path)])
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and said in err and "look like seconds" in err
    ns = _write(tmp_path, "ns.jsonl", _ops(20, lambda i: 1_000_000 * (i + 1)))
    main(["check", str(ns)])
    assert "warning:" not in capsys.readouterr().err


def _after_heal_history(reads_after_heal: bool) -> list[dict[str, object]]:
    """A put, a partition and its heal, optionally a stale get after the heal, then agreeing final reads."""
    ev: list[dict[str, object]] = []

    def op(p: int, f: str, value: object, t: int, out: object = None, final: bool = False) -> None:
        extra = {"final": True} if final else {}
        ev.append({"time": t, "process": p, "type": "invoke", "f": f, "key": "a", "value": value, "node": "n1", **extra})
        ev.append({"time": t + 1_000_000, "process": p, "type": "ok", "f": f, "key": "a",
                   "value": value if f == "put" else out, "node": "n1", **extra})

    op(0, "put", "x1", 1_000_000_000)
    ev.append({"time": 2_000_000_000, "process": "nemesis", "type": "info", "f": "partition-start", "value": None})
    op(0, "put", "x2", 2_100_000_000)
    ev.append({"time": 3_000_000_000, "process": "nemesis", "type": "info", "f": "partition-stop", "value": None})
    ev.append({"time": 3_000_000_000, "process": "nemesis", "type": "info", "f": "heal", "value": None})
    if reads_after_heal:
        op(1, "get", None, 3_500_000_000, out="x1")  # stale: x2 was acknowledged before it began
    op(2, "get", None, 5_000_000_000, out="x2", final=True)
    return ev


def test_stale_reads_after_heal_is_not_a_constant_zero() -> None:
    """With no reads between the heal and the final reads the figure is None with why; with one stale read, 1."""
    from checker.api import check

    (none,) = check(_after_heal_history(False)).results["stats"]["convergence"]
    assert none["stale_reads_after_heal"] is None and none["last_stale_read_after_s"] is None
    assert none["stale_reads_how"].startswith("not measured: no reads between the final heal and the final reads")
    (one,) = check(_after_heal_history(True)).results["stats"]["convergence"]
    assert one["stale_reads_after_heal"] == 1 and one["last_stale_read_after_s"] == 0.5
    assert one["reads_after_heal"] == 1 and "1 reads invoked between the heal and the final reads" in one["stale_reads_how"]


@pytest.mark.parametrize("mode", ["sim", "udp"])
def test_report_says_sim_latencies_are_virtual_and_unmeasured_staleness(tmp_path: Path, mode: str) -> None:
    """report.html of a sim run says its latencies are virtual (a udp run's does not), and shows 'not measured'."""
    from checker.report import write_report

    (tmp_path / "history.jsonl").write_text("".join(json.dumps(e) + "\n" for e in _after_heal_history(False)))
    (tmp_path / "run.json").write_text(json.dumps({"options": {"mode": mode, "replicas": 3, "write_quorum": 1,
                                                               "read_quorum": 1}}))
    page = Path(write_report(tmp_path)).read_text()
    assert ("Latency (virtual: simulated clock)" in page and "Latency (virtual ms)" in page) == (mode == "sim")
    assert "not measured: no reads between the final heal and the final reads" in page


def test_polish_plural_json_column_and_keyless_register(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """'1 datagram dropped'; a JSON error gives a column, not a second line number; no '1 of 1 key' for a register."""
    from checker.findings import faults_sentence

    window = {"datagrams": {"dropped": 1, "delayed": 2, "duplicated": 0, "reordered": 0}, "nodes_crashed": [],
              "nodes_paused": [], "ops": {"failed": 0, "timed_out": 0}, "kind": "partition", "bit": True}
    assert "1 datagram dropped, 2 datagrams delayed" in (faults_sentence({"bite": [window]}) or "")
    bad = _write(tmp_path, "bad.jsonl", KV_NULL_AFTER_PUT.replace('"node": "n2"}', '"node": "n2",}', 1))
    assert main(["check", str(bad)]) == 254
    err = capsys.readouterr().err
    assert "line 3: field '(json)': not valid JSON (trailing comma is not allowed at column 102)" in err, err
    assert "line 1" not in err
    reg = _write(tmp_path, "reg.jsonl", "".join(json.dumps(e) + "\n" for e in [
        {"process": 0, "type": "invoke", "f": "write", "value": 1, "time": 1000},
        {"process": 0, "type": "ok", "f": "write", "value": 1, "time": 2000},
        {"process": 1, "type": "invoke", "f": "read", "value": None, "time": 3000},
        {"process": 1, "type": "ok", "f": "read", "value": 2, "time": 4000}]))
    assert main(["check", str(reg), "--checker", "linearizable", "--model", "register"]) == 1
    out = capsys.readouterr().out
    assert "linearizability (model register): NOT linearizable\n" in out and "of 1 key" not in out


def test_whole_float_seconds_warn_and_plural_fields_do_not(tmp_path: Path) -> None:
    """Times 0.0, 1.0, ... (whole seconds as floats) get the looks-like-seconds warning, and a plural of a field
    ('nodes' on a nemesis event) is no 'did you mean' (the re-attack a3: silent, and a false warning)."""
    from checker.history import near_miss

    assert near_miss("nodes") is None and near_miss("values") is None and near_miss("finall") == "final"
    events = []
    for i in range(30):
        events.append({"process": 0, "type": "invoke", "f": "put", "key": "k", "value": i, "time": float(2 * i)})
        events.append({"process": 0, "type": "ok", "f": "put", "key": "k", "value": i, "time": float(2 * i + 1)})
    path = tmp_path / "h.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    from checker.history import read_events

    notes: list[str] = []
    read_events(path, notes=notes)
    assert any("look like seconds" in n for n in notes), notes
