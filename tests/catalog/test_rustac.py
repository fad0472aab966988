"""The ``rustac serve`` process (ecocube.catalog._rustac): what its command line shows."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

import pytest

from ecocube.catalog._rustac import PasswordOnCommandLineWarning, start_rustac, stop_process
from tests.catalog._http import free_port

pytestmark = pytest.mark.network


def _children_cmdlines() -> list[list[str]]:
    """The command lines of this process's children, as ``ps`` shows them to any user."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            out.append([a.decode() for a in raw.split(b"\0") if a])
    return out


def test_the_served_database_dsn_on_rustacs_command_line_has_no_password(stac_api: str) -> None:
    rustac = [c for c in _children_cmdlines() if "serve" in c and "--pgstac" in c]
    assert rustac, "the stac_api fixture runs rustac serve as a child of this process"
    for cmdline in rustac:
        dsn = cmdline[cmdline.index("--pgstac") + 1]
        assert dsn.startswith("postgresql://") and urllib.parse.urlsplit(dsn).password is None


def test_a_dsn_with_a_password_warns_that_ps_shows_it(tmp_path: Path) -> None:
    bind = f"127.0.0.1:{free_port()}"
    dsn = "postgresql://someone:s3cret@127.0.0.1:1/nothing"  # rustac connects lazily
    with pytest.warns(PasswordOnCommandLineWarning, match=r"shows to every local user \(ps\)"):
        proc = start_rustac(
            dsn, public_url=f"http://{bind}", bind=bind, log=tmp_path / "log", timeout=30
        )
    try:
        assert any("s3cret" in " ".join(c) for c in _children_cmdlines())  # why it warns
    finally:
        stop_process(proc)
    assert proc.poll() is not None
