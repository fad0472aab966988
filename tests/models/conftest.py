"""Fixtures of the model tests: a small real CHELSA cube and Costa Rica GBIF records."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

#: CHELSA layers of the small cube (bio12 has nodata cells along the coast).
CUBE_BIO = (1, 4, 12, 15)
#: A few Costa Rica GBIF species (about 1,200 records): fits stay fast.
CR_SPECIES = ("Bothrops asper", "Porthidium nasutum", "Saimiri oerstedii")


@pytest.fixture(scope="session")
def cr_cube_items(mirror: Path) -> list:
    from ecocube.cube.testing import chelsa_items

    return chelsa_items(CUBE_BIO)


@pytest.fixture(scope="session")
def cr_cube(cr_cube_items: list):
    """CHELSA bio1, bio4, bio12, bio15 over Costa Rica on their 30 arc-second grid (in memory)."""
    from ecocube.cube import anchor_of, build_cube

    anchor, res = anchor_of(cr_cube_items[0])
    bbox = cr_cube_items[0].bbox
    return build_cube(cr_cube_items, bbox=bbox, resolution=res, anchor=anchor).compute()


@pytest.fixture(scope="session")
def cr_zarr(cr_cube, cr_cube_items, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """:func:`cr_cube` written as a Zarr cube."""
    from ecocube.cube import write_cube

    out = tmp_path_factory.mktemp("cr_cube") / "chelsa.zarr"
    return write_cube(cr_cube, out, items=cr_cube_items)


@pytest.fixture(scope="session")
def cr_records(mirror: Path) -> pd.DataFrame:
    """GBIF records (species, x, y in lon/lat) of :data:`CR_SPECIES`, in file order."""
    from ecocube.models.datasets.gbif import load_costa_rica_occurrences

    occ = load_costa_rica_occurrences()
    return occ[occ["species"].isin(CR_SPECIES)].reset_index(drop=True)
