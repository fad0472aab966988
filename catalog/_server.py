"""A real STAC API over a static catalog: pgstac (PostgreSQL/PostGIS) served by ``rustac serve``.

:func:`serve_catalog` composes three parts: a fresh pgstac database for the catalog
(:mod:`ecocube.catalog._postgres`), the ``rustac serve --pgstac`` process on an internal
loopback port (:mod:`ecocube.catalog._rustac`) and the proxy that holds the public port
(:mod:`ecocube.catalog._proxy`). On exit the server is stopped and the database dropped.
pgstac gives the CQL2 FILTER extension, pagination, bbox, datetime, ids and collections queries
(see docs/stac_api.md for why this backend).

On loopback (the default) asset hrefs are absolute ``file://`` URIs, so clients on this machine
open the files directly. The API has no authentication: any other interface needs
``public=True``, and then the asset files are served by the proxy under ``/assets/`` and the
hrefs are URLs of the API (a local path means nothing to another machine, and names the
server's folders).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import socket
import tempfile
import threading
import urllib.parse
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ecocube.catalog._postgres import (
    DEFAULT_PGSTAC_DSN,
    ENV_PGSTAC_DSN,
    admin_dsn,
    create_database,
    drop_database,
    load_catalog,
    pgstac_available,
    url_dsn,
    with_dbname,
)
from ecocube.catalog._proxy import AssetFiles, bind_proxy
from ecocube.catalog._rustac import start_rustac, stop_process
from ecocube.catalog._validate import NULL_GEOMETRY
from ecocube.errors import CatalogError, EcocubeWarning, InvalidInputError

__all__ = [
    "DEFAULT_PGSTAC_DSN",
    "ENV_PGSTAC_DSN",
    "PublicServerWarning",
    "is_loopback",
    "pgstac_available",
    "serve_catalog",
]


class PublicServerWarning(EcocubeWarning):
    """The STAC API listens beyond loopback: anyone who reaches the port can read the catalog."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reached only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _public_url(host: str, port: int) -> str:
    """The URL clients use: a wildcard address is replaced by this machine's name."""
    wildcard = host in ("", "0.0.0.0", "::")
    name = socket.gethostname() if wildcard else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def _read_catalog(catalog_dir: Path) -> tuple[list[dict], list[dict]]:
    """Collections and items of a static catalog as dicts, with ``file://`` asset hrefs."""
    import pystac

    root = catalog_dir / "catalog.json"
    if not root.is_file():
        raise InvalidInputError(
            f"catalog_dir={str(catalog_dir)!r} holds no catalog.json; build one with "
            "`ecocube catalog build --out DIR`"
        )
    try:
        catalog = pystac.Catalog.from_file(str(root))
        collections, items = [], []
        for col in sorted(catalog.get_all_collections(), key=lambda c: c.id):
            d = col.to_dict(include_self_link=False, transform_hrefs=False)
            d["links"] = []
            collections.append(d)
            for item in sorted(col.get_items(recursive=True), key=lambda i: i.id):
                if item.geometry is None:
                    href = Path(item.get_self_href() or item.id)
                    with contextlib.suppress(ValueError):
                        href = href.relative_to(catalog_dir)
                    raise CatalogError(f"{href} ({item.id}): {NULL_GEOMETRY}")
                item.make_asset_hrefs_absolute()
                for asset in item.assets.values():
                    # file:// URIs: a bare path would be resolved against the API's http URL
                    # by clients (pystac's get_absolute_href); rasterio/GDAL open file:// URIs.
                    if "://" not in asset.href:
                        asset.href = Path(asset.href).as_uri()
                di = item.to_dict(include_self_link=False, transform_hrefs=False)
                di["links"] = []
                di["collection"] = col.id
                items.append(di)
    except CatalogError:
        raise
    except (json.JSONDecodeError, pystac.STACError, KeyError, TypeError, ValueError) as err:
        raise CatalogError(
            f"cannot read the catalog at {root}: {err}; run `ecocube catalog validate "
            f"{catalog_dir}` to list the invalid objects"
        ) from err
    if not collections:
        raise CatalogError(f"the catalog at {root} has no collections to serve")
    return collections, items


def _publish_assets(items: list[dict[str, Any]], catalog_dir: Path, url: str) -> AssetFiles:
    """Point the ``file://`` asset hrefs of ``items`` at the proxy (``url/assets/...``).

    Raises
    ------
    CatalogError
        An asset lies outside ``catalog_dir``: only the catalog folder is ever served.
    """
    files = AssetFiles(root=catalog_dir)
    for item in items:
        for key, asset in (item.get("assets") or {}).items():
            href = str(asset.get("href", ""))
            if not href.startswith("file://"):
                continue
            path = Path(urllib.parse.unquote(urllib.parse.urlparse(href).path)).resolve()
            if not path.is_relative_to(catalog_dir):
                raise CatalogError(
                    f"asset {key!r} of item {item.get('id')!r} is {path}, outside the catalog "
                    f"folder {catalog_dir}; a public server only serves files inside it: move "
                    "the file into the catalog (or drop the asset), or serve on loopback"
                )
            asset["href"] = url + files.add(path)
    return files


@contextlib.contextmanager
def serve_catalog(
    catalog_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    dsn: str | None = None,
    timeout: float = 60.0,
    public: bool = False,
) -> Iterator[str]:
    """Serve a static catalog as a STAC API for the duration of a ``with`` block.

    Parameters
    ----------
    catalog_dir
        Folder holding ``catalog.json`` (from :func:`ecocube.catalog.build_catalog`).
    host
        Interface to bind; loopback by default.
    port
        TCP port; ``0`` picks a free one.
    dsn
        PostgreSQL server for pgstac (a role that may create databases); default
        ``ECOCUBE_PGSTAC_DSN``, else the DSN file ``scripts/services.sh`` writes
        (``~/.config/ecocube/pgstac.dsn``).
    timeout
        Seconds to wait for the server to answer.
    public
        Required for a ``host`` that is not loopback (the API has no authentication); asset
        files are then served under ``/assets/`` and a :class:`PublicServerWarning` is issued.

    Yields
    ------
    str
        Root URL of the STAC API, e.g. ``"http://127.0.0.1:40123"``.

    Raises
    ------
    InvalidInputError
        ``catalog_dir`` holds no catalog, ``port`` is out of range, or ``host`` is not
        loopback and ``public`` is false.
    CatalogError
        The catalog JSON cannot be read, or (public) an asset lies outside ``catalog_dir``.
    StacApiError
        PostgreSQL is unreachable, the port is in use, or the server does not start.

    Examples
    --------
    >>> with serve_catalog("out/catalog") as url:  # doctest: +SKIP
    ...     items = search(url, filter="eo:cloud_cover < 10")
    """
    if not 0 <= int(port) <= 65535:
        raise InvalidInputError(f"port={port!r} must be within 0-65535 (0 picks a free port)")
    loopback = is_loopback(host)
    if not loopback and not public:
        raise InvalidInputError(
            f"host={host!r} is not a loopback address: the STAC API has no authentication and "
            "anyone who reaches the port could read the catalog and its files; pass --public "
            "(public=True) to serve to the network, or keep the default host 127.0.0.1"
        )
    catalog_dir = Path(catalog_dir).expanduser().resolve()
    collections, items = _read_catalog(catalog_dir)
    proxy = bind_proxy(host, int(port))  # the public port, bound before anything starts
    url = _public_url(host, int(proxy.server_address[1]))
    try:
        if not loopback:
            proxy.assets = _publish_assets(items, catalog_dir, url)
            warnings.warn(
                f"the STAC API at {url} listens on {host}, beyond this machine, without "
                f"authentication: anyone who reaches the port can read the catalog and the "
                f"asset files of {catalog_dir}",
                PublicServerWarning,
                stacklevel=3,
            )
        admin = admin_dsn(dsn)
        name = create_database(admin)
    except BaseException:
        proxy.server_close()
        raise
    proc = None
    thread: threading.Thread | None = None
    workdir = Path(tempfile.mkdtemp(prefix="ecocube-stac-api-"))
    try:
        db_dsn = with_dbname(admin, name)
        load_catalog(admin, db_dsn, collections, items)
        backend = ("127.0.0.1", _free_port("127.0.0.1"))
        # rustac writes hrefs under the public URL and listens on loopback behind the proxy
        proc = start_rustac(
            url_dsn(db_dsn),
            public_url=url,
            bind=f"{backend[0]}:{backend[1]}",
            log=workdir / "rustac-serve.log",
            timeout=timeout,
        )
        proxy.backend = backend
        thread = threading.Thread(target=proxy.serve_forever, name="stac-api-proxy", daemon=True)
        thread.start()
        yield url
    finally:
        if thread is not None:
            proxy.shutdown()
        proxy.server_close()
        if proc is not None:
            stop_process(proc)
        drop_database(admin, name)
        shutil.rmtree(workdir, ignore_errors=True)
