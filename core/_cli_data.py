"""``ecocube data``: list, fetch and verify the registered datasets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import track
from rich.table import Table

from ecocube.errors import DataIntegrityError
from ecocube.settings import ENV_DATA_DIR, ENV_DATA_MIRROR, get_settings

if TYPE_CHECKING:
    from ecocube.data import FileStatus

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
        raise DataIntegrityError(_verify_advice(bad, where))


def _verify_advice(bad: list[FileStatus], where: str) -> str:
    """One-line error for ``data verify``: what failed and the fix that fits ``where``.

    Parameters
    ----------
    bad
        The files that are missing or fail their checksum.
    where
        ``"cache"`` (repaired by fetching from the mirror) or ``"mirror"`` (the source of
        fetches itself, repaired only from the datasets' canonical sources).
    """
    from ecocube.data import dataset

    def listing(status: str) -> str:
        names = [f"{r.dataset}/{r.path}" for r in bad if r.status == status]
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        what = "fail their checksum" if status == "mismatch" else "are missing"
        return f"{len(names)} file(s) {what} ({shown})" if names else ""

    problems = "; ".join(t for t in (listing("mismatch"), listing("missing")) if t)
    names = sorted({r.dataset for r in bad})
    if where == "mirror":
        sources = "; ".join(f"{n}: {dataset(n).source}" for n in names)
        derived = [r for r in bad if dataset(r.dataset).file(r.path).url is None]
        note = (
            f" ({len(derived)} of them were converted or cropped from that source, so take "
            "those from another good copy of the ecocube data)"
            if derived
            else ""
        )
        return (
            f"the mirror {get_settings().data_mirror} ({ENV_DATA_MIRROR}) is damaged: "
            f"{problems}. `ecocube data fetch` copies from this mirror, so it cannot repair it: "
            f"re-sync these files into the mirror from the canonical source ({sources}){note}, "
            f"or point {ENV_DATA_MIRROR} at a good copy of the ecocube data"
        )
    return (
        f"the cache {get_settings().data_dir} ({ENV_DATA_DIR}) is damaged: {problems}; run "
        f"`ecocube data fetch {' '.join(names)}` to restore them from the mirror"
    )
