"""``ecocube interactions``: interaction-likelihood maps from a fitted model and a metaweb."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Where species of a metaweb are likely to meet and interact.", no_args_is_help=True
)


@app.command("map")
def interactions_map(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by 'ecocube sdm fit'.")],
    metaweb: Annotated[
        Path,
        typer.Option(
            "--metaweb", help="Edge list (CSV/Parquet): consumer, resource[, probability]."
        ),
    ],
    cube: Annotated[Path, typer.Option("--cube", help="Zarr cube with the model's variables.")],
    out: Annotated[Path, typer.Option("--out", help="Zarr store to write (interactions.zarr).")],
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="CSV/Parquet with columns species, node (default: names)."),
    ] = None,
    focal: Annotated[
        str | None, typer.Option("--focal", help="Species whose enemies' co-occurrence to map.")
    ] = None,
    draws: Annotated[int, typer.Option("--draws", help="Joint community samples per cell.")] = 200,
    marginals_only: Annotated[
        bool,
        typer.Option("--marginals-only", help="Product of marginals only (no joint samples)."),
    ] = False,
    tile: Annotated[int, typer.Option("--tile", help="Tile side in cells.")] = 128,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the samples.")] = 0,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --out.")] = False,
) -> None:
    """Map P(interaction realised) = P(both present) x P(interaction | co-occurrence) per cell.

    Co-occurrence comes from joint posterior samples of the model (latent factors); the
    product of the marginal probabilities is written beside it. Every model species or
    metaweb node left unmatched is reported here and in the store's attributes.
    """
    from rich.console import Console

    from ecocube.models.interactions._map import interaction_map

    result = interaction_map(
        model_dir,
        metaweb,
        cube,
        out,
        mapping=mapping,
        focal=focal,
        draws=draws,
        joint=not marginals_only,
        tile=tile,
        seed=seed,
        overwrite=overwrite,
    )
    console = Console(stderr=True, highlight=False)
    console.print(
        f"mapped {len(result.web.probability)} interactions on {result.cells} cells in "
        f"{result.seconds:.1f} s to {result.store}",
        markup=False,
    )
    unmatched = result.web.report()
    if unmatched:
        console.print(f"unmatched: {unmatched}", markup=False)
