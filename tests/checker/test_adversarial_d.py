"""Findings of the adversarial checker review D (bad integers, bad types, depth, keys, caps, messages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cli import main

SET = '{"history":1,"workload":"set"}'
SIB = '{"history":1,"conflict":"siblings"}'
UID = '{"history":1,"workload":"unique-ids"}'
ECHO = '{"history":1,"workload":"echo"}'


def _write(tmp_path: Path, lines: list[str], name: str = "h.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return p


def _uid(values: list[str]) -> list[str]:
    out = [UID]
    for i, v in enumerate(values):
        out += [f'{{"process":{i},"type":"invoke","f":"generate","value":null}}',
                f'{{"process":{i},"type":"ok","f":"generate","value":{v}}}']
    return out


# --- finding 1: integers orjson cannot hold exactly, anywhere in a line --------------------------

BIG = "100000000000000000000000000001"
NEG = "-9223372036854775809"  # below int64: orjson reads it as a float


@pytest.mark.parametrize("lines, verdict", [
    ([SET, f'{{"process":0,"type":"invoke","f":"add","key":"k","value":{BIG}}}',
      f'{{"process":0,"type":"ok","f":"add","key":"k","value":{BIG}}}',
      '{"process":1,"type":"invoke","f":"read","key":"k","value":null,"final":true,"node":"n1"}',
      f'{{"process":1,"type":"ok","f":"read","key":"k","value":[{BIG}],"final":true,"node":"n1"}}'], 0),
    ([SIB, f'{{"process":0,"type":"invoke","f":"put","key":"k","value":{BIG}}}',
      f'{{"process":0,"type":"ok","f":"put","key":"k","value":{BIG}}}',
      '{"process":1,"type":"invoke","f":"get","key":"k","value":null,"final":true,"node":"n1"}',
      f'{{"process":1,"type":"ok","f":"get","key":"k","value":[{BIG}],"final":true,"node":"n1"}}'], 0),
    (_uid([f'[{BIG}, "n1"]', f'[{BIG[:-1]}2, "n1"]']), 0),
    (_uid([f"[{BIG}]", f"[{BIG[:-1]}2]"]), 0),
    (_uid([NEG, "-9223372036854775810"]), 0),
    (_uid([f"[{NEG}]", "[-9223372036854775810]"]), 0),
    ([ECHO, f'{{"process":0,"type":"invoke","f":"echo","value":{{"a":[{BIG}]}}}}',
      f'{{"process":0,"type":"ok","f":"echo","value":{{"a":[{BIG[:-1]}2]}}}}'], 1),
    ([ECHO, '{"process":0,"type":"invoke","f":"echo","value":[123456789012345678901234567890]}',
      '{"process":0,"type":"ok","f":"echo","value":[123456789012345678901234567891]}'], 1),
    ([ECHO, f'{{"process":0,"type":"invoke","f":"echo","value":{NEG}}}',
      '{"process":0,"type":"ok","f":"echo","value":-9223372036854775810}'], 1),
    ([ECHO, f'{{"process":0,"type":"invoke","f":"echo","value":{NEG}}}',
      f'{{"process":0,"type":"ok","f":"echo","value":{NEG}}}'], 0),
    ([f'{{"process":0,"type":"invoke","f":"put","key":"k","value":{NEG}}}',
      f'{{"process":0,"type":"ok","f":"put","key":"k","value":{NEG}}}',
      '{"process":1,"type":"invoke","f":"get","key":"k","value":null,"final":true,"node":"n1"}',
      '{"process":1,"type":"ok","f":"get","key":"k","value":-9223372036854775810,"final":true,"node":"n1"}'], 1),
    ([SET, f'{{"process":0,"type":"invoke","f":"add","key":"k","value":{NEG}}}',
      f'{{"process":0,"type":"ok","f":"add","key":"k","value":{NEG}}}',
      '{"process":1,"type":"invoke","f":"read","key":"k","value":null,"final":true,"node":"n1"}',
      '{"process":1,"type":"ok","f":"read","key":"k","value":[-9223372036854775810],"final":true,"node":"n1"}'], 1),
])
def test_integers_orjson_cannot_hold_are_exact_anywhere(tmp_path: Path, lines: list[str], verdict: int) -> None:
    """Integers beyond 64 bits inside lists/objects, and below -2**63 anywhere, are compared exactly."""
    assert main(["check", str(_write(tmp_path, lines))]) == verdict


def test_big_time_stays_bad_input_when_the_line_is_reread(tmp_path: Path) -> None:
    """A line re-read for its exact value still refuses a time beyond 64 bits (time must fit)."""
    lines = _uid([f'[{BIG}], "time": {BIG}', "[2]"])
    lines[2] = f'{{"process":0,"type":"ok","f":"generate","value":[{BIG}],"time":{BIG}}}'
    assert main(["check", str(_write(tmp_path, lines))]) == 254


# --- finding 2: a list or object `type` -----------------------------------------------------------


@pytest.mark.parametrize("typ, process", [("[\"ok\"]", "0"), ('{"t":"ok"}', "0"), ('["info"]', '"nemesis"')])
@pytest.mark.parametrize("command", [["check"], ["check", "--checker", "linearizable"], ["report"], ["export"]])
def test_unhashable_type_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], typ: str, process: str, command: list[str]
) -> None:
    """A `type` that is a list or object is bad input naming line and field (exit 254), in every command."""
    p = _write(tmp_path, ['{"process":0,"type":"invoke","f":"put","key":"k","value":1}',
                          f'{{"process":{process},"type":{typ},"f":"put","key":"k","value":1}}'])
    argv = [command[0], str(p), *command[1:]]
    if command[0] == "report":
        argv += ["--out", str(tmp_path / "r.html")]
    if command[0] == "export":
        argv += ["--edn", "--out", str(tmp_path / "out.edn")]
    assert main(argv) == 254
    err = capsys.readouterr().err
    assert "line 2: field 'type'" in err and "Traceback" not in err and "internal error" not in err


# --- finding 3: a time limit that runs out while reading leaves convergence its verdict -----------


def _phantom_history(tmp_path: Path, puts: int) -> Path:
    """A register history of `puts` put pairs (one key each) whose final read is a value nobody wrote."""
    lines = []
    for i in range(puts):
        lines += [f'{{"process":{i},"type":"invoke","f":"put","key":"k{i}","value":"p{i}-1"}}',
                  f'{{"process":{i},"type":"ok","f":"put","key":"k{i}","value":"p{i}-1"}}']
    lines += ['{"process":-1,"type":"invoke","f":"get","key":"k0","value":null,"final":true,"node":"n1"}',
              '{"process":-1,"type":"ok","f":"get","key":"k0","value":"nobody","final":true,"node":"n1"}']
    return _write(tmp_path, lines)


def test_time_limit_while_reading_keeps_the_convergence_verdict(tmp_path: Path) -> None:
    """With both checkers, a limit that runs out while reading still gives convergence's INVALID."""
    from checker.api import CheckOptions, check

    p = _phantom_history(tmp_path, 6000)  # 12,002 lines: the limit is looked at every 8,192 lines
    r = check(p, CheckOptions(checkers=("convergence", "linearizable"), time_limit=1e-6)).results
    assert r["linearizable"]["valid"] == "unknown"
    assert r["valid"] is False
    assert [a["type"] for a in r["anomalies"]] == ["phantom-read"]


def test_time_limit_while_reading_is_said_beside_the_convergence_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary of both checkers says why linearizability is undecided (the limit ran out reading)."""
    p = _phantom_history(tmp_path, 6000)
    assert main(["check", str(p), "--checker", "convergence,linearizable", "--time-limit", "0.000001"]) == 1
    out = capsys.readouterr().out
    assert "phantom-read" in out and "linearizability undecided:" in out and "while reading the history" in out


# --- finding 4: values nested hundreds or thousands of levels deep ---------------------------------


def _nest(depth: int, inner: str = "1", obj: bool = False) -> str:
    return ('{"a":' * depth + inner + "}" * depth) if obj else ("[" * depth + inner + "]" * depth)


@pytest.mark.parametrize("depth", [500, 998])
@pytest.mark.parametrize("obj", [False, True])
@pytest.mark.parametrize("command", ["check", "report"])
def test_deep_echo_values_are_judged(tmp_path: Path, depth: int, obj: bool, command: str) -> None:
    """An echo of a value nested up to the documented 1,000 levels (the line's own object included) is judged:
    equal VALID, different INVALID."""
    same = [ECHO, f'{{"process":0,"type":"invoke","f":"echo","value":{_nest(depth, obj=obj)}}}',
            f'{{"process":0,"type":"ok","f":"echo","value":{_nest(depth, obj=obj)}}}']
    other = same[:2] + [f'{{"process":0,"type":"ok","f":"echo","value":{_nest(depth, "2", obj=obj)}}}']
    extra = ["--out", str(tmp_path / "r.html")] if command == "report" else []
    assert main([command, str(_write(tmp_path, same, "same.jsonl")), *extra]) in (0, None)
    expect_bad = 1  # report exits with the verdict, as check does
    assert main([command, str(_write(tmp_path, other, "other.jsonl")), *extra]) == expect_bad


def test_a_line_nested_past_the_limit_is_one_line_naming_it_whatever_orjson_is(tmp_path: Path,
                                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A value nested 5,000 deep is refused with the limit named (exit 254), the same with an orjson that would
    read it (before 3.10) and one that would refuse it with its own words (3.10 and later)."""
    lines = [ECHO, f'{{"process":0,"type":"invoke","f":"echo","value":{_nest(5000)}}}']
    assert main(["check", str(_write(tmp_path, lines, "deep.jsonl"))]) == 254
    assert "line 2: field '(json)': nested deeper than 1000 levels" in capsys.readouterr().err


@pytest.mark.parametrize("depth", [500, 998])
def test_deep_unique_ids_and_register_writes_are_judged(tmp_path: Path, depth: int) -> None:
    """Deep ids are told apart (or found duplicate), and a deep register write reads back, in both checkers."""
    assert main(["check", str(_write(tmp_path, _uid([_nest(depth), _nest(depth, "2")]), "u.jsonl"))]) == 0
    assert main(["check", str(_write(tmp_path, _uid([_nest(depth), _nest(depth)]), "d.jsonl"))]) == 1
    reg = [f'{{"process":0,"type":"invoke","f":"write","key":"k","value":{_nest(depth)}}}',
           f'{{"process":0,"type":"ok","f":"write","key":"k","value":{_nest(depth)}}}',
           '{"process":1,"type":"invoke","f":"read","key":"k","value":null}',
           f'{{"process":1,"type":"ok","f":"read","key":"k","value":{_nest(depth)}}}']
    p = _write(tmp_path, reg, "r.jsonl")
    assert main(["check", str(p), "--checker", "linearizable"]) == 0
    assert main(["check", str(p)]) in (0, 2)


# --- finding 5: echo and unique-ids ignore a key, whatever its type --------------------------------


@pytest.mark.parametrize("key", ["[1]", '{"a":1}'])
@pytest.mark.parametrize("command", ["check", "report"])
def test_keyless_workloads_ignore_a_list_or_object_key(tmp_path: Path, key: str, command: str) -> None:
    """An echo or unique-ids history whose events carry a list or object key is judged (the key is ignored)."""
    extra = ["--out", str(tmp_path / "r.html")] if command == "report" else []
    echo = [ECHO, f'{{"process":0,"type":"invoke","f":"echo","value":"a","key":{key}}}',
            f'{{"process":0,"type":"ok","f":"echo","value":"b","key":{key}}}']
    uid = [UID, f'{{"process":0,"type":"invoke","f":"generate","value":null,"key":{key}}}',
           f'{{"process":0,"type":"ok","f":"generate","value":1,"key":{key}}}',
           '{"process":1,"type":"invoke","f":"generate","value":null,"key":"k"}',
           '{"process":1,"type":"ok","f":"generate","value":1,"key":"k"}']
    bad = 1  # report exits with the verdict, as check does
    assert main([command, str(_write(tmp_path, echo, "e.jsonl")), *extra]) == bad
    assert main([command, str(_write(tmp_path, uid, "u.jsonl")), *extra]) == bad


# --- finding 6: the set rule and a crash-start whose nodes is not a list ----------------------------


@pytest.mark.parametrize("nodes", ["5", "true", '"n2"', '{"n2": 1}'])
def test_set_rule_reads_crash_nodes_only_from_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nodes: str
) -> None:
    """A crash-start whose value.nodes is not a list names no node (as the register checker does), never crashes."""
    lines = [SET, '{"process":0,"type":"invoke","f":"add","key":"s","value":1,"node":"n1","time":1}',
             '{"process":0,"type":"ok","f":"add","key":"s","value":1,"node":"n1","time":2}',
             f'{{"process":"nemesis","type":"info","f":"crash-start","value":{{"nodes":{nodes}}},"time":3}}',
             '{"process":"nemesis","type":"info","f":"crash-stop","value":null,"time":4}',
             '{"process":9,"type":"invoke","f":"read","key":"s","value":null,"final":true,"node":"n2","time":10}',
             '{"process":9,"type":"ok","f":"read","key":"s","value":[],"final":true,"node":"n2","time":11}']
    assert main(["check", str(_write(tmp_path, lines))]) == 1
    out = capsys.readouterr().out
    assert "lost element 1" in out and "crashed" not in out


# --- finding 7: anomaly lists are capped; counts and the summary say so truthfully -----------------


def test_capped_anomaly_lists_keep_true_counts_and_say_what_was_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """150 echo mismatches and 150 duplicated ids: counts say 150, and the summary says 100 were kept."""
    import json as stdjson

    echo = [ECHO]
    for i in range(150):
        echo += [f'{{"process":{i},"type":"invoke","f":"echo","value":{i}}}',
                 f'{{"process":{i},"type":"ok","f":"echo","value":{i + 1}}}']
    uid = _uid([str(i // 2) for i in range(300)])
    for name, lines, kind in (("e.jsonl", echo, "echo-mismatch"), ("u.jsonl", uid, "duplicate-id")):
        p = _write(tmp_path, lines, name)
        assert main(["check", str(p), "--json"]) == 1
        r = stdjson.loads(capsys.readouterr().out)
        assert r["stats"]["anomaly_counts"] == {kind: 150} and len(r["anomalies"]) == 100
        assert main(["check", str(p)]) == 1
        out = capsys.readouterr().out
        assert "all in the results object" not in out
        assert "... 140 more (the results object, --json, lists the first 100 of 150)" in out
        assert main(["report", str(p), "--out", str(tmp_path / "r.html")]) == 1
        assert "50 more not listed: the checker keeps the first 100 of 150" in (tmp_path / "r.html").read_text()
        capsys.readouterr()


# --- finding 8: messages that say what the line holds ----------------------------------------------


def test_non_boolean_final_in_a_keyless_workload_is_named_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`"final": "yes"` on a generate is reported as the string it is, not as final: true."""
    lines = _uid(["1"])
    lines[2] = '{"process":0,"type":"ok","f":"generate","value":1,"final":"yes"}'
    assert main(["check", str(_write(tmp_path, lines))]) == 254
    err = capsys.readouterr().err
    assert "field 'final'" in err and "'yes'" in err and "got final: true" not in err


def test_invalid_utf8_names_the_byte_and_its_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A \\xff byte in a string is reported at its own column (46, 1-based), not as a surrogate at column 1."""
    p = tmp_path / "h.jsonl"
    p.write_bytes(ECHO.encode() + b'\n{"process":0,"type":"invoke","f":"echo","value":"a"}\n'
                  b'{"process":0,"type":"ok","f":"echo","value":"\xff\xfe"}\n')
    assert main(["check", str(p)]) == 254
    err = capsys.readouterr().err
    assert "line 3" in err and "not valid UTF-8" in err and "0xff" in err and "column 46" in err
    assert "surrogates" not in err


# --- finding 9: an info write whose context covers both a surviving and a vanished sibling ----------


def _sib_info(final: str, p1_after_get: bool = False) -> list[str]:
    p1 = ['{"process":1,"type":"invoke","f":"put","key":"k1","value":"p1-1","node":"n2"}',
          '{"process":1,"type":"ok","f":"put","key":"k1","value":"p1-1","node":"n2"}']
    get_value = '["p0-1"]' if p1_after_get else '["p0-1","p1-1"]'
    lines = [SIB, '{"process":0,"type":"invoke","f":"put","key":"k1","value":"p0-1","node":"n1"}',
             '{"process":0,"type":"ok","f":"put","key":"k1","value":"p0-1","node":"n1"}',
             *([] if p1_after_get else p1),
             '{"process":2,"type":"invoke","f":"get","key":"k1","value":null,"node":"n3"}',
             f'{{"process":2,"type":"ok","f":"get","key":"k1","value":{get_value},"node":"n3"}}',
             '{"process":2,"type":"invoke","f":"put","key":"k1","value":"p2-1","context_from":INDEX,"node":"n3"}',
             '{"process":2,"type":"info","f":"put","key":"k1","value":"p2-1","context_from":INDEX,"node":"n3"}',
             *(p1 if p1_after_get else []),
             '{"process":9,"type":"invoke","f":"get","key":"k1","value":null,"node":"n1","final":true}',
             f'{{"process":9,"type":"ok","f":"get","key":"k1","value":{final},"node":"n1","final":true}}']
    get_ok = next(i for i, line in enumerate(lines) if '"type":"ok","f":"get"' in line) - 1  # header is no event
    return [line.replace("INDEX", str(get_ok)) for line in lines]


@pytest.mark.parametrize("final, p1_after_get, verdict", [
    ('["p0-1"]', False, 1),  # p2 happened: p0-1 superseded yet final; it did not: p1-1 lost
    ('["p1-1"]', False, 1),
    ('["p0-1","p1-1"]', False, 0),  # p2 did not happen
    ('["p2-1"]', False, 0),  # p2 happened
    ('["p0-1","p1-1"]', True, 0),  # p1 came after the get: p2 never covered it
    ('["p2-1","p1-1"]', True, 0),
])
def test_info_write_covering_a_kept_and_a_vanished_sibling(
    tmp_path: Path, final: str, p1_after_get: bool, verdict: int
) -> None:
    """An info write cannot both have happened (a covered sibling survives) and not (a covered ack'ed put vanished)."""
    assert main(["check", str(_write(tmp_path, _sib_info(final, p1_after_get)))]) == verdict


# --- echo is streamed: the mismatches listed are still the first invoked ---------------------------


def test_streamed_echo_lists_the_first_invoked_mismatches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With 101 mismatches, the one invoked first but completed last is listed, the last invoked is not."""
    import json as stdjson

    lines = [ECHO] + [f'{{"process":{i},"type":"invoke","f":"echo","value":{i}}}' for i in range(101)]
    lines += [f'{{"process":{i},"type":"ok","f":"echo","value":{i + 1000}}}' for i in [*range(1, 101), 0]]
    assert main(["check", str(_write(tmp_path, lines)), "--json"]) == 1
    r = stdjson.loads(capsys.readouterr().out)
    sent = [a["sent"] for a in r["anomalies"]]
    assert sent == list(range(100)) and r["stats"]["anomaly_counts"] == {"echo-mismatch": 101}
    assert r["stats"]["ops"] == {"echo": {"ok": 101, "fail": 0, "info": 0}}
