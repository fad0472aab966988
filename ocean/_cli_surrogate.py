"""Commands of ``ecocube ocean`` (registered onto the group by ``register``): surrogates."""

from __future__ import annotations

from pathlib import Path

import typer

from ecocube.errors import InvalidInputError

_ARCHS = ("pod_mlp", "fno")


def train(
    ensemble: Path = typer.Option(
        ..., "--ensemble", help="Ensemble Zarr store (ecocube ocean ensemble)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write the trained surrogate to."),
    arch: str = typer.Option("pod_mlp", "--arch", help=f"Architecture: {', '.join(_ARCHS)}."),
    device: str = typer.Option(
        "auto", "--device", help="Torch device: auto, cpu, cuda, cuda:1, mps."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the split and the initialisation."),
    epochs: int = typer.Option(600, "--epochs", help="Maximum training epochs."),
    members: int = typer.Option(4, "--members", help="Deep-ensemble members (pod_mlp)."),
    head_members: int = typer.Option(
        None, "--head-members", help="Members per index of the index head (default: --members)."
    ),
    index_head: bool = typer.Option(
        True,
        "--index-head/--no-index-head",
        help="Emulate CO2 uptake and bloom day with a scalar head (pod_mlp).",
    ),
    distil_head: bool = typer.Option(
        False,
        "--distil-head",
        help="Distil the index head's members into one MLP per index (pod_mlp; use with "
        "--head-members 8).",
    ),
    uptake_gp: bool = typer.Option(
        True,
        "--uptake-gp/--no-uptake-gp",
        help="Also emulate the CO2 uptake with a Gaussian process and average it with the "
        "head's MLPs (pod_mlp; from 20 training scenarios).",
    ),
) -> None:
    """Train a surrogate of the full ocean model on an ensemble and save it to OUT."""
    import torch

    from ecocube.ocean.surrogate import Surrogate
    from ecocube.ocean.surrogate._base import check_surrogate_target
    from ecocube.training import resolve_device

    check_surrogate_target(out)  # a bad --out fails before the training, not after it

    if arch not in _ARCHS:
        raise InvalidInputError(f"--arch {arch!r} is unknown; choose one of {', '.join(_ARCHS)}")
    # name the option, not the SurrogateConfig field it fills
    counts = (
        ("--epochs", epochs, "training epochs"),
        ("--members", members, "ensemble members"),
        ("--head-members", head_members, "index-head members"),
    )
    for option, value, what in counts:
        if value is not None and value < 1:
            raise InvalidInputError(
                f"{option} {value}: the number of {what} must be >= 1; pass {option} 1 or more"
            )
    resolve_device(device)  # a bad --device fails before loading the ensemble
    torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))
    sur = Surrogate.create(
        arch,
        max_epochs=epochs,
        members=members,
        device=device,
        seed=seed,
        progress=True,
        index_head=index_head,
        head_members=head_members,
        distil_head=distil_head,
        uptake_gp=uptake_gp,
    )
    sur.fit(ensemble)
    sur.save(out)
    typer.echo(
        f"trained {arch} on {sur.meta['n_scenarios']} scenarios in "
        f"{sur.meta['train_seconds']:.1f} s; saved to {out}"
    )


def validate(
    surrogate: Path = typer.Option(
        ..., "--surrogate", help="Surrogate folder (ecocube ocean train)."
    ),
    n: int = typer.Option(50, "--n", help="Number of fresh scenarios."),
    json_out: Path = typer.Option(None, "--json", help="Write the report as JSON here."),
    seed: int = typer.Option(
        20261122, "--seed", help="Seed of the fresh scenarios (not the ensemble's)."
    ),
    device: str = typer.Option("cpu", "--device", help="Torch device of the full model."),
) -> None:
    """Run the full model and the surrogate on fresh scenarios; report accuracy and speed-up."""
    from rich.console import Console
    from rich.table import Table

    from ecocube._atomic import check_output_file
    from ecocube.ocean.validate import validate_surrogate

    if json_out is not None:  # a bad --json fails before the validation, not after it
        check_output_file(json_out, option="--json")
    with Console().status("running the full model and the surrogate..."):
        report = validate_surrogate(surrogate, n=n, seed=seed, device=device, json_path=json_out)
    table = Table(title=f"surrogate {report['setup']['arch']} vs full model ({n} scenarios)")
    for col in ("metric", "value", "target", "passed"):
        table.add_column(col)
    for name, value in report["metrics"].items():
        t = report["targets"].get(name)
        target = "" if t is None else ("≥ " if t["kind"] == "min" else "≤ ") + f"{t['threshold']:g}"
        passed = "" if t is None else ("yes" if t["passed"] else "NO")
        table.add_row(name, f"{value:.4g}", target, passed)
    Console().print(table)
    if json_out is not None:
        typer.echo(f"report written to {json_out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the ``ecocube ocean`` group."""
    app.command("train")(train)
    app.command("validate")(validate)
