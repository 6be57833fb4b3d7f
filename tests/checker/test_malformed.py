"""Malformed history files: each gives exit 254 and a message naming file, line and field."""

from __future__ import annotations

import pytest

from checker.cli import main
from checker.history import HistoryError, read_events

GOOD = [
    b'{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "put", "key": "k", "value": "a"}',
    b'{"index": 1, "time": 2, "process": 0, "type": "ok", "f": "put", "key": "k", "value": "a"}',
]

CASES = {
    "truncated line": (GOOD + [b'{"index": 2, "time": 3, "process": 1, "type": "inv'], 3, "(json)"),
    "time as string": (
        GOOD + [b'{"index": 2, "time": "3", "process": 1, "type": "invoke", "f": "get", "key": "k"}'],
        3,
        "time",
    ),
    "process as float": (
        [b'{"index": 0, "time": 1, "process": 1.5, "type": "invoke", "f": "get", "key": "k"}'],
        1,
        "process",
    ),
    "unknown type": (
        [b'{"index": 0, "time": 1, "process": 1, "type": "done", "f": "get", "key": "k"}'],
        1,
        "type",
    ),
    "missing f": (GOOD[:1] + [b'{"index": 1, "time": 2, "process": 0, "type": "ok", "key": "k"}'], 2, "f"),
    "missing key": (
        [b'{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "put", "value": "a"}'],
        1,
        "key",
    ),
    "key as list": (
        [b'{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "get", "key": [1], "value": null}'],
        1,
        "key",
    ),
    "completion without invocation": (
        GOOD
        + [b'{"index": 2, "time": 3, "process": 7, "type": "ok", "f": "get", "key": "k", "value": null}'],
        3,
        "type",
    ),
    "double invoke": (
        GOOD[:1] + [b'{"index": 1, "time": 2, "process": 0, "type": "invoke", "f": "get", "key": "k"}'],
        2,
        "process",
    ),
    "binary garbage": (GOOD + [b"\x00\xff\xfe\x89PNG\r\n"], 3, "(json)"),
    "not an object": (GOOD + [b"[1, 2, 3]"], 3, "(event)"),
    "index goes backwards": (
        [
            GOOD[0],
            b'{"index": 0, "time": 2, "process": 0, "type": "ok", "f": "put", "key": "k", "value": "a"}',
        ],
        2,
        "index",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_exits_254_naming_line_and_field(name, tmp_path, capsys):
    """The check command rejects the file with exit 254 and names file, line and field."""
    lines, line, field = CASES[name]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(lines) + (b"" if name == "truncated line" else b"\n"))
    assert main(["check", str(path)]) == 254
    err = capsys.readouterr().err
    assert str(path) in err and f"line {line}:" in err and f"field {field!r}" in err
    assert "Traceback" not in err
    with pytest.raises(HistoryError) as info:
        read_events(path)
    assert (info.value.line, info.value.field, info.value.path) == (line, field, str(path))


def test_missing_file_is_254(tmp_path, capsys):
    """A path that does not exist is reported as unreadable input."""
    assert main(["check", str(tmp_path / "nope.jsonl")]) == 254
    assert "no such file" in capsys.readouterr().err


def test_history_without_index_and_time_is_accepted(tmp_path):
    """Histories from other systems may lack index and time; index comes from line order."""
    path = tmp_path / "h.jsonl"
    path.write_bytes(
        b'{"process": 0, "type": "invoke", "f": "write", "value": 3, "time": null}\n'
        b'{"process": 0, "type": "ok", "f": "write", "value": 3}\n\n'
        b'{"process": 1, "type": "invoke", "f": "acquire"}\n'
    )
    events = read_events(path)
    assert [e["index"] for e in events] == [0, 1, 2]


def test_missing_file_is_one_plain_line(tmp_path, capsys):
    """check of a file that does not exist says '<path>: no such file', with no '(whole file): (no field)' filler."""
    from checker.cli import main as check_main

    missing = tmp_path / "nonexistent.jsonl"
    assert check_main(["check", str(missing)]) == 254
    err = capsys.readouterr().err.strip()
    assert err == f"error: {missing}: no such file"


def test_line_errors_still_name_file_line_and_field(tmp_path, capsys):
    """A bad event still names its file, line and field."""
    from checker.cli import main as check_main

    bad = tmp_path / "h.jsonl"
    bad.write_text('{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "put", "key": "k", "value": "v"}\n'
                   '{"index": 1, "time": 2, "process": 0, "type": "okay", "f": "put", "key": "k", "value": "v"}\n')
    assert check_main(["check", str(bad)]) == 254
    err = capsys.readouterr().err
    assert f"{bad}: line 2: field 'type'" in err
