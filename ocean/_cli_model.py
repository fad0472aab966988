"""Commands of ``ecocube ocean`` (registered onto the group by ``register``): the full model."""

from __future__ import annotations

from pathlib import Path

import typer

from ecocube.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``ecocube ocean`` group."""
    app.command("ensemble")(ensemble)
    app.command("simulate")(simulate_cmd)
    app.command("ingest")(ingest_cmd)


def ensemble(
    n: int = typer.Option(32, "--n", help="Number of Latin-hypercube scenarios."),
    years: int = typer.Option(1, "--years", help="Simulated years per scenario."),
    out: Path = typer.Option(..., "--out", help="Target Zarr store (e.g. ens.zarr)."),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Dask scheduler address (default: a local cluster of worker processes).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the scenario sampler."),
    batch_size: int = typer.Option(16, "--batch-size", help="Scenarios per Dask task."),
    device: str = typer.Option("cpu", "--device", help="Torch device of the model."),
    workers: int = typer.Option(
        2, "--workers", help="Worker processes of the local cluster (one thread each)."
    ),
    dt: float = typer.Option(10800.0, "--dt", help="Model time step (s, >= 1), divides 86400."),
    n_layers: int | None = typer.Option(
        None, "--layers", help="Layers (default: 20 for the column, 3 for the basin)."
    ),
    physics: str = typer.Option(
        "column", "--physics", help="Physical scheme: column or multilayer (an x-z basin)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
    dashboard: bool = typer.Option(
        False, "--dashboard", help="Serve the local cluster's Dask dashboard on 127.0.0.1."
    ),
    catalog: Path | None = typer.Option(
        None,
        "--catalog",
        help="Static catalog folder to register the store in (collection ocean-ensembles).",
    ),
) -> None:
    """Run an ensemble of the full ocean model on Dask and write a CF Zarr cube + STAC item."""
    import time

    from ecocube.ocean.ensemble import check_ensemble_target, run_ensemble

    if workers < 1:
        raise InvalidInputError(
            f"--workers {workers}: the local cluster needs at least one worker process; "
            "pass --workers 1 or more"
        )
    check_ensemble_target(out, overwrite=overwrite)  # a bad --out fails before the ensemble
    if catalog is not None:  # and so does a bad --catalog
        from ecocube.catalog._ocean_items import check_static_catalog

        check_static_catalog(catalog, option="--catalog")
    start = time.perf_counter()
    path = run_ensemble(
        n,
        out,
        years=years,
        seed=seed,
        batch_size=batch_size,
        scheduler=scheduler,
        n_workers=workers,
        device=device,
        dt=dt,
        n_layers=n_layers,
        physics=physics,
        overwrite=overwrite,
        dashboard=dashboard,
        catalog=catalog,
    )
    wall = time.perf_counter() - start
    typer.echo(
        f"wrote {path} and {path.with_name(path.stem + '.item.json')}: "
        f"{n} scenarios x {years} yr in {wall:.1f} s"
    )
    if catalog is not None:
        from ecocube.catalog._cube_items import default_item_id

        typer.echo(f"registered item {default_item_id(path)} in {catalog} (ocean-ensembles)")


def ingest_cmd(
    item: str = typer.Argument(
        ..., help="Id of the source item, e.g. glorys12-physics-2012-north-atlantic."
    ),
    out: Path = typer.Option(..., "--out", help="Target Zarr store (e.g. glorys.zarr)."),
    catalog: str | None = typer.Option(
        None,
        "--catalog",
        help="Static catalog folder or STAC API URL holding the item (default: the registry's "
        "ocean items); a static catalog also receives the store's item (see --register).",
    ),
    variables: str | None = typer.Option(
        None, "--variables", help="Comma-separated canonical or native names (default: all)."
    ),
    register: bool = typer.Option(
        True,
        "--register/--no-register",
        help="Register the store in --catalog when it is a static catalog folder.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
) -> None:
    """Ingest an ocean source file, read through its STAC item, into a CF Zarr store."""
    from ecocube.cube._zarr import check_cube_target
    from ecocube.ocean.ingest import find_item, ingest_item

    check_cube_target(out, overwrite=overwrite)  # a bad --out fails before the reading
    static = catalog is not None and "://" not in catalog and Path(catalog).is_dir()
    target = catalog if (register and static) else None
    source = find_item(item, catalog)
    names = [v for v in variables.split(",") if v] if variables else None
    path = ingest_item(source, out, variables=names, overwrite=overwrite, catalog=target)
    typer.echo(f"wrote {path} from item {source.id}")
    if target is not None:
        from ecocube.catalog._cube_items import default_item_id

        typer.echo(f"registered item {default_item_id(path)} in {target}")


def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Output netCDF file (e.g. run.nc)."),
    years: int = typer.Option(1, "--years", help="Simulated years."),
    n: int = typer.Option(1, "--n", help="Scenarios (1: the reference scenario)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scenario sampler."),
    device: str = typer.Option("cpu", "--device", help="Torch device of the model."),
    dt: float = typer.Option(10800.0, "--dt", help="Model time step (s, >= 1), divides 86400."),
    n_layers: int | None = typer.Option(
        None, "--layers", help="Layers (default: 20 for the column, 3 for the basin)."
    ),
    physics: str = typer.Option(
        "column", "--physics", help="Physical scheme: column or multilayer (an x-z basin)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing file."),
) -> None:
    """Run the full model for the reference (or N sampled) scenario(s) and write netCDF.

    Missing folders of --out are created.
    """
    import torch

    from ecocube._atomic import check_output_file, write_file_atomic
    from ecocube.ocean.scenarios import default_scenario, sample_scenarios
    from ecocube.ocean.simulate import simulate

    check_output_file(out, overwrite=overwrite)  # a bad --out fails before the run
    torch.set_num_threads(1)  # fastest for the model's small kernels; set once per process
    table = default_scenario() if n == 1 else sample_scenarios(n, seed=seed)
    ds = simulate(
        table,
        years=years,
        dt=dt,
        n_layers=n_layers,
        physics=physics,
        device=device,
        seed=seed,
        progress=True,
    )
    write_file_atomic(out, lambda tmp: ds.to_netcdf(tmp))
    typer.echo(f"wrote {out}: {len(table)} scenario(s) x {years} yr")
