"""Searching a STAC API (ecocube.catalog._search): inputs normalised once, the one client with
retries, backoff and timeouts, and one-line errors for everything that is not a STAC API."""

from __future__ import annotations

import json
import time

import pystac
import pytest

from ecocube.catalog import (
    RetryPolicy,
    normalize_bbox,
    normalize_datetime,
    normalize_filter,
    open_client,
    search,
)
from ecocube.cli import main
from ecocube.errors import InvalidInputError, StacApiError
from tests.catalog._http import LANDING, free_port, http_server, ids, in_turn

pytestmark = pytest.mark.network

NO_RETRY = RetryPolicy(max_retries=0, timeout=5)


def test_bbox_search(stac_api: str) -> None:
    # inside the GAM land-use map (Costa Rica): CHELSA, WorldClim, GAM and the global CESM grids
    items = search(stac_api, bbox=[-84.2, 9.8, -84.0, 10.0])
    assert ids(items) == [
        "cesm-marbl-bgc-climatology-global",
        "cesm-marbl-surface-2012-global",
        "chelsa-v2.1-bioclim-1981-2010-costa-rica",
        "gam-landuse-2020-costa-rica",
        "worldclim-dismo-bioclim-south-america",
    ]
    assert all(isinstance(i, pystac.Item) for i in items)


def test_datetime_range_and_collections(stac_api: str) -> None:
    items = search(stac_api, datetime="2020-03-01/2020-03-31", collections="sentinel-2-l2a-emilia")
    assert ids(items) == [f"s2-l2a-202003{d:02d}-emilia" for d in (4, 9, 14, 19, 24, 29)]
    same = search(stac_api, datetime="2020-03", collections=["sentinel-2-l2a-emilia"])
    assert ids(same) == ids(items)


def test_ids_search(stac_api: str) -> None:
    wanted = ["s2-l2a-20190723-barbellino", "LC08_L2SP_008059_20191201_20200825_02_T1"]
    assert ids(search(stac_api, ids=wanted)) == sorted(wanted)


def test_cql2_filter_on_cloud_cover(stac_api: str, catalog_items: dict) -> None:
    items = search(stac_api, collections=["landsat-8-l1-new-york"], filter="eo:cloud_cover < 5")
    assert ids(items) == [
        "LC08_L1TP_013032_20180131_20180207_01_T1",
        "LC08_L1TP_013032_20180710_20180717_01_T1",
    ]
    # the API agrees with the static catalog over every collection, text and JSON forms alike
    expected = sorted(
        i.id for i in catalog_items.values() if i.properties.get("eo:cloud_cover", 101) <= 20
    )
    as_json = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20]}
    assert ids(search(stac_api, filter=as_json)) == expected
    assert ids(search(stac_api, filter="eo:cloud_cover <= 20")) == expected
    assert len(expected) > 40


def test_pagination_across_pages(stac_api: str, catalog_items: dict) -> None:
    from pystac_client import Client

    expected = sorted(
        i.id for i in catalog_items.values() if i.collection_id == "sentinel-2-l2a-emilia"
    )
    pages = list(
        Client.open(stac_api).search(collections=["sentinel-2-l2a-emilia"], limit=7).pages()
    )
    assert [len(p.items) for p in pages] == [7] * 8 + [4]
    items = search(stac_api, collections=["sentinel-2-l2a-emilia"], limit=7)
    assert len(items) == 60 and ids(items) == expected
    capped = search(stac_api, collections=["sentinel-2-l2a-emilia"], limit=7, max_items=10)
    assert len(capped) == 10


def test_combined_query(stac_api: str) -> None:
    items = search(
        stac_api,
        collections="sentinel-2-l2a-emilia",
        datetime=("2020-06-01", "2020-08-31"),
        filter="eo:cloud_cover > 50",
        bbox="11.9,44.8,12.1,44.9",
    )
    for item in items:
        assert item.properties["eo:cloud_cover"] > 50
        assert "2020-06-01" <= item.properties["datetime"][:10] <= "2020-08-31"
    assert len(items) >= 1


def test_cli_search_table_and_json(stac_api: str, capsys) -> None:
    args = ["catalog", "search", "--url", stac_api]
    query = ["--collections", "landsat-8-l1-new-york", "--filter", "eo:cloud_cover < 5"]
    code = main([*args, *query, "--limit", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "LC08_L1TP_013032_20180710_20180717_01_T1" in out and "2 item(s)" in out
    code = main([*args, "--ids", "s2-l2a-20220612-south-tyrol", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and [f["id"] for f in doc["features"]] == ["s2-l2a-20220612-south-tyrol"]


def test_unknown_collection_lists_valid_ones(stac_api: str) -> None:
    with pytest.raises(InvalidInputError, match=r"not served .*valid collections: chelsa-costa"):
        search(stac_api, collections=["sentinel-2-l2a"])


@pytest.mark.parametrize(
    ("bbox", "match"),
    [
        ([1, 2, 3], "has 3 values; give 4"),
        ("a,b,c,d", "must hold 4 numbers"),
        ([10, 0, 5, 1], "minimum greater than maximum"),
        ([0, 0, 1, 95], "outside the latitude range"),
        ([-190, 0, 1, 1], "outside the longitude range"),
    ],
)
def test_invalid_bbox(bbox, match) -> None:
    with pytest.raises(InvalidInputError, match=match):
        normalize_bbox(bbox)
    with pytest.raises(InvalidInputError, match=match):
        search("http://127.0.0.1:9", bbox=bbox)  # rejected before any request


def test_datetime_normalisation_and_reversed_range() -> None:
    assert normalize_datetime("2020-01-01") == "2020-01-01T00:00:00Z/2020-01-01T23:59:59Z"
    assert normalize_datetime("../2019") == "../2019-12-31T23:59:59Z"
    assert normalize_datetime("2020-02") == "2020-02-01T00:00:00Z/2020-02-29T23:59:59Z"
    with pytest.raises(InvalidInputError, match=r"is after end .* swap them"):
        normalize_datetime("2020-05-01/2020-01-01")
    with pytest.raises(InvalidInputError, match="is after end"):
        search("http://127.0.0.1:9", datetime=("2021-01-01", "2020-01-01"))
    with pytest.raises(InvalidInputError, match="not ISO 8601"):
        normalize_datetime("yesterday")
    with pytest.raises(InvalidInputError, match="open at both ends"):
        normalize_datetime("../..")


def test_filter_and_limit_validation() -> None:
    cloud = {"property": "eo:cloud_cover"}
    assert normalize_filter("eo:cloud_cover < 10") == {"op": "<", "args": [cloud, 10]}
    with pytest.raises(InvalidInputError, match="is not valid CQL2 text"):
        normalize_filter("eo:cloud_cover <<< 10")
    with pytest.raises(InvalidInputError, match="with an 'op' key"):
        normalize_filter({"property": "x"})
    with pytest.raises(InvalidInputError, match="limit=0 must be an integer within 1-10000"):
        search("http://127.0.0.1:9", limit=0)
    with pytest.raises(InvalidInputError, match="must be an http"):
        search("ftp://example.org")


def test_invalid_cql2_is_one_line(capsys) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_filter("eo:cloud_cover <<< 10")
    msg = str(info.value)
    assert "\n" not in msg and "1:17" in msg and "expected" in msg and "example:" in msg
    with pytest.raises(InvalidInputError) as info:
        normalize_filter({"op": "<", "args": "nope"})
    assert "\n" not in str(info.value)
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["catalog", "search", "--url", url, "--filter", "eo:cloud_cover <<< 10"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: filter=") and "1:17" in err


@pytest.mark.parametrize(
    ("option", "value"),
    [("--max-retries", "-1"), ("--limit", "0"), ("--max-items", "-2"), ("--timeout", "0")],
)
def test_negative_search_options_are_refused(option: str, value: str, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["catalog", "search", "--url", url, option, value]) == 1
    err = capsys.readouterr().err
    assert f"{option} {value}" in err and "unreachable" not in err


def test_retry_policy_rejects_negative_values() -> None:
    with pytest.raises(InvalidInputError, match="max_retries=-1 must be an integer >= 0"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(InvalidInputError, match=r"backoff_factor=-0\.5"):
        RetryPolicy(backoff_factor=-0.5)
    with pytest.raises(InvalidInputError, match="timeout=0"):
        RetryPolicy(timeout=0)


def test_server_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StacApiError, match=r"unreachable or failed.*ecocube catalog serve"):
        search(url, retry=NO_RETRY)
    code = main(["catalog", "search", "--url", url, "--max-retries", "0"])
    assert code == 1


def test_retries_on_5xx_with_backoff() -> None:
    answers = [(503, "busy"), (502, "bad gateway"), (200, json.dumps(LANDING))]
    with http_server(in_turn(answers)) as (url, seen):
        client = open_client(url, retry=RetryPolicy(max_retries=3, backoff_factor=0.01))
        assert client.id == "fake" and len(seen) == 3
    with http_server(in_turn(answers)) as (url, seen):
        with pytest.raises(StacApiError, match=r"unreachable or failed: HTTP 503 .* after 0"):
            open_client(url, retry=NO_RETRY)
        assert len(seen) == 1


def test_malformed_api_json_is_a_clear_error() -> None:
    with http_server(in_turn([(200, "{not json")])) as (url, _):
        with pytest.raises(StacApiError, match="did not return a STAC API landing page"):
            search(url, retry=NO_RETRY)


# --- URLs that are not STAC APIs, and servers that hang -------------------------------------

STATIC = {"type": "Catalog", "id": "static", "stac_version": "1.1.0", "description": "d"}
COLLECTION = {
    "type": "Collection",
    "id": "c",
    "stac_version": "1.1.0",
    "description": "d",
    "license": "other",
    "extent": {"spatial": {"bbox": [[0, 0, 1, 1]]}, "temporal": {"interval": [[None, None]]}},
    "links": [],
}


def _not_an_api(path: str, n: int) -> tuple[int, str, str]:
    if path.startswith("/catalog.json"):
        return 200, "application/json", json.dumps({**STATIC, "links": []})
    if path.startswith("/collections/c"):
        return 200, "application/json", json.dumps(COLLECTION)
    return 404, "text/html", "<html><body><h1>404 Not Found</h1><p>nothing</p></body></html>"


@pytest.mark.parametrize(
    ("path", "match"),
    [
        ("/catalog.json", r"is a static STAC catalog, not a STAC API .*give the root URL"),
        ("/collections/c", r"is a STAC Collection, not a STAC API landing page; give the root"),
        ("/nowhere", r"HTTP 404 Not Found; the URL is not a STAC API landing page; give the"),
    ],
)
def test_a_url_that_is_not_a_stac_api_is_one_line_error(path: str, match: str, capsys) -> None:
    with http_server(_not_an_api) as (base, seen):
        url = base + path
        with pytest.raises(StacApiError, match=match):
            search(url)  # default policy: 3 retries, none used on a deterministic answer
        assert seen == [path]
        assert main(["catalog", "search", "--url", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert url in err and "<html" not in err and "internal error" not in err


def test_a_hung_server_fails_after_the_timeout_without_retrying(capsys) -> None:
    with http_server(lambda path, n: 5.0) as (url, seen):
        start = time.monotonic()
        with pytest.raises(
            StacApiError, match=rf"{url} is unreachable or failed: no answer within 1 s .*--timeout"
        ):
            search(url, retry=RetryPolicy(max_retries=3, timeout=1))
        assert time.monotonic() - start < 3 and len(seen) == 1
        assert main(["catalog", "search", "--url", url, "--timeout", "0.5"]) == 1
    assert "no answer within 0.5 s" in capsys.readouterr().err


def test_http_errors_of_the_search_name_the_status_not_the_page() -> None:
    def answer(path: str, n: int) -> tuple[int, str, str]:
        if path.startswith("/search"):
            return 400, "application/json", json.dumps({"description": "bad\nfilter"})
        return 200, "application/json", json.dumps(LANDING)

    with http_server(answer) as (url, seen):
        with pytest.raises(
            StacApiError, match=r"failed the search: HTTP 400 Bad Request \(bad filter\); check"
        ):
            search(url, ids=["x"])
        assert seen.count("/search") == 1
