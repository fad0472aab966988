"""Reading STAC items (ecocube.catalog._read): static catalogs link by link, with a clear error
naming any broken link that must be read, and STAC APIs through the one retrying client."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ecocube.catalog import load_items
from ecocube.errors import CatalogError, InvalidInputError, StacApiError
from tests.catalog._http import LANDING, http_server


@pytest.fixture(scope="module")
def catalog_dir(tmp_path_factory: pytest.TempPathFactory, mirror: Path) -> Path:
    from ecocube.catalog import build_catalog

    out = tmp_path_factory.mktemp("catalog") / "catalog"
    build_catalog(out, datasets=["chelsa_costa_rica", "landcover_gam_costa_rica"])
    return out


def _damaged(catalog_dir, tmp_path, damage: str):
    """A copy of the catalog whose gam-landuse-costa-rica/collection.json is missing/malformed."""
    out = tmp_path / "damaged"
    shutil.copytree(catalog_dir, out)
    target = out / "gam-landuse-costa-rica" / "collection.json"
    if damage == "missing":
        target.unlink()
    elif damage == "malformed":
        target.write_text('{"type": "Coll')
    else:
        target.write_text("{}")  # valid JSON, not STAC
    return out


@pytest.mark.parametrize("damage", ["missing", "malformed", "not-stac"])
def test_broken_sibling_link_does_not_block_other_collections(catalog_dir, tmp_path, damage):
    bad = _damaged(catalog_dir, tmp_path, damage)
    items = load_items(bad, collections=["chelsa-costa-rica"])
    assert [i.collection_id for i in items] == ["chelsa-costa-rica"]
    assert {f"bio{k}" for k in range(1, 20)} <= set(items[0].assets)


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        ("missing", "the file does not exist"),
        ("malformed", "the file is not valid JSON"),
        ("not-stac", "the file is not a STAC object"),
    ],
)
def test_broken_link_that_must_be_read_is_named_with_the_fix(catalog_dir, tmp_path, damage, why):
    bad = _damaged(catalog_dir, tmp_path, damage)
    pattern = (
        rf"catalog .*damaged: the 'child' link '\./gam-landuse-costa-rica/collection\.json' in "
        rf".*catalog\.json points to .*gam-landuse-costa-rica/collection\.json, which cannot be "
        rf"read \({why}.*rebuild the catalog with `ecocube catalog build --out "
    )
    for collections in (["gam-landuse-costa-rica"], None, ["no-such-collection"]):
        with pytest.raises(CatalogError, match=pattern):
            load_items(bad, collections=collections)


def test_broken_item_link_of_requested_collection_is_named(catalog_dir, tmp_path):
    bad = tmp_path / "damaged"
    shutil.copytree(catalog_dir, bad)
    item_file = next((bad / "chelsa-costa-rica").glob("*/*.json"))
    item_file.unlink()
    with pytest.raises(CatalogError, match=rf"'item' link .*{item_file.name}.*does not exist"):
        load_items(bad, collections=["chelsa-costa-rica"])
    # the other collection does not need the broken item
    assert len(load_items(bad, collections=["gam-landuse-costa-rica"])) == 1


def test_unknown_collection_lists_the_catalog_collections(catalog_dir):
    with pytest.raises(
        CatalogError,
        match=r"unknown collection\(s\) \['nope'\]; the catalog .* holds "
        r"\['chelsa-costa-rica', 'gam-landuse-costa-rica'\]",
    ):
        load_items(catalog_dir, collections=["nope"])


def test_sources_of_items(catalog_dir: Path) -> None:
    import pystac

    cat = pystac.Catalog.from_file(str(catalog_dir / "catalog.json"))
    items = load_items(catalog_dir / "catalog.json")
    assert len(items) == 2 and load_items(cat, collections=["gam-landuse-costa-rica"])[0].id == (
        "gam-landuse-2020-costa-rica"
    )
    assert load_items(items) == items and load_items(items[0]) == [items[0]]
    assert [i.id for i in load_items(pystac.ItemCollection(items))] == [i.id for i in items]
    with pytest.raises(CatalogError, match=r"no STAC catalog found .*ecocube catalog build"):
        load_items(catalog_dir / "nowhere")
    with pytest.raises(InvalidInputError, match=r"items=int is not a STAC source"):
        load_items(3)
    with pytest.raises(InvalidInputError, match=r"\['dict'\] objects; every element must be"):
        load_items([{"type": "Feature"}])


def _api(answers_before: list[tuple[int, str]]):
    """A fake STAC API with one collection 'c' and one item, after ``answers_before``."""
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": "i1",
        "collection": "c",
        "geometry": {"type": "Point", "coordinates": [1.0, 2.0]},
        "bbox": [1.0, 2.0, 1.0, 2.0],
        "properties": {"datetime": "2020-01-01T00:00:00Z"},
        "assets": {},
        "links": [],
    }
    collection = {
        "type": "Collection",
        "id": "c",
        "stac_version": "1.1.0",
        "description": "c",
        "license": "other",
        "extent": {"spatial": {"bbox": [[0, 0, 2, 2]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
    }
    searches: list[dict] = []

    def answer(path: str, n: int) -> tuple[int, str, str]:
        if n < len(answers_before):
            status, body = answers_before[n]
            return status, "application/json", body
        if path.startswith("/collections"):
            return 200, "application/json", json.dumps({"collections": [collection], "links": []})
        if path.startswith("/search"):
            searches.append({"path": path})
            page = {"type": "FeatureCollection", "features": [item], "links": []}
            return 200, "application/json", json.dumps(page)
        return 200, "application/json", json.dumps(LANDING)

    return answer, searches


def test_api_sources_go_through_the_retrying_client() -> None:
    """A bare pystac-client would fail on the first 503; the one client retries it."""
    answer, searches = _api([(503, "busy")])
    with http_server(answer) as (url, seen):
        items = load_items(url, bbox=(0.0, 0.0, 3.0, 3.0), collections=["c"])
        assert [i.id for i in items] == ["i1"] and seen[:2] == ["/", "/"]
        assert len(searches) == 1
        with pytest.raises(CatalogError, match=r"\['nope'\] not in the catalog at .*: \['c'\]"):
            load_items(url, collections=["nope"])


def test_api_source_that_is_not_an_api_is_a_stac_api_error() -> None:
    answer, _ = _api([(404, "<html>not here</html>")])
    with http_server(answer) as (url, seen):
        with pytest.raises(StacApiError, match=r"HTTP 404 Not Found; the URL is not a STAC API"):
            load_items(url + "/x")
        assert len(seen) == 1
