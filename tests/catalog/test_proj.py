"""The one EPSG reader (ecocube.catalog._proj) of items, assets and plain dicts."""

from __future__ import annotations

import pystac
import pytest

from ecocube.catalog import item_epsg, stackable_items
from ecocube.catalog._proj import epsg_of
from ecocube.errors import InvalidInputError


@pytest.mark.parametrize(
    ("fields", "epsg"),
    [
        ({"proj:code": "EPSG:32632"}, 32632),
        ({"proj:code": "epsg:3857"}, 3857),
        ({"proj:epsg": 4326}, 4326),
        ({"proj:epsg": "4326"}, 4326),
        ({"proj:code": "EPSG:32632", "proj:epsg": 4326}, 32632),  # proj:code wins
        ({"proj:code": "IAU_2015:49900", "proj:epsg": 4326}, 4326),
        ({"proj:code": "IAU_2015:49900"}, None),
        ({"proj:code": "EPSG:abc"}, None),
        ({"proj:epsg": True}, None),
        ({"proj:epsg": None}, None),
        ({}, None),
    ],
)
def test_epsg_of_fields(fields: dict, epsg: int | None) -> None:
    assert epsg_of(fields) == epsg


def _item(props: dict, asset_fields: dict) -> pystac.Item:
    item = pystac.Item("i", None, None, pystac.utils.str_to_datetime("2020-01-01T00:00:00Z"), props)
    item.add_asset("a", pystac.Asset("a.tif", extra_fields=asset_fields))
    return item


def test_asset_fields_win_over_the_item() -> None:
    item = _item({"proj:code": "EPSG:32632"}, {"proj:code": "EPSG:32633"})
    assert item_epsg(item) == 32632 and item_epsg(item.assets["a"]) == 32633
    plain = _item({"proj:epsg": 32632}, {})
    assert item_epsg(plain.assets["a"]) == 32632  # the item's, for an asset on the item grid
    assert item_epsg({"properties": {"proj:code": "EPSG:3857"}}) == 3857
    assert item_epsg({"proj:epsg": 4326}) == 4326
    assert item_epsg({"properties": {}}) is None
    with pytest.raises(InvalidInputError, match="needs a pystac Item, Asset or dict"):
        item_epsg("EPSG:4326")  # type: ignore[arg-type]


def test_stackable_items_carry_proj_epsg_from_proj_code() -> None:
    (d,) = stackable_items([_item({"proj:code": "EPSG:32632"}, {"proj:code": "EPSG:32633"})])
    assert d["properties"]["proj:epsg"] == 32632 and d["assets"]["a"]["proj:epsg"] == 32633
