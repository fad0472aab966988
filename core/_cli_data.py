"""``ecocube data``: list, fetch and verify the registered datasets."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ecocube._progress import track
from ecocube.errors import DataIntegrityError
from ecocube.settings import ENV_DATA_DIR, ENV_DATA_MIRROR, get_settings

if TYPE_CHECKING:
    from ecocube.data import FileEntry, FileStatus

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

        def files(entries: Iterable[FileEntry], name: str = name) -> Iterable[FileEntry]:
            return track(list(entries), name, unit="files")

        folder = fetch_dataset(name, progress=files)
        console.print(f"{name}: {folder}")


#: Files named per dataset among its problems; the rest are counted.
_SHOWN = 5


@app.command()
def verify(
    names: list[str] = typer.Argument(None, help="Dataset names (default: all)."),
    where: str = typer.Option("cache", help="What to check: 'cache' or 'mirror'."),
) -> None:
    """Check cached (or mirror) files against the registry checksums.

    Prints one row per dataset (verified, not fetched, incomplete or corrupt) and the files
    with problems. Exits 1 when a file fails its checksum or a fetched dataset misses files;
    datasets that were never fetched are no problem.
    """
    from ecocube.data import verify_datasets

    results = verify_datasets(names or None, where=where)
    console = Console()
    table = Table("dataset", "status", "files ok", box=None, pad_edge=False)
    for ds in results:
        ok = sum(f.status == "ok" for f in ds.files)
        style = {"corrupt": "red", "incomplete": "red", "verified": "green"}.get(ds.status, "")
        status = f"[{style}]{ds.status}[/]" if style else ds.status
        table.add_row(ds.name, status, f"{ok}/{len(ds.files)}")
    console.print(table)
    bad = [f for ds in results for f in ds.problems]
    for ds in results:
        for f in ds.problems:
            if f.status == "mismatch":
                console.print(
                    f"corrupt: {f.dataset}/{f.path} at {f.location} (expected SHA-256 "
                    f"{f.expected}, found {f.found})",
                    highlight=False,
                    soft_wrap=True,
                )
        missing = [f.path for f in ds.problems if f.status == "missing"]
        if missing:
            shown = ", ".join(missing[:_SHOWN])
            more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
            folder = ds.files[0].location.parent if ds.files else ""
            console.print(
                f"missing: {ds.name}: {shown}{more} (in {folder})", highlight=False, soft_wrap=True
            )
    counts = {
        state: sum(ds.status == state for ds in results)
        for state in ("verified", "not fetched", "incomplete", "corrupt")
    }
    summary = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    settings = get_settings()
    root = settings.data_dir if where == "cache" else settings.data_mirror
    console.print(
        f"{len(results)} dataset(s) in the {where} {root}: {summary}",
        highlight=False,
        soft_wrap=True,
    )
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
