"""A real STAC API over a static catalog: pgstac (PostgreSQL/PostGIS) served by ``rustac serve``.

:func:`serve_catalog` creates a fresh database on the PostgreSQL server named by
``ECOCUBE_PGSTAC_DSN`` (default: the local server ``scripts/services.sh`` installs and starts),
installs the pgstac schema with pypgstac, loads the catalog's collections and items (asset
hrefs become absolute ``file://`` URIs, so clients on this machine can open them), starts
``rustac serve --pgstac`` on a loopback port and waits until it answers. On exit the server is
stopped and the database dropped. pgstac gives the CQL2 FILTER extension, pagination, bbox,
datetime, ids and collections queries (see docs/stac_api.md for why this backend).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ecocube.errors import CatalogError, InvalidInputError, MissingDependencyError, StacApiError

__all__ = ["DEFAULT_PGSTAC_DSN", "ENV_PGSTAC_DSN", "pgstac_available", "serve_catalog"]

#: Environment variable naming the PostgreSQL server (a role allowed to create databases).
ENV_PGSTAC_DSN = "ECOCUBE_PGSTAC_DSN"
#: The server and role that ``scripts/services.sh`` sets up (loopback only).
DEFAULT_PGSTAC_DSN = "postgresql://ecocube:ecocube@127.0.0.1:5432/postgres"

_FIX = (
    "run `sudo bash scripts/services.sh` (installs and starts PostgreSQL 15 + PostGIS and the "
    f"'ecocube' role) or set {ENV_PGSTAC_DSN} to a PostgreSQL server where you may create databases"
)


def _admin_dsn(dsn: str | None) -> str:
    return dsn or os.environ.get(ENV_PGSTAC_DSN) or DEFAULT_PGSTAC_DSN


def _with_dbname(dsn: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params: dict[str, Any] = dict(conninfo_to_dict(dsn))
    params["dbname"] = dbname
    return make_conninfo("", **params)


def _url_dsn(dsn: str) -> str:
    """A ``postgresql://`` URL for rustac (it does not read key=value strings)."""
    from urllib.parse import quote

    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(dsn)
    auth = quote(str(p.get("user", "")), safe="")
    if p.get("password"):
        auth += ":" + quote(str(p["password"]), safe="")
    host = p.get("host", "127.0.0.1")
    return f"postgresql://{auth}@{host}:{p.get('port', 5432)}/{p['dbname']}"


def _psycopg() -> Any:
    try:
        import psycopg
    except ModuleNotFoundError as err:
        raise MissingDependencyError(
            "the STAC API needs pypgstac and psycopg; install them with: "
            "pip install 'pypgstac[psycopg]>=0.10,<0.11'"
        ) from err
    return psycopg


def pgstac_available(dsn: str | None = None) -> bool:
    """Whether the PostgreSQL server for pgstac answers (``dsn`` or ``ECOCUBE_PGSTAC_DSN``)."""
    try:
        psycopg = _psycopg()
        with psycopg.connect(_admin_dsn(dsn), connect_timeout=3):
            return True
    except Exception:
        return False


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _rustac() -> str:
    exe = Path(sys.executable).with_name("rustac")
    found = str(exe) if exe.is_file() else shutil.which("rustac")
    if not found:
        raise MissingDependencyError("the `rustac` command is missing; pip install 'rustac>=0.9'")
    return found


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
    except (json.JSONDecodeError, pystac.STACError, KeyError, TypeError, ValueError) as err:
        raise CatalogError(
            f"cannot read the catalog at {root}: {err}; run `ecocube catalog validate "
            f"{catalog_dir}` to list the invalid objects"
        ) from err
    if not collections:
        raise CatalogError(f"the catalog at {root} has no collections to serve")
    return collections, items


def _create_database(admin: str) -> str:
    psycopg = _psycopg()
    name = f"ecocube_stac_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
            conn.execute(f'ALTER DATABASE "{name}" SET search_path = pgstac, public')
    except psycopg.OperationalError as err:
        reason = " ".join(str(err).split())  # one-line error
        raise StacApiError(f"cannot reach PostgreSQL for pgstac ({reason}); {_FIX}") from err
    except psycopg.Error as err:
        reason = " ".join(str(err).split())
        raise StacApiError(f"cannot create a pgstac database ({reason}); {_FIX}") from err
    return name


def _drop_database(admin: str, name: str) -> None:
    psycopg = _psycopg()
    with contextlib.suppress(psycopg.Error):
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _load(dsn: str, collections: list[dict], items: list[dict]) -> None:
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods
    from pypgstac.migrate import Migrate

    with PgstacDB(dsn=dsn) as db:
        Migrate(db).run_migration()
        loader = Loader(db=db)
        loader.load_collections(iter(collections), insert_mode=Methods.insert)
        if items:
            loader.load_items(iter(items), insert_mode=Methods.insert)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-800:]
            raise StacApiError(f"rustac serve exited with code {proc.returncode}: {tail}")
        try:
            with urllib.request.urlopen(url + "/conformance", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise StacApiError(f"the STAC API at {url} did not answer within {timeout:.0f} s (log: {log})")


@contextlib.contextmanager
def serve_catalog(
    catalog_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    dsn: str | None = None,
    timeout: float = 60.0,
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
        ``ECOCUBE_PGSTAC_DSN`` or :data:`DEFAULT_PGSTAC_DSN`.
    timeout
        Seconds to wait for the server to answer.

    Yields
    ------
    str
        Root URL of the STAC API, e.g. ``"http://127.0.0.1:40123"``.

    Raises
    ------
    InvalidInputError
        If ``catalog_dir`` holds no catalog or ``port`` is out of range.
    CatalogError
        If the catalog JSON cannot be read.
    StacApiError
        If PostgreSQL is unreachable or the server does not start.

    Examples
    --------
    >>> with serve_catalog("out/catalog") as url:  # doctest: +SKIP
    ...     items = search(url, filter="eo:cloud_cover < 10")
    """
    if not 0 <= int(port) <= 65535:
        raise InvalidInputError(f"port={port!r} must be within 0-65535 (0 picks a free port)")
    catalog_dir = Path(catalog_dir).expanduser().resolve()
    collections, items = _read_catalog(catalog_dir)
    admin = _admin_dsn(dsn)
    name = _create_database(admin)
    proc: subprocess.Popen | None = None
    workdir = Path(tempfile.mkdtemp(prefix="ecocube-stac-api-"))
    try:
        db_dsn = _with_dbname(admin, name)
        # pgstac's migration creates cluster-wide roles: serialise concurrent migrations (other
        # test sessions, demos) with an advisory lock held on the admin database.
        with _psycopg().connect(admin, autocommit=True, connect_timeout=5) as lock:
            lock.execute("SELECT pg_advisory_lock(74027)")
            _load(db_dsn, collections, items)
        port = int(port) or _free_port(host)
        url = f"http://{host}:{port}"
        log = workdir / "rustac-serve.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [_rustac(), "serve", "--pgstac", _url_dsn(db_dsn), "--addr", f"{host}:{port}"],
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop it and drop the database
            )
        _wait_ready(url, proc, log, timeout)
        yield url
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _drop_database(admin, name)
        shutil.rmtree(workdir, ignore_errors=True)
