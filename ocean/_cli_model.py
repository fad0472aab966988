"""Commands of ``ecocube ocean`` (registered onto the group by ``register``): the full model."""

from __future__ import annotations

from pathlib import Path

import typer

from ecocube.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``ecocube ocean`` group."""
    app.command("ensemble")(ensemble)
    app.command("simulate")(simulate_cmd)


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
    n_layers: int = typer.Option(20, "--layers", help="Layers of the water column."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing store."),
    dashboard: bool = typer.Option(
        False, "--dashboard", help="Serve the local cluster's Dask dashboard on 127.0.0.1."
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
        overwrite=overwrite,
        dashboard=dashboard,
    )
    wall = time.perf_counter() - start
    typer.echo(
        f"wrote {path} and {path.with_name(path.stem + '.item.json')}: "
        f"{n} scenarios x {years} yr in {wall:.1f} s"
    )


def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="Output netCDF file (e.g. run.nc)."),
    years: int = typer.Option(1, "--years", help="Simulated years."),
    n: int = typer.Option(1, "--n", help="Scenarios (1: the reference scenario)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scenario sampler."),
    device: str = typer.Option("cpu", "--device", help="Torch device of the model."),
    dt: float = typer.Option(10800.0, "--dt", help="Model time step (s, >= 1), divides 86400."),
    n_layers: int = typer.Option(20, "--layers", help="Layers of the water column."),
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
        table, years=years, dt=dt, n_layers=n_layers, device=device, seed=seed, progress=True
    )
    write_file_atomic(out, lambda tmp: ds.to_netcdf(tmp))
    typer.echo(f"wrote {out}: {len(table)} scenario(s) x {years} yr")
