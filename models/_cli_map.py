"""``ecocube sdm map``: a fitted model over every cell of a cube, with uncertainty."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def sdm_map(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by 'ecocube sdm fit'.")],
    cube: Annotated[
        Path,
        typer.Option("--cube", help="Zarr cube holding the model's input variables."),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Maps store to write (.zarr): mean, sd, q05, q95 (species, y, x) and novelty.",
        ),
    ],
    species: Annotated[
        str | None,
        typer.Option("--species", help="Comma-separated species to map (default: all)."),
    ] = None,
    cog: Annotated[
        Path | None,
        typer.Option("--cog", help="Folder for one cloud-optimised GeoTIFF per species and map."),
    ] = None,
    mask: Annotated[
        str,
        typer.Option(
            "--mask",
            help="land (the cube's land cover, else a bundled global land mask), none, or a "
            "cube variable (cells where it is finite and non-zero).",
        ),
    ] = "land",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:N or auto.")] = "auto",
    catalog: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            help="Static STAC catalog to register the maps in (collection ecocube-maps).",
        ),
    ] = None,
    tile: Annotated[
        int, typer.Option("--tile", help="Tile side in cells (memory grows with it).")
    ] = 512,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing store and COG folder.")
    ] = False,
) -> None:
    """Map every species of a model over a cube: mean, sd, 5 % and 95 % quantiles, novelty.

    Sea and nodata cells are NaN (``--mask land``). An interrupted run resumes from its
    finished tiles when run again with the same arguments; the store appears at ``--out``
    only when complete.
    """
    from rich.console import Console

    from ecocube.models.sdm_map import map_model

    chosen = [s.strip() for s in species.split(",") if s.strip()] if species is not None else None
    result = map_model(
        model_dir,
        cube,
        out,
        species=chosen,
        cog=cog,
        mask=mask,
        device=device,
        catalog=catalog,
        tile=tile,
        overwrite=overwrite,
    )
    console = Console(stderr=True, highlight=False)
    rate = result.cells * len(result.species) / max(result.seconds, 1e-9)
    console.print(
        f"mapped {len(result.species)} species on {result.cells} cells in "
        f"{result.seconds:.1f} s ({rate:,.0f} cells x species / s on {result.device}) to "
        f"{result.store}",
        markup=False,
    )
    if result.cogs:
        console.print(f"wrote {len(result.cogs)} COGs to {cog}", markup=False)
    if result.item_id is not None:
        console.print(
            f"registered item {result.item_id!r} in collection ecocube-maps of {catalog}",
            markup=False,
        )
