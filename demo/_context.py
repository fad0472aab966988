"""What the demo steps receive and share."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

__all__ = ["DemoContext", "DemoState"]


@dataclass
class DemoState:
    """Objects that a demo step leaves for the later ones (``None`` until a step sets them).

    Attributes
    ----------
    catalog_dir
        Folder of the STAC catalog built by the catalog step.
    catalog_build_seconds
        Wall time of that build (s).
    stac_url
        Root URL of the STAC API the catalog step serves (open until the demo ends).
    cube_path
        Zarr store written by the cube step.
    cube_build_seconds
        Wall time of building and writing it (s).
    occurrence_covariates_path
        Parquet table of the GBIF records with the cube's values at their locations.
    sampling_ratio
        Speed-up of the cube's patch loader over torchgeo for 64×64 patches.
    maxent_net_species
        Species fitted by the multi-species network of the SDM step.
    """

    catalog_dir: Path | None = None
    catalog_build_seconds: float | None = None
    stac_url: str | None = None
    cube_path: Path | None = None
    cube_build_seconds: float | None = None
    occurrence_covariates_path: Path | None = None
    sampling_ratio: float | None = None
    maxent_net_species: list[str] = field(default_factory=list)


@dataclass
class DemoContext:
    """What every demo step receives.

    Attributes
    ----------
    out_dir
        Report folder; steps write their files under it (figures in ``out_dir/figures``).
    seed
        Seed for every stochastic step.
    device
        Torch device name (``"auto"`` picks CUDA when available).
    quick
        Smaller settings for smoke tests.
    state
        Objects shared between steps.
    resources
        Servers and other resources that stay open until the demo ends; a step enters them
        here and the runner closes them, last opened first, even when a step fails.
    console
        Where steps print their progress lines.
    """

    out_dir: Path
    seed: int = 0
    device: str = "auto"
    quick: bool = False
    state: DemoState = field(default_factory=DemoState)
    resources: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    console: Console = field(default_factory=Console)
