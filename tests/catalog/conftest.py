"""Fixtures of the catalog tests: the catalog built from the mirror and a live STAC API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pystac
import pytest


@pytest.fixture(scope="session")
def built_catalog(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    """The full catalog built from the data mirror into a temporary folder."""
    from ecocube.catalog import build_catalog

    out = tmp_path_factory.mktemp("stac") / "catalog"
    build_catalog(out)
    return out


@pytest.fixture(scope="session")
def catalog_items(built_catalog: Path) -> dict[str, pystac.Item]:
    """Every item of the built catalog, by id."""
    cat = pystac.Catalog.from_file(str(built_catalog / "catalog.json"))
    return {i.id: i for i in cat.get_items(recursive=True)}


@pytest.fixture(scope="session")
def stac_api(built_catalog: Path, pgstac: None) -> Iterator[str]:
    """A live STAC API (pgstac + rustac) over the built catalog, on a free loopback port."""
    from ecocube.catalog import serve_catalog

    with serve_catalog(built_catalog) as url:
        yield url
