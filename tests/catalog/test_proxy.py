"""The proxy in front of rustac (ecocube.catalog._proxy): GET searches as POST, paging links
written back as GET links, and the read-only asset file server."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecocube.catalog._proxy import (
    AssetFiles,
    bind_proxy,
    query_from_search_body,
    search_body_from_query,
)
from tests.catalog._http import ids

pytestmark = pytest.mark.network


def test_get_search_with_pystac_client(stac_api: str, catalog_items: dict) -> None:
    """GET /search: comma lists, bbox, datetime, filter and GET next links."""
    from pystac_client import Client

    client = Client.open(stac_api)
    emilia = sorted(
        i.id for i in catalog_items.values() if i.collection_id == "sentinel-2-l2a-emilia"
    )
    pages = list(
        client.search(collections=["sentinel-2-l2a-emilia"], limit=7, method="GET").pages()
    )
    assert [len(p.items) for p in pages] == [7] * 8 + [4]
    assert ids(i for p in pages for i in p.items) == emilia
    two = ["sentinel-2-l2a-emilia", "landsat-8-l1-new-york"]
    for kw in (
        {"collections": two},
        {"bbox": [-180, -90, 180, 90]},
        {"bbox": [11.9, 44.8, 12.1, 44.9], "datetime": "2020-03-01/2020-03-31"},
        {"filter": "eo:cloud_cover < 10"},
        {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}},
    ):
        got = ids(client.search(method="GET", limit=7, **kw).items())
        assert got == ids(client.search(method="POST", limit=7, **kw).items()), kw
        assert got
    assert len(ids(client.search(method="GET", limit=7, bbox=[-180, -90, 180, 90]).items())) == 97
    # plain HTTP, as curl sends it: the next link is a GET link holding the query and the token
    import urllib.request

    with urllib.request.urlopen(
        f"{stac_api}/search?collections=sentinel-2-l2a-emilia,landsat-8-l1-new-york&limit=7"
    ) as resp:
        page = json.load(resp)
    (nxt,) = [link for link in page["links"] if link["rel"] == "next"]
    assert nxt["method"] == "GET" and "body" not in nxt
    assert nxt["href"].startswith(f"{stac_api}/search?") and "token=" in nxt["href"]
    assert "collections=sentinel-2-l2a-emilia%2Clandsat-8-l1-new-york" in nxt["href"]


def test_collection_items_with_bbox_page_through_get_links(
    stac_api: str, catalog_items: dict
) -> None:
    """GET /collections/{id}/items?bbox=...: pages through GET next links of the endpoint."""
    import urllib.error
    import urllib.request

    from shapely.geometry import box, shape

    bbox = [11.0, 44.0, 13.0, 45.5]
    want = sorted(
        i.id
        for i in catalog_items.values()
        if i.collection_id == "sentinel-2-l2a-emilia" and shape(i.geometry).intersects(box(*bbox))
    )
    url = f"{stac_api}/collections/sentinel-2-l2a-emilia/items?bbox={','.join(map(str, bbox))}"
    got, sizes = [], []
    url += "&limit=7"
    while url:
        with urllib.request.urlopen(url) as resp:
            page = json.load(resp)
        got += [f["id"] for f in page["features"]]
        sizes.append(len(page["features"]))
        assert {f["collection"] for f in page["features"]} <= {"sentinel-2-l2a-emilia"}
        rels = {link["rel"]: link for link in page["links"]}
        assert rels["collection"]["href"] == f"{stac_api}/collections/sentinel-2-l2a-emilia"
        nxt = rels.get("next")
        if nxt is not None:
            assert nxt["method"] == "GET" and "collections=" not in nxt["href"]
            assert nxt["href"].startswith(f"{stac_api}/collections/sentinel-2-l2a-emilia/items?")
        url = nxt["href"] if nxt else None
    assert len(want) > 7 and sorted(got) == want and len(got) == len(set(got))
    assert sizes[:-1] == [7] * (len(sizes) - 1)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{stac_api}/collections/sentinel-2-l2a-emilia/items?bbox=a,b")
    assert err.value.code == 400


def test_get_query_and_post_body_convert_both_ways() -> None:
    body = search_body_from_query(
        "collections=a,b&bbox=1,2,3,4&limit=7&datetime=2020-01-01T00:00:00Z/..&filter="
        "eo%3Acloud_cover%3C10&sortby=-datetime,%2Bid&fields=id,-assets&token=next:x"
    )
    assert body == {
        "collections": ["a", "b"],
        "bbox": [1.0, 2.0, 3.0, 4.0],
        "limit": 7,
        "datetime": "2020-01-01T00:00:00Z/..",
        "filter": "eo:cloud_cover<10",
        "filter-lang": "cql2-text",
        "sortby": [{"field": "datetime", "direction": "desc"}, {"field": "id", "direction": "asc"}],
        "fields": {"include": ["id"], "exclude": ["assets"]},
        "token": "next:x",
    }
    assert search_body_from_query(query_from_search_body(body)) == body
    as_json = {"filter": {"op": "=", "args": [{"property": "id"}, "x"]}, "limit": 2}
    back = search_body_from_query(query_from_search_body(as_json))
    assert back == {**as_json, "filter-lang": "cql2-json"}
    with pytest.raises(ValueError, match="bbox='1,x' must be comma-separated numbers"):
        search_body_from_query("bbox=1,x")


@pytest.fixture()
def asset_server(tmp_path: Path) -> Iterator[tuple[str, Path, bytes]]:
    """A proxy serving one asset file and one Zarr-like folder of a catalog (no backend)."""
    root = tmp_path / "cat"
    tif = root / "col" / "item" / "b04.tif"
    store = root / "cubes" / "c.zarr"
    (store / "v").mkdir(parents=True)
    tif.parent.mkdir(parents=True)
    data = bytes(range(256)) * 4
    tif.write_bytes(data)
    (store / ".zmetadata").write_text("{}")
    (store / "v" / "0.0").write_bytes(b"chunk")
    (root / "catalog.json").write_text("{}")
    (tmp_path / "secret.txt").write_text("not yours")
    files = AssetFiles(root=root.resolve())
    assert files.add(tif) == "/assets/col/item/b04.tif"
    files.add(store)
    proxy = bind_proxy("127.0.0.1", 0)
    proxy.assets = files
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{proxy.server_address[1]}", root, data
    finally:
        proxy.shutdown()
        proxy.server_close()


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_asset_files_whole_and_ranges(asset_server: tuple[str, Path, bytes]) -> None:
    url, _, data = asset_server
    tif = url + "/assets/col/item/b04.tif"
    status, headers, body = _get(tif)
    assert status == 200 and body == data and headers["Accept-Ranges"] == "bytes"
    status, headers, body = _get(tif, Range="bytes=100-199")
    assert status == 206 and body == data[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert _get(tif, Range="bytes=1000-")[2] == data[1000:]
    assert _get(tif, Range="bytes=-24")[2] == data[-24:]
    status, headers, _ = _get(tif, Range=f"bytes={len(data)}-")
    assert status == 416 and headers["Content-Range"] == f"bytes */{len(data)}"
    head = urllib.request.Request(tif, method="HEAD")
    with urllib.request.urlopen(head) as resp:
        assert resp.headers["Content-Length"] == str(len(data)) and resp.read() == b""
    assert _get(url + "/assets/cubes/c.zarr/v/0.0")[2] == b"chunk"  # inside an asset folder


@pytest.mark.parametrize(
    "path",
    [
        "/assets/catalog.json",  # in the catalog, but no asset
        "/assets/col/item/missing.tif",
        "/assets/../secret.txt",
        "/assets/..%2Fsecret.txt",
        "/assets/cubes/c.zarr/..%2F..%2F..%2Fsecret.txt",
        "/assets/%2Fetc%2Fpasswd",
        "/assets/",
    ],
)
def test_asset_files_serve_nothing_else(asset_server: tuple[str, Path, bytes], path: str) -> None:
    url, _, _ = asset_server
    status, _, body = _get(url + path)
    assert status == 404 and b"not yours" not in body and b"root:" not in body
