"""``ecocube report``: reports on fitted models (``report shap``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Reports on fitted models: SHAP explanations.",
    no_args_is_help=True,
)


@app.command("shap")
def report_shap(
    model_dir: Annotated[Path, typer.Argument(help="Model folder written by 'ecocube sdm fit'.")],
    cube: Annotated[Path, typer.Option("--cube", help="Zarr cube with the model's variables.")],
    out: Annotated[Path, typer.Option("--out", help="HTML report to write (self-contained).")],
    species: Annotated[
        str | None, typer.Option("--species", help="Comma-separated species (default: all).")
    ] = None,
    groups: Annotated[
        str | None,
        typer.Option(
            "--groups",
            help="Variable groups as NAME=GLOB[|GLOB],...; e.g. climate=bio*,landcover=landuse_* "
            "(climate and landcover give the shadow distribution).",
        ),
    ] = None,
    cells: Annotated[int, typer.Option("--cells", help="Cells explained for summaries.")] = 1000,
    background: Annotated[
        int, typer.Option("--background", help="Background cells (the SHAP baseline).")
    ] = 64,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the cell samples.")] = 0,
    json_out: Annotated[Path | None, typer.Option("--json", help="JSON summary to write.")] = None,
    maps: Annotated[
        Path | None, typer.Option("--maps", help="Zarr store of the spatial SHAP layers.")
    ] = None,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="Static STAC catalog to register --maps in (ecocube-shap)."),
    ] = None,
    mask: Annotated[str, typer.Option("--mask", help="land, none or a cube variable.")] = "land",
    map_stride: Annotated[
        int | None,
        typer.Option(
            "--map-stride",
            help="Explain every N-th row and column for the maps (default: the smallest N that "
            "keeps the maps to 20,000 cells).",
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
) -> None:
    """Explain a fitted model's log-intensity with SHAP over a cube: one HTML report."""
    from rich.console import Console

    from ecocube.models.explain.report import shap_report

    chosen = [s.strip() for s in species.split(",") if s.strip()] if species is not None else None
    result = shap_report(
        model_dir,
        cube,
        out,
        species=chosen,
        groups=groups,
        cells=cells,
        background=background,
        seed=seed,
        json_out=json_out,
        maps=maps,
        catalog=catalog,
        mask=mask,
        map_stride=map_stride,
        device=device,
    )
    s = result.summary
    Console(stderr=True, highlight=False).print(
        f"explained {s['n_cells']} cells of {len(s['species'])} species with {s['explainer']} "
        f"(additivity p99 {s['additivity_p99']:.2e}) in {result.seconds:.1f} s; wrote "
        f"{result.report}"
        + (f", {result.json}" if result.json else "")
        + (f", {result.maps}" if result.maps else ""),
        markup=False,
    )
