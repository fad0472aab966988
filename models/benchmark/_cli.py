"""``ecocube sdm benchmark`` command group."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Benchmarks of the SDMs on public data.", no_args_is_help=True)


@app.command("nceas")
def nceas(
    out: Path = typer.Option(
        ...,
        "--out",
        help="CSV of predictions: region,spid,siteid,score (a file path in an existing folder; "
        "checked before any training, written atomically).",
    ),
    model: str = typer.Option(
        "maxent-net",
        "--model",
        help="maxent-net (one network per region: covariates + spatial basis + local record "
        "frequency), maxent-net-group (the same, one network per survey group), maxent-net-env "
        "(covariates only) or maxent-linear.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of every model."),
    regions: str = typer.Option(
        "AWT,CAN,NSW,NZ,SA,SWI", "--regions", help="Comma-separated subset of the regions."
    ),
    device: str = typer.Option("cpu", "--device", help="Torch device: cpu, cuda, auto."),
    threads: int = typer.Option(
        1, "--threads", help="CPU threads for torch (1 is fastest for these small networks)."
    ),
    workers: int = typer.Option(
        0,
        "--workers",
        help="Processes fitting survey groups in parallel; 0 (default): one per CPU core, "
        "at most 8.",
    ),
    summary: Path | None = typer.Option(
        None,
        "--summary",
        help="Also write the per-region AUC table to this CSV (its folder must exist).",
    ),
) -> None:
    """Run the NCEAS benchmark (Elith et al. 2020) with the per-survey-group protocol.

    Trains on presence-only records (+ background) of every region/survey group, predicts each
    species at the presence-absence sites of its own group, writes the predictions and prints
    the mean AUC per region and overall (species weighted equally) and the wall time. The PA
    data are used only for scoring; hyper-parameters were chosen by spatial CV on training data.
    """
    import time

    import torch
    from rich.console import Console
    from rich.table import Table

    from ecocube._atomic import check_output_file, write_file_atomic
    from ecocube._progress import progress
    from ecocube.errors import InvalidInputError
    from ecocube.models.benchmark.nceas import BENCHMARK_MODELS, run_nceas_benchmark
    from ecocube.models.benchmark.nceas_data import NCEAS_GROUPS, NCEAS_REGIONS
    from ecocube.training import resolve_device

    if model not in BENCHMARK_MODELS:
        raise InvalidInputError(
            f"--model {model!r} is unknown; choose one of {', '.join(BENCHMARK_MODELS)}"
        )
    regs = [r.strip().upper() for r in regions.split(",") if r.strip()]
    bad = [r for r in regs if r not in NCEAS_REGIONS]
    if bad or not regs:
        raise InvalidInputError(
            f"--regions {regions!r} holds unknown regions {bad}; choose from "
            f"{', '.join(NCEAS_REGIONS)}"
        )
    if workers < 0:
        raise InvalidInputError(f"--workers must be >= 0 (0: one per CPU core), got {workers}")
    if workers == 0:
        import os

        workers = max(1, min(os.cpu_count() or 1, 8))
    if threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {threads}")
    resolve_device(device)  # an unavailable --device fails now, not inside every worker
    # a bad output path fails now, not after loading the data and training every group
    check_output_file(out, option="--out")
    if summary is not None:
        check_output_file(summary, option="--summary")
        if summary.resolve() == out.resolve():
            raise InvalidInputError(
                f"--summary {str(summary)!r} is the --out file; give two different paths."
            )
    console = Console()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    tic = time.perf_counter()
    try:
        groups = sum(len(NCEAS_GROUPS[r]) for r in regs)
        with progress("NCEAS", total=groups, unit="groups", transient=True) as bar:

            def step(name: str) -> None:
                bar.advance(group=name)

            result = run_nceas_benchmark(
                model, seed=seed, regions=regs, device=device, progress=step, workers=workers
            )
    finally:
        torch.set_num_threads(previous)
    write_file_atomic(out, lambda tmp: result.predictions.to_csv(tmp, index=False))
    wall = time.perf_counter() - tic
    table = result.region_table()
    if summary is not None:
        rows = table.assign(
            model=model, seed=seed, fit_predict_seconds=result.seconds, wall_seconds=wall
        )
        write_file_atomic(summary, lambda tmp: rows.to_csv(tmp, index=False))
    view = Table(title=f"NCEAS mean AUC ({model}, seed {seed})")
    for col in ("region", "species", "mean AUC"):
        view.add_column(col, justify="right")
    for row in table.itertuples():
        view.add_row(row.region, str(row.n_species), f"{row.mean_auc:.4f}")
    console.print(view)
    console.print(
        f"{len(result.predictions):,} predictions written to {out}; fit+predict "
        f"{result.seconds:.1f} s, wall {wall:.1f} s (data loading included)"
    )
