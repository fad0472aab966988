"""``ecocube data``: list, fetch and verify the registered datasets."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from ecocube.errors import DataIntegrityError

app = typer.Typer(help="The checksummed data registry.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """Show every registered dataset with its size, licence and citation."""
    from ecocube.data import list_datasets

    table = Table("name", "files", "size (MB)", "license", "citation", show_lines=False)
    for row in list_datasets().itertuples():
        table.add_row(row.name, str(row.files), f"{row.size_mb:.2f}", row.license, row.citation)
    Console(width=200).print(table)


@app.command()
def fetch(
    names: list[str] = typer.Argument(None, help="Dataset names (default: all)."),
) -> None:
    """Fetch datasets into the cache (ECOCUBE_DATA_DIR), verifying every SHA-256."""
    from ecocube.data import datasets
    from ecocube.data import fetch as fetch_dataset

    console = Console()
    for name in names or list(datasets()):
        folder = fetch_dataset(name, progress=lambda files, n=name: track(list(files), f"{n}"))
        console.print(f"{name}: {folder}")


@app.command()
def verify(
    names: list[str] = typer.Argument(None, help="Dataset names (default: all)."),
    where: str = typer.Option("cache", help="What to check: 'cache' or 'mirror'."),
) -> None:
    """Check cached (or mirror) files against the registry checksums; exit 1 on any problem."""
    from ecocube.data import verify as verify_files

    results = verify_files(names or None, where=where)
    bad = [r for r in results if r.status != "ok"]
    console = Console()
    for r in bad:
        found = f", found {r.found}" if r.found else ""
        console.print(
            f"{r.status}: {r.dataset}/{r.path} at {r.location} (expected {r.expected}{found})"
        )
    console.print(f"{len(results) - len(bad)} ok, {len(bad)} with problems, in {where}")
    if bad:
        raise DataIntegrityError(
            f"{len(bad)} file(s) missing or corrupt in the {where}; run `ecocube data fetch` "
            "to restore them from the mirror"
        )
