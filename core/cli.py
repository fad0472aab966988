"""The ``ecocube`` command line.

Each domain package contributes a sub-command group from its ``_cli`` module; heavy imports
happen inside the commands so ``ecocube --help`` stays fast. Errors are printed as one line
(``error: ...``) with a non-zero exit code; ``--debug`` (before or after the sub-command)
shows the traceback instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import typer
from rich.console import Console
from rich.markup import escape

from ecocube._cli_data import app as data_app
from ecocube.catalog._cli import app as catalog_app
from ecocube.cube._cli import app as cube_app
from ecocube.errors import EcocubeError
from ecocube.models._cli import app as sdm_app
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ecocube`` console script; returns the exit code.

    Parameters
    ----------
    argv
        Command-line arguments without the program name (default: ``sys.argv[1:]``).
        ``--debug`` may appear anywhere before a ``--`` separator.
    """
    args = _hoist_debug(list(sys.argv[1:] if argv is None else argv))
    console = Console(stderr=True)
    env_debug = os.environ.get("ECOCUBE_DEBUG", "").lower() in {"1", "true", "yes"}
    debug = args[:1] == ["--debug"] or env_debug
    try:
        app(args=args, prog_name="ecocube", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        console.print("aborted")
        return 130
    except typer.TyperException as exc:  # usage errors: bad option, missing argument...
        exc.show()
        return int(getattr(exc, "exit_code", 2))
    except (EcocubeError, OSError, ValueError) as exc:
        if debug:
            raise
        console.print(
            f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 1
    except Exception as exc:
        if debug:
            raise
        console.print(
            f"[bold red]internal error:[/bold red] {type(exc).__name__}: {escape(str(exc))} "
            "(run again with --debug for the traceback)",
            highlight=False,
            soft_wrap=True,
        )
        return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
