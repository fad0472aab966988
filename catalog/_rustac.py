"""The ``rustac serve --pgstac`` process behind the STAC API.

rustac reads its pgstac connection string from its command line only (no environment variable,
no password file), and a command line is readable by every local user (``ps``,
``/proc/<pid>/cmdline``). The setup of ``scripts/services.sh`` therefore needs no password:
the role logs in through the local Unix socket with peer authentication. A DSN that carries a
password (a server of your own, through ``ECOCUBE_PGSTAC_DSN``) still works, with a
:class:`PasswordOnCommandLineWarning`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from pathlib import Path

from ecocube.errors import EcocubeWarning, MissingDependencyError, StacApiError

__all__ = ["PasswordOnCommandLineWarning", "start_rustac", "stop_process"]


class PasswordOnCommandLineWarning(EcocubeWarning):
    """The pgstac DSN holds a password, which rustac's command line shows to local users."""


def _rustac() -> str:
    exe = Path(sys.executable).with_name("rustac")
    found = str(exe) if exe.is_file() else shutil.which("rustac")
    if not found:
        raise MissingDependencyError("the `rustac` command is missing; pip install 'rustac>=0.9'")
    return found


def start_rustac(
    dsn: str, *, public_url: str, bind: str, log: Path, timeout: float
) -> subprocess.Popen[bytes]:
    """Start ``rustac serve`` on pgstac database ``dsn`` and wait until it answers.

    Parameters
    ----------
    dsn
        ``postgresql://`` URL of the database; one with a password issues a
        :class:`PasswordOnCommandLineWarning`.
    public_url
        Base of the hrefs rustac writes in its responses (the proxy's URL).
    bind
        ``host:port`` where rustac listens (loopback; reached only through the proxy).
    log
        File that receives rustac's output.
    timeout
        Seconds to wait for ``/conformance`` to answer.

    Returns
    -------
    subprocess.Popen
        The running process (stop it with :func:`stop_process`).

    Raises
    ------
    MissingDependencyError
        The ``rustac`` command is not installed.
    StacApiError
        rustac exits early or does not answer within ``timeout``.
    """
    if urllib.parse.urlsplit(dsn).password:
        warnings.warn(
            "the pgstac DSN holds a password, which rustac's command line shows to every local "
            "user (ps); use a role without password that logs in through the Unix socket (peer "
            "authentication, as scripts/services.sh sets up)",
            PasswordOnCommandLineWarning,
            stacklevel=4,
        )
    cmd = [_rustac(), "serve", "--pgstac", dsn, "--addr", public_url, "--bind", bind]
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the caller, which stops it
        )
    try:
        _wait_ready(f"http://{bind}", proc, log, timeout)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:]
            raise StacApiError(f"rustac serve exited with code {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url + "/conformance", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise StacApiError(f"the STAC API at {url} did not answer within {timeout:.0f} s (log: {log})")


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` (kill it after 5 s) and wait for it."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
