"""Serving a static catalog as a STAC API (ecocube.catalog._server): the composed server,
its lifecycle, its errors, and serving beyond loopback only with --public."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pystac
import pytest

from ecocube.catalog import RetryPolicy, search, serve_catalog
from ecocube.catalog._server import _publish_assets, is_loopback
from ecocube.cli import main
from ecocube.errors import CatalogError, InvalidInputError, StacApiError
from tests.catalog._http import free_port, ids

pytestmark = pytest.mark.network

NO_RETRY = RetryPolicy(max_retries=0, timeout=5)


def test_collections_listed(stac_api: str) -> None:
    from pystac_client import Client

    client = Client.open(stac_api)
    from ecocube.catalog import FAMILIES

    served = sorted(c.id for c in client.get_collections())
    assert served == sorted(f.collection_id for f in FAMILIES) and len(served) == 11
    assert client.conforms_to("FILTER")


def test_api_assets_open_locally(stac_api: str, built_catalog: Path) -> None:
    import rasterio

    (item,) = search(stac_api, ids=["gam-landuse-2020-costa-rica"])
    href = item.assets["landuse"].get_absolute_href()
    assert href.startswith("file:///") and str(built_catalog) in href
    with rasterio.open(href) as src:
        assert (src.height, src.width) == (4714, 7899)
    assert item.assets["landuse"].extra_fields["classification:classes"][0]["value"] == 1


def test_malformed_catalog_json_cannot_be_served(built_catalog: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(
        built_catalog / "sentinel-2-l2a-south-tyrol", broken / "sentinel-2-l2a-south-tyrol"
    )
    cat = json.loads((built_catalog / "catalog.json").read_text())
    cat["links"] = [
        link for link in cat["links"] if link["rel"] != "child" or "south-tyrol" in link["href"]
    ]
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
    from ecocube.catalog._postgres import admin_dsn

    small = tmp_path / "small"
    build_catalog(small, ["landsat_c2l2_colombia"])

    def databases() -> set[str]:
        with psycopg.connect(admin_dsn()) as conn:
            rows = conn.execute("SELECT datname FROM pg_database").fetchall()
        return {r[0] for r in rows if r[0].startswith("ecocube_stac_")}

    before = databases()
    with serve_catalog(small) as url:
        assert ids(search(url, filter="eo:cloud_cover > 80")) == [
            "LC08_L2SP_008059_20191201_20200825_02_T1"
        ]
        assert len(databases() - before) == 1
    assert databases() == before
    with pytest.raises(StacApiError):
        search(url, retry=NO_RETRY)


def test_unreachable_postgres_is_a_clear_error(built_catalog: Path) -> None:
    dsn = f"postgresql://nobody:x@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(StacApiError, match=r"cannot reach PostgreSQL.*scripts/services.sh"):
        with serve_catalog(built_catalog, dsn=dsn):
            pass


@contextmanager
def _cli_serve(catalog: Path, *options: str) -> Iterator[tuple[int, list[pystac.Item], dict]]:
    """``ecocube catalog serve CATALOG --port P OPTIONS`` in a subprocess, stopped by SIGTERM.

    Yields the port, the items a search through 127.0.0.1 finds once it answers, and a dict
    that receives ``code``, ``out`` and ``err`` when the server has stopped.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "ecocube", "catalog", "serve", str(catalog), "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    result: dict = {}
    try:
        deadline = time.monotonic() + 60
        items: list[pystac.Item] = []
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                items = list(search(f"http://127.0.0.1:{port}", retry=NO_RETRY))
                break
            except StacApiError:
                time.sleep(0.3)
        yield port, items, result
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        result.update(code=proc.returncode, out=out, err=err)


def test_cli_serve_until_sigterm(stac_api: str, tmp_path: Path, mirror: Path) -> None:
    from ecocube.catalog import build_catalog

    small = tmp_path / "small"
    build_catalog(small, ["s2_south_tyrol"])
    with _cli_serve(small) as (port, items, result):
        assert ids(items) == ["s2-l2a-20220612-south-tyrol"]
    url = f"http://127.0.0.1:{port}"
    assert result["code"] == 0, result
    assert f"STAC API at {url}" in result["out"] and "database dropped" in result["out"]
    with pytest.raises(StacApiError):
        search(url, retry=NO_RETRY)


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


# --- beyond loopback: only with --public, assets served by URL --------------------------------


def test_loopback_hosts() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("127.0.0.2") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("::")


def test_a_host_beyond_loopback_needs_public(built_catalog: Path, capsys) -> None:
    with pytest.raises(
        InvalidInputError, match=r"host='0.0.0.0' is not a loopback address.*--public"
    ):
        with serve_catalog(built_catalog, host="0.0.0.0", dsn="postgresql://nobody@127.0.0.1:1/x"):
            pass  # refused before any port is bound or database created
    assert main(["catalog", "serve", str(built_catalog), "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr()
    assert (
        "STAC API at" not in err.out and "--public" in err.err and "internal error" not in err.err
    )


def test_public_assets_outside_the_catalog_are_refused(tmp_path: Path) -> None:
    inside = tmp_path / "cat" / "c" / "i" / "a.tif"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"II*\x00")
    items = [{"id": "i", "assets": {"a": {"href": inside.as_uri()}, "w": {"href": "https://x/y"}}}]
    files = _publish_assets(items, tmp_path / "cat", "http://host:1")
    assert items[0]["assets"]["a"]["href"] == "http://host:1/assets/c/i/a.tif"
    assert items[0]["assets"]["w"]["href"] == "https://x/y"  # remote assets stay as they are
    assert files.lookup("/assets/c/i/a.tif") == inside.resolve()
    outside = [{"id": "j", "assets": {"p": {"href": "file:///etc/passwd"}}}]
    with pytest.raises(CatalogError, match=r"asset 'p' of item 'j' is /etc/passwd, outside the"):
        _publish_assets(outside, tmp_path / "cat", "http://host:1")


def test_cli_serve_public_serves_assets_by_url(stac_api: str, tmp_path: Path, mirror: Path) -> None:
    import urllib.error

    import rasterio

    from ecocube.catalog import build_catalog

    small = tmp_path / "small"
    build_catalog(small, ["s2_south_tyrol"])
    with _cli_serve(small, "--host", "0.0.0.0", "--public") as (port, items, result):
        local = f"http://127.0.0.1:{port}"
        (item,) = items
        hrefs = [a.href for a in item.assets.values()]
        assert all(f":{port}/assets/sentinel-2-l2a-south-tyrol/" in h for h in hrefs), hrefs
        assert not any(str(small) in h or h.startswith("file:") for h in hrefs)
        asset = next(a for _, a in sorted(item.assets.items()) if "tiff" in (a.media_type or ""))
        path = asset.href.split(f":{port}", 1)[1]
        local_file = small / urllib.request.url2pathname(path[len("/assets/") :])
        with urllib.request.urlopen(local + path) as resp:
            assert resp.read() == local_file.read_bytes()
        ranged = urllib.request.Request(local + path, headers={"Range": "bytes=10-19"})
        with urllib.request.urlopen(ranged) as resp:
            assert resp.status == 206 and resp.read() == local_file.read_bytes()[10:20]
        with rasterio.open(local + path) as src:  # GDAL reads it over HTTP
            with rasterio.open(local_file) as ref:
                assert (src.width, src.height, src.count) == (ref.width, ref.height, ref.count)
        escapes = ("/assets/..%2F..%2F..%2Fetc%2Fpasswd", "/assets/../../../../etc/passwd")
        for bad in ("/assets/catalog.json", *escapes):
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(local + bad)
            assert err.value.code == 404, bad
    assert result["code"] == 0, result
    assert "warning: the STAC API at http://" in result["err"]
    assert "without authentication" in result["err"]
    assert "STAC API at http://" in result["out"] and f":{port}" in result["out"]
