"""Output folders are replaced atomically and only when they are outputs of the same kind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ecocube._atomic import check_replaceable, swap_into_place
from ecocube.errors import InvalidInputError


def test_check_replaceable(tmp_path: Path) -> None:
    check_replaceable(tmp_path / "absent", markers=("m.json",), what="a thing")
    (tmp_path / "empty").mkdir()
    check_replaceable(tmp_path / "empty", markers=("m.json",), what="a thing")
    (tmp_path / "ours").mkdir()
    (tmp_path / "ours" / "m.json").write_text("{}")
    (tmp_path / "ours" / "extra").write_text("")
    check_replaceable(tmp_path / "ours", markers=("m.json",), what="a thing")
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("")
    with pytest.raises(InvalidInputError, match=r"'.*theirs' exists and is not a thing"):
        check_replaceable(tmp_path / "theirs", markers=("m.json",), what="a thing")
    (tmp_path / "f").write_text("")
    with pytest.raises(InvalidInputError, match="is a file, not a thing"):
        check_replaceable(tmp_path / "f", markers=("m.json",), what="a thing")


def test_swap_into_place_replaces_and_restores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out"
    new = tmp_path / ".new"
    new.mkdir()
    (new / "v").write_text("1")
    assert swap_into_place(new, target) == target and (target / "v").read_text() == "1"
    new.mkdir()
    (new / "v").write_text("2")
    swap_into_place(new, target)
    assert (target / "v").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old folder is gone
    # a failed rename puts the previous folder back under its name
    new.mkdir()
    (new / "v").write_text("3")
    real = os.replace

    def flaky(src: object, dst: object) -> None:
        if Path(src) == new:
            raise OSError("disk full")
        real(src, dst)

    monkeypatch.setattr("ecocube._atomic.os.replace", flaky)
    with pytest.raises(OSError, match="disk full"):
        swap_into_place(new, target)
    assert (target / "v").read_text() == "2"


def test_check_output_file_refuses_folders_missing_parents_and_unasked_overwrites(tmp_path):
    from ecocube._atomic import check_output_file

    (tmp_path / "folder").mkdir()
    with pytest.raises(InvalidInputError, match="is a folder; give a file path"):
        check_output_file(tmp_path / "folder")
    (tmp_path / "afile").write_text("")
    with pytest.raises(InvalidInputError, match="afile' is a file, not a folder"):
        check_output_file(tmp_path / "afile" / "sub" / "out.csv")
    # missing folders are fine: write_file_atomic creates them
    assert check_output_file(tmp_path / "missing" / "out.csv") == tmp_path / "missing" / "out.csv"
    (tmp_path / "old.csv").write_text("keep")
    with pytest.raises(InvalidInputError, match="pass --overwrite"):
        check_output_file(tmp_path / "old.csv", overwrite=False)
    assert check_output_file(tmp_path / "old.csv") == tmp_path / "old.csv"
    assert check_output_file(tmp_path / "new.csv", overwrite=False) == tmp_path / "new.csv"


def test_write_file_atomic_keeps_the_old_file_and_no_temporary_on_failure(tmp_path):
    from ecocube._atomic import write_file_atomic

    target = tmp_path / "report.json"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_file_atomic(target, fail)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    write_file_atomic(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]
    deep = write_file_atomic(tmp_path / "a" / "b" / "r.json", lambda tmp: tmp.write_text("x"))
    assert deep.read_text() == "x"


def _dead_pid() -> int:
    """The id of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_temporary_sibling_names_and_removes_on_success_and_on_interrupt(tmp_path: Path) -> None:
    import re

    from ecocube._atomic import temporary_sibling

    target = tmp_path / "sub" / "cube.zarr"
    with temporary_sibling(target, directory=True) as tmp:
        assert tmp.parent == target.parent and tmp.is_dir()
        assert re.fullmatch(rf"\.cube\.zarr\.tmp-{os.getpid()}-[0-9a-f]{{8}}", tmp.name)
        (tmp / "chunk").write_text("x")
        swap_into_place(tmp, target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["cube.zarr"]
    for interrupt in (KeyboardInterrupt, SystemExit, RuntimeError):
        with pytest.raises(interrupt), temporary_sibling(target, directory=True) as tmp:
            (tmp / "half").write_text("half")
            raise interrupt()
        assert sorted(p.name for p in target.parent.iterdir()) == ["cube.zarr"], interrupt
    with pytest.raises(KeyboardInterrupt):
        with temporary_sibling(tmp_path / "a.nc", directory=False, suffix=".nc") as tmp:
            assert tmp.name.endswith(".nc") and not tmp.exists()
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert not list(tmp_path.glob(".a.nc.tmp-*"))


def test_stale_temporaries_of_dead_processes_are_swept_live_ones_kept(tmp_path: Path) -> None:
    from ecocube._atomic import sweep_stale_siblings, temporary_sibling

    target = tmp_path / "ens.zarr"
    dead_dir = tmp_path / f".ens.zarr.tmp-{_dead_pid()}-0123abcd"
    dead_dir.mkdir()
    (dead_dir / "chunk").write_text("x")
    dead_file = tmp_path / f".ens.zarr.tmp-{_dead_pid()}-89abcdef.nc"
    dead_file.write_text("x")
    live = tmp_path / f".ens.zarr.tmp-{os.getpid()}-0123abcd"  # e.g. another thread's write
    live.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        other_live = tmp_path / f".ens.zarr.tmp-{sleeper.pid}-0123abcd"
        other_live.mkdir()
        not_ours = tmp_path / f".ens.zarr.old.tmp-{_dead_pid()}-0123abcd"  # another target's
        not_ours.mkdir()
        with temporary_sibling(target, directory=False) as tmp:
            tmp.write_text("new")
            os.replace(tmp, target)
        assert not dead_dir.exists() and not dead_file.exists()
        assert live.is_dir() and other_live.is_dir() and not_ours.is_dir()
        assert sweep_stale_siblings(target) == []
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sweep_stale_siblings(target) == [other_live]
