"""The live STAC API (pgstac + rustac) searched with pystac-client; bad inputs and failures."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pystac
import pytest

from ecocube.catalog import (
    RetryPolicy,
    normalize_bbox,
    normalize_datetime,
    normalize_filter,
    search,
    serve_catalog,
)
from ecocube.cli import main
from ecocube.errors import CatalogError, InvalidInputError, StacApiError

pytestmark = pytest.mark.network

NO_RETRY = RetryPolicy(max_retries=0, timeout=5)


def _ids(items) -> list[str]:
    return sorted(i.id for i in items)


def test_collections_listed(stac_api: str) -> None:
    from pystac_client import Client

    client = Client.open(stac_api)
    assert sorted(c.id for c in client.get_collections()) == [
        "chelsa-costa-rica", "esa-worldcover", "gam-landuse-costa-rica",
        "landsat-8-l1-new-york", "landsat-c2-l2-colombia", "ocean-global-cesm",
        "ocean-north-atlantic", "sentinel-2-l2a-barbellino", "sentinel-2-l2a-emilia",
        "sentinel-2-l2a-south-tyrol", "worldclim-dismo",
    ]  # fmt: skip
    assert client.conforms_to("FILTER")


def test_bbox_search(stac_api: str) -> None:
    # inside the GAM land-use map (Costa Rica): CHELSA, WorldClim, GAM and the global CESM grids
    items = search(stac_api, bbox=[-84.2, 9.8, -84.0, 10.0])
    assert _ids(items) == [
        "cesm-marbl-bgc-climatology-global",
        "cesm-marbl-surface-2012-global",
        "chelsa-v2.1-bioclim-1981-2010-costa-rica",
        "gam-landuse-2020-costa-rica",
        "worldclim-dismo-bioclim-south-america",
    ]
    assert all(isinstance(i, pystac.Item) for i in items)


def test_datetime_range_and_collections(stac_api: str) -> None:
    items = search(stac_api, datetime="2020-03-01/2020-03-31", collections="sentinel-2-l2a-emilia")
    assert _ids(items) == [f"s2-l2a-202003{d:02d}-emilia" for d in (4, 9, 14, 19, 24, 29)]
    same = search(stac_api, datetime="2020-03", collections=["sentinel-2-l2a-emilia"])
    assert _ids(same) == _ids(items)


def test_ids_search(stac_api: str) -> None:
    wanted = ["s2-l2a-20190723-barbellino", "LC08_L2SP_008059_20191201_20200825_02_T1"]
    assert _ids(search(stac_api, ids=wanted)) == sorted(wanted)


def test_api_assets_open_locally(stac_api: str, built_catalog: Path) -> None:
    import rasterio

    (item,) = search(stac_api, ids=["gam-landuse-2020-costa-rica"])
    href = item.assets["landuse"].get_absolute_href()
    assert href.startswith("file:///") and str(built_catalog) in href
    with rasterio.open(href) as src:
        assert (src.height, src.width) == (4714, 7899)
    assert item.assets["landuse"].extra_fields["classification:classes"][0]["value"] == 1


def test_cql2_filter_on_cloud_cover(stac_api: str, catalog_items: dict) -> None:
    items = search(stac_api, collections=["landsat-8-l1-new-york"], filter="eo:cloud_cover < 5")
    assert _ids(items) == [
        "LC08_L1TP_013032_20180131_20180207_01_T1",
        "LC08_L1TP_013032_20180710_20180717_01_T1",
    ]
    # the API agrees with the static catalog over every collection, text and JSON forms alike
    expected = sorted(
        i.id for i in catalog_items.values() if i.properties.get("eo:cloud_cover", 101) <= 20
    )
    as_json = {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 20]}
    assert _ids(search(stac_api, filter=as_json)) == expected
    assert _ids(search(stac_api, filter="eo:cloud_cover <= 20")) == expected
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
    assert len(items) == 60 and _ids(items) == expected
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
    code = main(["catalog", "search", "--url", stac_api, "--collections", "landsat-8-l1-new-york",
                 "--filter", "eo:cloud_cover < 5", "--limit", "1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "LC08_L1TP_013032_20180710_20180717_01_T1" in out and "2 item(s)" in out
    code = main(["catalog", "search", "--url", stac_api, "--ids", "s2-l2a-20220612-south-tyrol",
                 "--json"])  # fmt: skip
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
    assert normalize_filter("eo:cloud_cover < 10") == {
        "op": "<", "args": [{"property": "eo:cloud_cover"}, 10]
    }  # fmt: skip
    with pytest.raises(InvalidInputError, match="is not valid CQL2 text"):
        normalize_filter("eo:cloud_cover <<< 10")
    with pytest.raises(InvalidInputError, match="with an 'op' key"):
        normalize_filter({"property": "x"})
    with pytest.raises(InvalidInputError, match="limit=0 must be an integer within 1-10000"):
        search("http://127.0.0.1:9", limit=0)
    with pytest.raises(InvalidInputError, match="must be an http"):
        search("ftp://example.org")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_server_down_is_a_clear_error() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(StacApiError, match=r"unreachable or failed.*ecocube catalog serve"):
        search(url, retry=NO_RETRY)
    code = main(["catalog", "search", "--url", url, "--max-retries", "0"])
    assert code == 1


LANDING = {
    "type": "Catalog", "id": "fake", "stac_version": "1.1.0", "description": "fake API",
    "conformsTo": ["https://api.stacspec.org/v1.0.0/core"], "links": [],
}  # fmt: skip


@contextmanager
def _fake_api(responses: list[tuple[int, str]]) -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server answering GETs with ``responses`` in turn (last one repeats)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body = responses[min(len(seen), len(responses) - 1)]
            seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_retries_on_5xx_with_backoff() -> None:
    from ecocube.catalog import open_client

    answers = [(503, "busy"), (502, "bad gateway"), (200, json.dumps(LANDING))]
    with _fake_api(answers) as (url, seen):
        client = open_client(url, retry=RetryPolicy(max_retries=3, backoff_factor=0.01))
        assert client.id == "fake" and len(seen) == 3
    with _fake_api(answers) as (url, seen):
        with pytest.raises(StacApiError, match="unreachable or failed"):
            open_client(url, retry=NO_RETRY)
        assert len(seen) == 1


def test_malformed_api_json_is_a_clear_error() -> None:
    with _fake_api([(200, "{not json")]) as (url, _):
        with pytest.raises(StacApiError, match="did not return a STAC API landing page"):
            search(url, retry=NO_RETRY)


def test_malformed_catalog_json_cannot_be_served(built_catalog: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(
        built_catalog / "sentinel-2-l2a-south-tyrol", broken / "sentinel-2-l2a-south-tyrol"
    )
    cat = json.loads((built_catalog / "catalog.json").read_text())
    cat["links"] = [
        link for link in cat["links"]
        if link["rel"] != "child" or "south-tyrol" in link["href"]
    ]  # fmt: skip
    (broken / "catalog.json").write_text(json.dumps(cat))
    item = broken / "sentinel-2-l2a-south-tyrol/s2-l2a-20220612-south-tyrol"
    (item / "s2-l2a-20220612-south-tyrol.json").write_text('{"type": "Feature", ')
    with pytest.raises(CatalogError, match=r"cannot read the catalog .*ecocube catalog validate"):
        with serve_catalog(broken):
            pass
    with pytest.raises(InvalidInputError, match=r"holds no catalog.json"):
        with serve_catalog(tmp_path / "nothing"):
            pass
    with pytest.raises(InvalidInputError, match="port=70000 must be within 0-65535"):
        with serve_catalog(broken, port=70000):
            pass


def test_server_stops_and_database_is_dropped(stac_api: str, tmp_path: Path, mirror: Path) -> None:
    import psycopg

    from ecocube.catalog import build_catalog
    from ecocube.catalog._server import _admin_dsn

    small = tmp_path / "small"
    build_catalog(small, ["landsat_c2l2_colombia"])

    def databases() -> set[str]:
        with psycopg.connect(_admin_dsn(None)) as conn:
            rows = conn.execute("SELECT datname FROM pg_database").fetchall()
        return {r[0] for r in rows if r[0].startswith("ecocube_stac_")}

    before = databases()
    with serve_catalog(small) as url:
        assert _ids(search(url, filter="eo:cloud_cover > 80")) == [
            "LC08_L2SP_008059_20191201_20200825_02_T1"
        ]
        assert len(databases() - before) == 1
    assert databases() == before
    with pytest.raises(StacApiError):
        search(url, retry=NO_RETRY)


def test_unreachable_postgres_is_a_clear_error(built_catalog: Path) -> None:
    dsn = f"postgresql://nobody:x@127.0.0.1:{_free_port()}/postgres"
    with pytest.raises(StacApiError, match=r"cannot reach PostgreSQL.*scripts/services.sh"):
        with serve_catalog(built_catalog, dsn=dsn):
            pass


def test_cli_serve_until_sigterm(stac_api: str, tmp_path: Path, mirror: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    from ecocube.catalog import build_catalog

    small = tmp_path / "small"
    build_catalog(small, ["s2_south_tyrol"])
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecocube", "catalog", "serve", str(small), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                items = search(url, retry=NO_RETRY)
                break
            except StacApiError:
                time.sleep(0.3)
        assert _ids(items) == ["s2-l2a-20220612-south-tyrol"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"STAC API at {url}" in out and "database dropped" in out
    with pytest.raises(StacApiError):
        search(url, retry=NO_RETRY)


# --- audit fixes: GET searches, port in use, null geometry, one-line CQL2 errors, options ---


def test_get_search_with_pystac_client(stac_api: str, catalog_items: dict) -> None:
    """GET /search: comma lists, bbox, datetime, filter and GET next links (was HTTP 500)."""
    from pystac_client import Client

    client = Client.open(stac_api)
    emilia = sorted(
        i.id for i in catalog_items.values() if i.collection_id == "sentinel-2-l2a-emilia"
    )
    pages = list(
        client.search(collections=["sentinel-2-l2a-emilia"], limit=7, method="GET").pages()
    )
    assert [len(p.items) for p in pages] == [7] * 8 + [4]
    assert _ids(i for p in pages for i in p.items) == emilia
    two = ["sentinel-2-l2a-emilia", "landsat-8-l1-new-york"]
    for kw in (
        {"collections": two},
        {"bbox": [-180, -90, 180, 90]},
        {"bbox": [11.9, 44.8, 12.1, 44.9], "datetime": "2020-03-01/2020-03-31"},
        {"filter": "eo:cloud_cover < 10"},
        {"filter": {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]}},
    ):
        got = _ids(client.search(method="GET", limit=7, **kw).items())
        assert got == _ids(client.search(method="POST", limit=7, **kw).items()), kw
        assert got
    assert len(_ids(client.search(method="GET", limit=7, bbox=[-180, -90, 180, 90]).items())) == 97
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
    """GET /collections/{id}/items?bbox=... (was HTTP 500 once a next link was due)."""
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
    from ecocube.catalog._server import query_from_search_body, search_body_from_query

    body = search_body_from_query(
        "collections=a,b&bbox=1,2,3,4&limit=7&datetime=2020-01-01T00:00:00Z/..&filter="
        "eo%3Acloud_cover%3C10&sortby=-datetime,%2Bid&fields=id,-assets&token=next:x"
    )
    assert body == {
        "collections": ["a", "b"], "bbox": [1.0, 2.0, 3.0, 4.0], "limit": 7,
        "datetime": "2020-01-01T00:00:00Z/..", "filter": "eo:cloud_cover<10",
        "filter-lang": "cql2-text",
        "sortby": [{"field": "datetime", "direction": "desc"}, {"field": "id", "direction": "asc"}],
        "fields": {"include": ["id"], "exclude": ["assets"]}, "token": "next:x",
    }  # fmt: skip
    assert search_body_from_query(query_from_search_body(body)) == body
    as_json = {"filter": {"op": "=", "args": [{"property": "id"}, "x"]}, "limit": 2}
    back = search_body_from_query(query_from_search_body(as_json))
    assert back == {**as_json, "filter-lang": "cql2-json"}
    with pytest.raises(ValueError, match="bbox='1,x' must be comma-separated numbers"):
        search_body_from_query("bbox=1,x")


def test_serve_on_a_port_in_use_is_a_clear_error(built_catalog: Path, capsys) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(StacApiError, match=rf"port {port} on 127.0.0.1 is already in use"):
            with serve_catalog(built_catalog, port=port):
                pass
        assert main(["catalog", "serve", str(built_catalog), "--port", str(port)]) == 1
    err = capsys.readouterr()
    assert "STAC API at" not in err.out
    assert f"port {port} on 127.0.0.1 is already in use" in err.err
    assert "--port" in err.err and "stop the other server" in err.err


def test_serve_on_the_port_of_another_stac_api_exits_1(
    stac_api: str, built_catalog: Path, capsys
) -> None:
    """The audit case: the other server answers /conformance, so readiness alone cannot tell."""
    port = int(stac_api.rsplit(":", 1)[1])
    assert main(["catalog", "serve", str(built_catalog), "--port", str(port)]) == 1
    out = capsys.readouterr()
    assert "STAC API at" not in out.out and f"port {port} on 127.0.0.1 is already in use" in out.err
    assert len(search(stac_api, ids=["s2-l2a-20220612-south-tyrol"])) == 1  # still serving


def test_null_geometry_is_refused_before_loading(tmp_path: Path, mirror: Path, capsys) -> None:
    from ecocube.catalog import build_catalog, validate_catalog

    cat = tmp_path / "nullgeom"
    build_catalog(cat, ["s2_south_tyrol"])
    rel = "sentinel-2-l2a-south-tyrol/s2-l2a-20220612-south-tyrol/s2-l2a-20220612-south-tyrol.json"
    obj = json.loads((cat / rel).read_text())
    obj["geometry"] = None
    obj.pop("bbox", None)
    (cat / rel).write_text(json.dumps(obj))
    (problem,) = validate_catalog(cat, check_checksums=False)
    assert str(problem.path) == rel and "geometry is null" in problem.message
    assert main(["catalog", "validate", str(cat), "--no-checksums"]) == 1
    assert f"{rel} (s2-l2a-20220612-south-tyrol): geometry is null" in capsys.readouterr().out
    with pytest.raises(CatalogError, match=r"south-tyrol\.json \(s2-l2a-20220612-south-tyrol\)"):
        with serve_catalog(cat, port=0, dsn="postgresql://nobody:x@127.0.0.1:1/none"):
            pass  # refused before any database is created (the DSN is never used)
    assert main(["catalog", "serve", str(cat), "--port", "0"]) == 1
    err = capsys.readouterr().err
    assert f"error: {rel} (s2-l2a-20220612-south-tyrol): geometry is null" in err
    assert "give the item a GeoJSON geometry" in err and "internal error" not in err


def test_invalid_cql2_is_one_line(capsys) -> None:
    with pytest.raises(InvalidInputError) as info:
        normalize_filter("eo:cloud_cover <<< 10")
    msg = str(info.value)
    assert "\n" not in msg and "1:17" in msg and "expected" in msg and "example:" in msg
    with pytest.raises(InvalidInputError) as info:
        normalize_filter({"op": "<", "args": "nope"})
    assert "\n" not in str(info.value)
    url = f"http://127.0.0.1:{_free_port()}"
    assert main(["catalog", "search", "--url", url, "--filter", "eo:cloud_cover <<< 10"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: filter=") and "1:17" in err


@pytest.mark.parametrize(
    ("option", "value"), [("--max-retries", "-1"), ("--limit", "0"), ("--max-items", "-2")]
)
def test_negative_search_options_are_refused(option: str, value: str, capsys) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
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
