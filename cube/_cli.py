"""``ecocube cube`` command group: build a cube from a STAC catalog, inspect one."""

from __future__ import annotations

from typing import Any

import typer

app = typer.Typer(help="Aligned data cubes (Zarr) and PyTorch loaders.", no_args_is_help=True)


def _floats(text: str, n: int, option: str) -> list[float]:
    from ecocube.errors import InvalidInputError

    try:
        vals = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError as err:
        raise InvalidInputError(f"{option}={text!r} must be {n} comma-separated numbers") from err
    if len(vals) != n:
        raise InvalidInputError(f"{option}={text!r} must be {n} comma-separated numbers")
    return vals


@app.command("build")
def build(
    catalog: str = typer.Option(
        ..., "--catalog", help="Static catalog folder / catalog.json, or STAC API URL."
    ),
    collections: str = typer.Option(
        None, "--collections", help="Comma-separated collection ids (default: all)."
    ),
    bbox: str = typer.Option(
        None,
        "--bbox",
        help="west,south,east,north in degrees (EPSG:4326); needed with --resolution.",
    ),
    crs: str = typer.Option("EPSG:4326", "--crs", help="Target CRS, e.g. EPSG:4326, EPSG:32632."),
    resolution: float = typer.Option(
        None,
        "--resolution",
        help="Pixel size in units of --crs (degrees or metres), > 0. Leave out to keep ocean "
        "items on their own grid (an ensemble is always its own cube).",
    ),
    time: str = typer.Option(
        None, "--time", help="START/END (ISO 8601, '..' for open); 2020 or 2020-03 = whole period."
    ),
    out: str = typer.Option(..., "--out", help="Target Zarr store, e.g. cube.zarr."),
    assets: str = typer.Option(None, "--assets", help="Comma-separated asset keys to keep."),
    composite: str = typer.Option(None, "--composite", help="month or season median composites."),
    mask: str = typer.Option("auto", "--mask", help="auto (SCL/QA cloud masks) or none."),
    ndvi: bool = typer.Option(False, "--ndvi", help="Add NDVI from the red and nir assets."),
    anchor: str = typer.Option(
        None, "--anchor", help="x0,y0 that pixel edges align with (a source raster's origin)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
    register: bool = typer.Option(
        True,
        "--register/--no-register",
        help="Add the cube as a STAC Item to --catalog when it is a static catalog folder.",
    ),
    workers: int = typer.Option(
        0, "--workers", help="Run on a dask LocalCluster with this many workers (0: threads)."
    ),
    dashboard: bool = typer.Option(
        False, "--dashboard", help="Serve the dask dashboard of --workers on 127.0.0.1."
    ),
    max_bytes: str = typer.Option(
        "32GiB",  # DEFAULT_MAX_BYTES, written out: importing it would slow down `ecocube --help`
        "--max-bytes",
        help="Largest cube to build (float32 layers), e.g. 32GiB, 500MB.",
    ),
) -> None:
    """Build an aligned cube from STAC items and write it to Zarr atomically.

    Raster and ocean items go onto the grid of --bbox/--crs/--resolution; without
    --resolution, ocean items (gridded products, or one scenario ensemble) are written on
    their own grid.
    """
    import time as _time
    from pathlib import Path

    from rich.console import Console

    from ecocube._progress import progress
    from ecocube.cube import CubeSpec, build_cube, register_cube, write_cube
    from ecocube.cube._spec import check_cube_size
    from ecocube.cube._zarr import check_cube_target
    from ecocube.errors import CatalogError, InvalidInputError

    console = Console()
    if workers < 0:
        raise InvalidInputError(
            f"--workers={workers} must be >= 0 (0 computes on threads in this process, N >= 1 "
            "on a local dask cluster of N workers)"
        )
    if dashboard and workers == 0:
        raise InvalidInputError(
            "--dashboard needs --workers N >= 1 (the dashboard belongs to the dask cluster)"
        )
    check_cube_target(out, overwrite=overwrite)  # a bad --out fails before the build
    options: dict[str, Any] = {
        "bbox": _floats(bbox, 4, "--bbox") if bbox else None,
        "crs": crs,
        "time": time,
        "collections": collections,
        "assets": assets,
        "composite": composite,
        "indices": ("ndvi",) if ndvi else (),
        "anchor": _floats(anchor, 2, "--anchor") if anchor else None,
    }
    spec = None  # without --resolution: ocean items on their own grid
    if resolution is not None:
        if bbox is None:
            raise InvalidInputError(
                "--resolution needs --bbox west,south,east,north (the area of the grid)"
            )
        spec = CubeSpec.create(**options, resolution=resolution, mask=mask)
        check_cube_size(spec, max_bytes)  # a units slip fails before a cluster starts
    client = None
    cluster = None
    if workers > 0:
        from dask.distributed import Client

        from ecocube.cube._cluster import local_cluster

        cluster = local_cluster(workers, processes=False, dashboard=dashboard)
        client = Client(cluster)
        if dashboard:
            port = cluster.scheduler.http_server.port
            console.print(f"dask dashboard: http://127.0.0.1:{port}/status")
    start = _time.perf_counter()
    try:
        with progress("searching items and stacking") as stages:
            given: dict[str, Any] = {"spec": spec} if spec is not None else options
            ds = build_cube(catalog, **given, max_bytes=max_bytes)
            stages.describe(f"writing {len(ds.data_vars)} variables to {out}")
            spatial = "x" in ds.dims and "y" in ds.dims
            # a non-spatial product (an ensemble's daily series) is read whole series at a time
            chunks = None if spatial else {"time": ds.sizes.get("time", 1)}
            path = write_cube(ds, out, overwrite=overwrite, client=client, chunks=chunks)
        static = Path(catalog).is_dir() and (Path(catalog) / "catalog.json").is_file()
        if register and static and not spatial:
            console.print(
                "not registered: the cube has no x/y grid (a non-spatial ocean product, whose "
                "own item is in the catalog already)"
            )
        elif register and static:
            try:
                item = register_cube(path, catalog)
            except CatalogError as err:
                raise CatalogError(f"the cube was written to {path}, but {err}") from err
            console.print(f"registered STAC item [bold]{item.id}[/bold] in {catalog}")
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    dims = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    console.print(
        f"cube written to [bold]{path}[/bold] ({len(ds.data_vars)} variables; {dims}) "
        f"in {_time.perf_counter() - start:.1f} s"
    )


@app.command("info")
def info(path: str = typer.Argument(..., help="Path of a cube Zarr store.")) -> None:
    """Print the variables, grid and provenance of a cube."""
    import json

    from rich.console import Console

    from ecocube.cube import open_cube

    ds = open_cube(path)
    console = Console()
    console.print(ds)
    sources = json.loads(ds.attrs.get("ecocube:sources", "[]"))
    import rioxarray  # noqa: F401  (the .rio accessor)

    crs = ds.rio.crs if "spatial_ref" in ds.coords else None  # ocean stores have none
    console.print(f"{len(sources)} source assets; CRS {crs if crs else 'none (no CRS)'}")


@app.command("sample")
def sample(
    cube: str = typer.Argument(..., help="Path of a cube Zarr store."),
    points: str = typer.Option(
        ..., "--points", help="Points table (.parquet or .csv) with coordinate columns."
    ),
    out: str = typer.Option(..., "--out", help="Output table (.parquet or .csv)."),
    x_col: str = typer.Option("decimalLongitude", "--x-col", help="Column of x / longitude."),
    y_col: str = typer.Option("decimalLatitude", "--y-col", help="Column of y / latitude."),
    crs: str = typer.Option("EPSG:4326", "--crs", help="CRS of the point coordinates."),
    variables: str = typer.Option(
        None, "--variables", help="Comma-separated variables (default: all (y, x) variables)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Sample cube variables at points; write the points with one column per variable."""
    from pathlib import Path

    import pandas as pd
    from rich.console import Console

    from ecocube._atomic import check_output_file, write_file_atomic
    from ecocube.cube import open_cube
    from ecocube.errors import InvalidInputError

    src, dst = Path(points), Path(out)
    for path, arg in ((src, "--points"), (dst, "--out")):
        if path.suffix not in (".parquet", ".csv"):
            raise InvalidInputError(f"{arg}={str(path)!r} must end in .parquet or .csv")
    check_output_file(dst, overwrite=overwrite)  # a bad --out fails before the work
    table = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src)
    missing = [c for c in (x_col, y_col) if c not in table.columns]
    if missing:
        raise InvalidInputError(
            f"--points {src}: no column(s) {missing}; columns are {list(table.columns)}; "
            "pass --x-col/--y-col"
        )
    coords = {}
    for col in (x_col, y_col):
        coords[col] = pd.to_numeric(table[col], errors="coerce")
        bad = coords[col].isna() & table[col].notna()
        if bad.any():
            raise InvalidInputError(
                f"--points {src}: column {col!r} holds {int(bad.sum())} non-numeric value(s) "
                f"(e.g. {sorted(map(str, table.loc[bad, col].unique()))[:5]}); coordinates "
                "must be numbers"
            )
    ds = open_cube(cube)
    names = [v for v in variables.split(",") if v] if variables else None
    clash = sorted(set(map(str, table.columns)) & set(ds.ecocube.sample_columns(names)))
    if clash:
        raise InvalidInputError(
            f"--points {src}: column(s) {clash} clash with the columns sampling adds (row, col, "
            "inside and one per variable); rename them in the points table, or pick other "
            "--variables"
        )
    values = ds.ecocube.sample_points(
        coords[x_col].to_numpy(), coords[y_col].to_numpy(), crs=crs, variables=names
    )
    result = pd.concat([table.reset_index(drop=True), values.drop(columns=["x", "y"])], axis=1)
    if dst.suffix == ".parquet":
        write_file_atomic(dst, lambda tmp: result.to_parquet(tmp, index=False))
    else:
        write_file_atomic(dst, lambda tmp: result.to_csv(tmp, index=False))
    Console().print(
        f"{int(values['inside'].sum())} of {len(values)} points inside the cube; "
        f"written to [bold]{dst}[/bold]"
    )
