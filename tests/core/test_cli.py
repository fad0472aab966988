"""The ``ecocube`` entry point: help everywhere, one-line errors, exit codes, --debug."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer

from ecocube import cli
from ecocube.cli import app, main
from ecocube.errors import DatasetNotFoundError

from ..conftest import requires_mirror


def _walk(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        if hasattr(cmd, "commands"):
            out += _walk(cmd, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    root = typer.main.get_command(app)
    paths = _walk(root)
    assert ("data", "list") in paths and ("demo",) in paths
    for path in paths:
        assert main([*path, "--help"]) == 0, path
        text = capsys.readouterr().out
        assert "Usage:" in text, path


def test_data_list_prints_every_dataset(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("nceas", "chelsa_costa_rica", "ocean_north_atlantic", "interactions_kopelke"):
        assert name in out


def test_errors_are_one_line_with_nonzero_exit(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "not-a-dataset"]) == 1
    err = capsys.readouterr().err
    assert "error: unknown dataset 'not-a-dataset'" in " ".join(err.split())
    assert "Traceback" not in err


def test_debug_flag_shows_the_exception() -> None:
    with pytest.raises(DatasetNotFoundError):
        main(["--debug", "data", "fetch", "not-a-dataset"])


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_console_script_runs_as_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ecocube", "--help"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    )
    assert result.returncode == 0 and "catalog" in result.stdout


def test_debug_flag_is_accepted_after_the_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DatasetNotFoundError):
        main(["data", "fetch", "not-a-dataset", "--debug"])
    assert main(["data", "list", "--debug"]) == 0
    assert "No such option" not in capsys.readouterr().err
    # after a `--` separator it is an argument, not the option
    assert main(["data", "fetch", "--", "--debug"]) == 1
    assert "unknown dataset '--debug'" in capsys.readouterr().err


def test_help_says_where_debug_goes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "Accepted anywhere on the command line" in text


def _corrupt_copy(src: Path, dst: Path) -> None:
    import shutil

    shutil.copytree(src, dst)
    target = dst / "bradypus.csv.gz"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes() + b"tampered")


@requires_mirror
def test_verify_mirror_advises_resync_from_the_canonical_source(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ecocube import data

    _corrupt_copy(mirror / "sdm_elapid", tmp_path / "mirror" / "sdm_elapid")
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "verify", "sdm_elapid", "--where", "mirror"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 file(s) fail their checksum (sdm_elapid/bradypus.csv.gz)" in err
    assert "re-sync these files into the mirror from the canonical source" in err
    assert data.dataset("sdm_elapid").source in err
    assert "restore them from the mirror" not in err


@requires_mirror
def test_verify_cache_advises_fetch(
    tmp_path: Path,
    mirror: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _corrupt_copy(mirror / "sdm_elapid", tmp_path / "cache" / "sdm_elapid")
    monkeypatch.setenv("ECOCUBE_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("ECOCUBE_DATA_DIR", str(tmp_path / "cache"))
    assert main(["data", "verify", "sdm_elapid"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "1 file(s) fail their checksum (sdm_elapid/bradypus.csv.gz)" in err
    assert "run `ecocube data fetch sdm_elapid` to restore them from the mirror" in err


# -- Ctrl-C and SIGTERM ---------------------------------------------------------------------

#: Runs ``ecocube`` with xarray's writers slowed down: after a writer has written the temporary
#: output, it writes that path to $READY and sleeps, so that a signal arrives mid-write.
_SLOW_WRITES = """
import os, sys, time
from pathlib import Path

import xarray as xr


def slowed(write):
    def wrapper(self, target, *args, **kwargs):
        out = write(self, target, *args, **kwargs)
        Path(os.environ["READY"]).write_text(str(target))
        time.sleep(300)
        return out

    return wrapper


if __name__ == "__main__":  # not in the worker processes an ensemble spawns
    xr.Dataset.to_netcdf = slowed(xr.Dataset.to_netcdf)
    xr.Dataset.to_zarr = slowed(xr.Dataset.to_zarr)

    from ecocube.cli import main

    sys.exit(main(sys.argv[1:]))
"""


def _sigint_not_ignored() -> None:
    """In the child: a shell's background job ignores SIGINT, and ecocube then keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "code", "command", "name"),
    [
        (signal.SIGINT, 130, ["ocean", "simulate", "--layers", "5"], "run.nc"),
        (
            signal.SIGTERM,
            143,
            [
                "ocean",
                "ensemble",
                "--n",
                "2",
                "--batch-size",
                "2",
                "--workers",
                "1",
                "--layers",
                "5",
            ],
            "ens.zarr",
        ),
    ],
)
def test_signal_mid_write_exits_128_plus_signal_and_leaves_no_temporary(
    tmp_path: Path, signum: int, code: int, command: list[str], name: str
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("distributed")
    script = tmp_path / "slow_writes.py"
    script.write_text(_SLOW_WRITES)
    ready = tmp_path / "ready"
    out = tmp_path / "out" / name
    out.parent.mkdir()
    proc = subprocess.Popen(
        [sys.executable, str(script), *command, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "READY": str(ready), "OMP_NUM_THREADS": "1"},
        preexec_fn=_sigint_not_ignored,
    )
    try:
        deadline = time.monotonic() + 600
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the command never reached its write"
            time.sleep(0.05)
        temporary = Path(ready.read_text())
        assert temporary.parent == out.parent and temporary.exists()
        assert temporary.name.startswith(f".{name}.tmp-{proc.pid}-")
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, stderr
    assert stderr.splitlines()[-1] == "interrupted; nothing written"
    assert "Traceback" not in stderr and "wrote" not in stdout
    assert sorted(p.name for p in out.parent.iterdir()) == []  # no output, no .NAME.tmp-*


def test_signals_raise_restores_the_handlers_and_keeps_ignored_signals() -> None:
    from ecocube.cli import _Interrupted, _signals_raise

    before = signal.getsignal(signal.SIGTERM)
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with pytest.raises(_Interrupted) as info, _signals_raise():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler interrupts this at once
        assert info.value.signum == signal.SIGTERM
    finally:
        signal.signal(signal.SIGINT, ignored)
    assert signal.getsignal(signal.SIGTERM) == before


def test_exit_code_of_a_command_is_returned(capsys: pytest.CaptureFixture[str]) -> None:
    """A ``typer.Exit`` (and a KeyboardInterrupt typer turns into one) keeps its exit code."""
    sub = typer.Typer()

    @sub.command()
    def stop(code: int) -> None:
        raise typer.Exit(code)

    @sub.command()
    def interrupt() -> None:
        raise KeyboardInterrupt

    app.add_typer(sub, name="testing-exit")
    try:
        assert main(["testing-exit", "stop", "3"]) == 3
        assert main(["testing-exit", "interrupt"]) == 130
    finally:
        app.registered_groups.pop()


def test_a_missing_extra_is_named_with_its_install_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An optional dependency missing deep inside a command: one line naming the extra, exit 1."""
    sub = typer.Typer()

    @sub.command()
    def needs(module: str) -> None:
        raise ModuleNotFoundError(f"No module named {module!r}", name=module)

    app.add_typer(sub, name="testing-extra")
    try:
        assert main(["testing-extra", "needs", "torch"]) == 1
        err = capsys.readouterr().err
        assert "pip install 'ecocube[cube]'" in err and "'torch'" in err
        assert main(["testing-extra", "needs", "pypgstac.db"]) == 1
        assert "pip install 'ecocube[serve]'" in capsys.readouterr().err
        # a command group asks for the extra it needs as a whole
        monkeypatch.setitem(cli._EXTRA_OF_GROUP, "testing-extra", "ocean")
        assert main(["testing-extra", "needs", "torch"]) == 1
        assert "'torch' is required" in (err := capsys.readouterr().err)
        assert "pip install 'ecocube[ocean]'" in err
        monkeypatch.delitem(cli._EXTRA_OF_GROUP, "testing-extra")
        # a module that no extra provides is a bug, not a missing extra
        assert main(["testing-extra", "needs", "not_a_dependency"]) == 2
        assert "internal error: ModuleNotFoundError" in capsys.readouterr().err
    finally:
        app.registered_groups.pop()


def test_ecocube_warnings_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An EcocubeWarning prints as ``warning: ...`` without Python's file/line/source lines."""
    import warnings

    from ecocube.errors import EcocubeWarning

    sub = typer.Typer()

    @sub.command()
    def warn(kind: str) -> None:
        category = EcocubeWarning if kind == "ours" else RuntimeWarning
        warnings.warn(
            f"{kind} problem with a long explanation " + "x" * 120, category, stacklevel=1
        )

    app.add_typer(sub, name="testing-warn")
    try:
        assert main(["testing-warn", "warn", "ours"]) == 0
        err = capsys.readouterr().err
        assert err.startswith("warning: ours problem") and err.count("\n") == 1
        assert "warnings.warn" not in err and ".py:" not in err
        with pytest.warns(RuntimeWarning, match="theirs problem"):  # others' pass on as they are
            assert main(["testing-warn", "warn", "theirs"]) == 0
    finally:
        app.registered_groups.pop()


# -- help ----------------------------------------------------------------------------------


def _orphans(text: str, width: int) -> list[str]:
    """Lines of the description paragraphs that end before the next word would have to wrap.

    Rich wraps greedily: a line only ends where the next word does not fit. A hard line break
    left in a docstring paragraph ends a line early and leaves a short orphan line after it.
    """
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("Usage:")) + 1
    end = next((i for i, line in enumerate(lines) if line.lstrip().startswith("╭")), len(lines))
    found = []
    for line, following in zip(lines[start : end - 1], lines[start + 1 : end], strict=True):
        if not line.strip() or not following.strip():
            continue
        # one space of padding on both sides of the panel
        if len(line.rstrip()) + 1 + len(following.split()[0]) <= width - 1:
            found.append(f"{line.strip()!r} / {following.strip()!r}")
    return found


@pytest.mark.parametrize(
    "command",
    [("sdm", "fit"), ("sdm", "benchmark", "nceas"), ("data", "verify"), ("cube", "build"), ()],
)
def test_help_paragraphs_are_wrapped_once(
    command: tuple[str, ...], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for width in (100, 72):
        monkeypatch.setenv("COLUMNS", str(width))
        assert main([*command, "--help"]) == 0
        text = capsys.readouterr().out
        assert max(len(line) for line in text.splitlines()) <= width
        assert _orphans(text, width) == [], (command, width)
