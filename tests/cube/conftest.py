"""Fixtures of the cube tests: real CHELSA/GAM cubes and a static catalog, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def chelsa_items(mirror: Path) -> list:
    from ecocube.cube.testing import chelsa_items

    return chelsa_items()


@pytest.fixture(scope="session")
def chelsa_cube(chelsa_items: list):
    """CHELSA bio1..bio19 on their own 30 arc-second grid (in memory)."""
    from ecocube.cube import anchor_of, build_cube

    anchor, res = anchor_of(chelsa_items[0])
    ds = build_cube(chelsa_items, bbox=chelsa_items[0].bbox, resolution=res, anchor=anchor)
    return ds.compute()


@pytest.fixture(scope="session")
def chelsa_zarr(chelsa_cube, chelsa_items, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ecocube.cube import write_cube

    return write_cube(
        chelsa_cube, tmp_path_factory.mktemp("cube") / "chelsa.zarr", items=chelsa_items
    )


@pytest.fixture(scope="session")
def gam_items(mirror: Path) -> list:
    from ecocube.cube.testing import gam_landuse_items

    return gam_landuse_items()


@pytest.fixture(scope="session")
def mixed_catalog(mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static catalog of Landsat C1/C2, Sentinel-2, CHELSA, WorldClim and CESM (netCDF) items."""
    catalog = pytest.importorskip("ecocube.catalog")
    out = tmp_path_factory.mktemp("mixed_catalog") / "catalog"
    catalog.build_catalog(
        out,
        datasets=[
            "landsat_c2l2_colombia",
            "landsat_l8ny18",
            "s2_emilia_ndvi_scl",
            "chelsa_costa_rica",
            "sdm_dismo",
            "ocean_global_cesm",
        ],
    )
    return out
