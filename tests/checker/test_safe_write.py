"""checker.safe_write: a file is replaced whole or not at all, never through a planted link."""

from __future__ import annotations

import os

import pytest

from checker.safe_write import atomic_open, write_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    """An exception inside the block leaves the target's old bytes and no temporary file in the directory."""
    target = tmp_path / "results.json"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half")
        raise RuntimeError("disk went away")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    """A target that is a symlink becomes a regular file; the file it pointed to is untouched."""
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    target = tmp_path / "report.html"
    target.symlink_to(victim)
    write_atomic(target, "<html>")
    assert not target.is_symlink() and target.read_text() == "<html>" and victim.read_text() == "keep\n"


def test_the_new_file_is_as_readable_as_any_new_file(tmp_path):
    """The written file has the umask's usual mode (mkstemp's 0600 is widened), bytes are written as given."""
    mask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "a.bin", b"\x00\x01")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_an_existing_targets_mode_is_kept(tmp_path):
    """A 0600 file replaced by write_atomic stays 0600 (not the umask's 0644): a private report stays private."""
    target = tmp_path / "report.html"
    target.write_text("secret")
    target.chmod(0o600)
    old = os.umask(0o022)
    try:
        write_atomic(target, "new")
    finally:
        os.umask(old)
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_full_device_names_the_target(tmp_path):
    """ENOSPC while writing (an OSError with no file name) is raised naming the target, not nameless."""
    import errno

    target = tmp_path / "report.html"
    target.write_text("old")
    with pytest.raises(OSError) as info, atomic_open(target) as _fh:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert info.value.filename == str(target)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
