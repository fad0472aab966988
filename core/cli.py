"""The ``ecocube`` command line.

Each domain package contributes a sub-command group from its ``_cli`` module; heavy imports
happen inside the commands so ``ecocube --help`` stays fast. Errors are printed as one line
(``error: ...``) with a non-zero exit code; ``--debug`` (before or after the sub-command)
shows the traceback instead. Ctrl-C (SIGINT) and SIGTERM unwind the command like an exception,
so every writer removes its temporary output, and exit with 130 and 143.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from ecocube._cli_data import app as data_app
from ecocube._lazy import missing_dependency
from ecocube._progress import close_all as close_progress
from ecocube.catalog._cli import app as catalog_app
from ecocube.cube._cli import app as cube_app
from ecocube.errors import EcocubeError, EcocubeWarning
from ecocube.models._cli import app as sdm_app
from ecocube.models.explain._cli import app as report_app
from ecocube.models.interactions._cli import app as interactions_app
from ecocube.ocean._cli import app as ocean_app

__all__ = ["app", "main"]

app = typer.Typer(
    name="ecocube",
    help="Data cubes, species distribution models and ocean surrogates from STAC-catalogued data.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")
app.add_typer(catalog_app, name="catalog")
app.add_typer(cube_app, name="cube")
app.add_typer(sdm_app, name="sdm")
app.add_typer(report_app, name="report")
app.add_typer(interactions_app, name="interactions")
app.add_typer(ocean_app, name="ocean")

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(
        False,
        "--debug",
        help=(
            "Show full tracebacks instead of one-line errors. Accepted anywhere on the command "
            "line, e.g. `ecocube cube build ... --debug`."
        ),
        envvar="ECOCUBE_DEBUG",
    ),
) -> None:
    """ecocube: STAC catalog, data cube, SDMs and ocean surrogate."""
    _state["debug"] = debug


@app.command()
def demo(
    out: str = typer.Option("out", "--out", help="Folder for the report (out/index.html)."),
    seed: int = typer.Option(0, "--seed", help="Random seed of every stochastic step."),
    device: str = typer.Option("auto", "--device", help="Torch device: auto, cpu, cuda, cuda:0..."),
    quick: bool = typer.Option(False, "--quick", help="Smaller settings, for smoke tests."),
) -> None:
    """Run the main job on the registry data and write OUT/index.html."""
    from pathlib import Path

    from ecocube.demo import run_demo

    path = run_demo(Path(out), seed=seed, device=device, quick=quick)
    Console().print(f"report written to [bold]{path}[/bold]")


def _reflow(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph of a help text into one line.

    Rich wraps help to the terminal width; the line breaks of a docstring's paragraphs would
    break it a second time, leaving short orphan lines. Paragraphs stay apart; one that starts
    with click's ``\\b`` (keep as is) or holds indented or bulleted lines is left alone.
    """
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        lines = paragraph.split("\n")
        verbatim = paragraph.startswith("\b") or any(
            line.startswith((" ", "- ", "* ")) for line in lines[1:]
        )
        paragraphs.append(paragraph if verbatim else " ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)


def _reflow_help(group: typer.Typer) -> None:
    """Re-flow the help of every command and sub-group of ``group`` (see :func:`_reflow`)."""
    if isinstance(group.info.help, str):
        group.info.help = _reflow(group.info.help)
    for command in group.registered_commands:
        text = command.help if isinstance(command.help, str) else inspect.getdoc(command.callback)
        if text:
            command.help = _reflow(text)
    for sub in group.registered_groups:
        if isinstance(sub.help, str):
            sub.help = _reflow(sub.help)
        if sub.typer_instance is not None:
            _reflow_help(sub.typer_instance)


_reflow_help(app)


def _hoist_debug(args: list[str]) -> list[str]:
    """Move ``--debug`` given after a sub-command to the front, where the root option reads it.

    ``--debug`` is an option of the root command only (sub-commands live in several packages);
    moving it here lets ``ecocube cube build ... --debug`` work like ``ecocube --debug cube
    build ...``. Arguments after a ``--`` separator are left alone.
    """
    end = args.index("--") if "--" in args else len(args)
    if "--debug" not in args[:end]:
        return args
    return ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]


class _Interrupted(BaseException):
    """Raised by the CLI's SIGINT/SIGTERM handler.

    A ``BaseException`` (like ``KeyboardInterrupt``): ``except Exception`` blocks let it pass,
    while ``finally`` and ``except BaseException`` blocks, which remove temporary outputs, run.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum: int, frame: FrameType | None) -> None:
    raise _Interrupted(signum)


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Inside the block, SIGINT and SIGTERM raise :class:`_Interrupted` in the main thread.

    Signals ignored by the parent process (a background job of a shell script) stay ignored,
    and the previous handlers come back at the end, so calling :func:`main` leaves no trace.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may install signal handlers
        return
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if handler is signal.SIG_IGN:
            continue
        previous[signum] = signal.SIG_DFL if handler is None else handler
        signal.signal(signum, _raise_interrupted)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecocube`` console script; returns the exit code.

    Parameters
    ----------
    argv
        Command-line arguments without the program name (default: ``sys.argv[1:]``).
        ``--debug`` may appear anywhere before a ``--`` separator.

    Returns
    -------
    int
        0 on success, 1 for an error, 2 for a usage or internal error, 130 after Ctrl-C
        (SIGINT) and 143 after SIGTERM.
    """
    args = _hoist_debug(list(sys.argv[1:] if argv is None else argv))
    console = Console(stderr=True)
    env_debug = os.environ.get("ECOCUBE_DEBUG", "").lower() in {"1", "true", "yes"}
    debug = args[:1] == ["--debug"] or env_debug
    try:
        with _signals_raise(), _one_line_warnings(console, debug):
            try:
                code = app(args=args, prog_name="ecocube", standalone_mode=False)
            finally:
                close_progress()  # those a failing command left open, before its message
    except _Interrupted as exc:
        if debug:
            console.print_exception()
        console.print("interrupted; nothing written", highlight=False)
        return 128 + exc.signum
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        show = getattr(exc, "show", None)  # click's exceptions print usage and a hint
        if callable(show):
            show()
        else:
            console.print(f"error: {escape(str(exc))}", highlight=False, soft_wrap=True)
        return int(getattr(exc, "exit_code", 2))
    except (EcocubeError, OSError, ValueError, ModuleNotFoundError) as exc:
        if debug:
            raise
        if isinstance(exc, ModuleNotFoundError):  # an extra that is not installed
            missing = missing_dependency(exc, extra=_EXTRA_OF_GROUP.get(_group(args)))
            if missing is None:
                return _internal_error(console, exc)
            exc = missing
        console.print(
            f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 1
    except Exception as exc:
        if debug:
            raise
        return _internal_error(console, exc)
    # typer returns the exit code of a ``typer.Exit`` raised inside a command (130 when a
    # KeyboardInterrupt reached it without the handler above, e.g. outside the main thread)
    return code if type(code) is int else 0


@contextlib.contextmanager
def _one_line_warnings(console: Console, debug: bool) -> Iterator[None]:
    """Show ecocube's own warnings as ``warning: ...`` lines (with ``--debug``: as Python does).

    Python's default format adds the file, line and source of the ``warn`` call, which says
    nothing to a command-line user; other libraries' warnings keep that format.
    """
    if debug:
        yield
        return
    default = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kw: Any) -> None:
        if issubclass(category, EcocubeWarning):
            console.print(
                f"[yellow]warning:[/yellow] {escape(str(message))}", highlight=False, soft_wrap=True
            )
        else:
            default(message, category, *args, **kw)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


#: The extra that each command group needs as a whole.
_EXTRA_OF_GROUP = {"cube": "cube", "sdm": "sdm", "ocean": "ocean", "demo": "all"}


def _group(args: Sequence[str]) -> str:
    """The command group of a command line (its first argument that is not an option)."""
    return next((a for a in args if not a.startswith("-")), "")


def _internal_error(console: Console, exc: BaseException) -> int:
    """Print an unexpected error in one line; return the exit code 2."""
    console.print(
        f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))} "
        "(run again with --debug for the traceback)",
        highlight=False,
        soft_wrap=True,
    )
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
