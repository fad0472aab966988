"""``ecocube catalog`` command group: build, validate, serve and search."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="STAC catalog: build, validate, serve and search.", no_args_is_help=True)


@app.command()
def build(
    out: Path = typer.Option(..., "--out", help="Folder to write the catalog into."),
    datasets: list[str] = typer.Option(
        None, "--dataset", help="Registry dataset to include (repeatable; default: all)."
    ),
) -> None:
    """Build a self-contained static STAC catalog of the registry datasets."""
    import time

    from rich.console import Console

    from ecocube._progress import track
    from ecocube.catalog._build import build_catalog

    start = time.perf_counter()
    catalog = build_catalog(
        out,
        datasets or None,
        progress=lambda fams: track(list(fams), "catalog", unit="collections"),
    )
    n_col = len(list(catalog.get_children()))
    n_items = sum(1 for _ in catalog.get_items(recursive=True))
    Console().print(
        f"wrote {n_col} collections, {n_items} items to {out / 'catalog.json'} "
        f"in {time.perf_counter() - start:.1f} s"
    )


@app.command()
def validate(
    directory: Path = typer.Argument(..., help="Catalog folder (holding catalog.json)."),
    no_checksums: bool = typer.Option(
        False, "--no-checksums", help="Skip recomputing the asset SHA-256 checksums."
    ),
) -> None:
    """Validate every catalog, collection and item offline; exit 1 if any is invalid."""
    from rich.console import Console

    from ecocube.catalog._validate import validate_catalog
    from ecocube.errors import CatalogError

    problems = validate_catalog(directory, check_checksums=not no_checksums)
    for p in problems:
        typer.echo(str(p))  # one unwrapped line per problem, easy to grep
    if problems:
        files = len({p.path for p in problems})
        raise CatalogError(f"{len(problems)} problem(s) in {files} file(s) of {directory}")
    Console().print(f"{directory}: valid")


@app.command()
def serve(
    directory: Path = typer.Argument(..., help="Catalog folder (holding catalog.json)."),
    host: str = typer.Option("127.0.0.1", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(7822, help="TCP port (0 picks a free one)."),
    public: bool = typer.Option(
        False,
        "--public",
        help="Allow a --host beyond loopback: the API has no authentication; assets are "
        "served under /assets/.",
    ),
) -> None:
    """Serve the catalog as a STAC API (pgstac + rustac) until interrupted with Ctrl-C."""
    import signal
    import threading
    import warnings

    from rich.console import Console

    from ecocube.catalog._server import PublicServerWarning, serve_catalog

    console = Console()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PublicServerWarning)
        with serve_catalog(directory, host=host, port=port, public=public) as url:
            for w in caught:
                typer.echo(f"warning: {w.message}", err=True)
            console.print(f"STAC API at {url} (Ctrl-C to stop)")
            stop.wait()
    console.print("stopping: server shut down, database dropped")


@app.command()
def search(
    url: str = typer.Option(..., "--url", help="STAC API landing page URL."),
    bbox: str = typer.Option(None, help="minx,miny,maxx,maxy in degrees."),
    datetime: str = typer.Option(None, help="Instant or interval, e.g. 2020-01-01/2020-03-31."),
    collections: str = typer.Option(None, help="Comma-separated collection ids."),
    ids: str = typer.Option(None, help="Comma-separated item ids."),
    filter: str = typer.Option(None, "--filter", help="CQL2 text, e.g. 'eo:cloud_cover < 10'."),
    limit: int = typer.Option(100, help="Page size asked from the server."),
    max_items: int = typer.Option(None, "--max-items", help="Stop after this many items."),
    max_retries: int = typer.Option(
        3, help="Retries on connection errors and 5xx answers (with backoff)."
    ),
    timeout: float = typer.Option(
        30.0, "--timeout", help="Seconds to wait for the connection and for each answer."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the ItemCollection as JSON."),
) -> None:
    """Search a STAC API (local or public) and print a table of items or JSON."""
    import json

    from rich.console import Console
    from rich.table import Table

    from ecocube.catalog._search import RetryPolicy
    from ecocube.catalog._search import search as run_search
    from ecocube.errors import InvalidInputError

    if max_retries < 0:
        raise InvalidInputError(
            f"--max-retries {max_retries} is negative; give 0 or more (0 disables retries)"
        )
    if not timeout > 0:
        raise InvalidInputError(f"--timeout {timeout:g} must be a number of seconds > 0")
    if limit < 1:
        raise InvalidInputError(f"--limit {limit} must be at least 1 (page size, up to 10000)")
    if max_items is not None and max_items < 1:
        raise InvalidInputError(f"--max-items {max_items} must be at least 1 (omit it for all)")
    items = run_search(
        url,
        bbox=bbox,
        datetime=datetime,
        collections=collections,
        ids=ids,
        filter=filter,
        limit=limit,
        max_items=max_items,
        retry=RetryPolicy(max_retries=max_retries, timeout=timeout),
    )
    if as_json:
        typer.echo(json.dumps(items.to_dict(transform_hrefs=False), indent=1))
        return
    table = Table("id", "collection", "datetime", "cloud cover (%)")
    for item in items:
        p = item.properties
        when = p.get("datetime") or f"{p.get('start_datetime')}/{p.get('end_datetime')}"
        cc = p.get("eo:cloud_cover")
        table.add_row(item.id, item.collection_id or "", when, "" if cc is None else f"{cc:.2f}")
    console = Console(width=160)
    console.print(table)
    console.print(f"{len(items)} item(s)")
