"""A real STAC API over a static catalog: pgstac (PostgreSQL/PostGIS) served by ``rustac serve``.

:func:`serve_catalog` creates a fresh database on the PostgreSQL server named by
``ECOCUBE_PGSTAC_DSN`` (default: the local server ``scripts/services.sh`` installs and starts),
installs the pgstac schema with pypgstac, loads the catalog's collections and items (asset
hrefs become absolute ``file://`` URIs, so clients on this machine can open them), starts
``rustac serve --pgstac`` on an internal loopback port behind a small in-process proxy bound to
the requested port, and waits until it answers. On exit the server is stopped and the database
dropped. pgstac gives the CQL2 FILTER extension, pagination, bbox, datetime, ids and collections
queries (see docs/stac_api.md for why this backend).

The proxy binds the public port itself (a port in use is a clear error before anything starts)
and turns ``GET /search`` into ``POST /search``: rustac 0.9 answers HTTP 500 "unsupported value"
to GET searches with ``collections``/``bbox`` whenever it must write a GET ``next`` link. The
``next``/``prev`` links of converted searches are written back as GET links. For the same
reason ``GET /collections/{id}/items?bbox=...`` goes as ``POST /search`` restricted to that
collection, and its links are written back as links of the items endpoint.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ecocube.catalog._validate import NULL_GEOMETRY
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


# --- the public port: a small proxy in front of rustac ---------------------------------------

_LIST_PARAMS = ("collections", "ids")
_ITEMS_PATH = re.compile(r"^/collections/([^/]+)/items/?$")
_HOP_HEADERS = {
    "connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding",
    "proxy-connection", "te", "trailer", "upgrade", "accept-encoding", "host",
}  # fmt: skip


def search_body_from_query(query: str) -> dict[str, Any]:
    """The ``POST /search`` body equivalent to a ``GET /search`` query string.

    ``collections``/``ids`` are comma-separated lists, ``bbox`` comma-separated numbers,
    ``limit`` an integer, ``intersects`` GeoJSON, ``filter`` CQL2 text (or CQL2-JSON with
    ``filter-lang=cql2-json``), ``sortby`` ``+a,-b`` and ``fields`` ``a,-b``; anything else is
    passed on as a string.

    Raises
    ------
    ValueError
        A parameter that cannot be converted (the proxy answers HTTP 400 with the message).
    """
    body: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=False):
        if key in _LIST_PARAMS:
            body[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key == "bbox":
            try:
                body[key] = [float(v) for v in value.split(",")]
            except ValueError:
                raise ValueError(f"bbox={value!r} must be comma-separated numbers") from None
        elif key == "limit":
            try:
                body[key] = int(value)
            except ValueError:
                raise ValueError(f"limit={value!r} must be an integer") from None
        elif key == "intersects":
            try:
                body[key] = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError("intersects must be a GeoJSON geometry") from None
        elif key == "sortby":
            body[key] = [
                {"field": f.lstrip("+-"), "direction": "desc" if f.startswith("-") else "asc"}
                for f in (v.strip() for v in value.split(","))
                if f
            ]
        elif key == "fields":
            names = [v.strip() for v in value.split(",") if v.strip()]
            body[key] = {
                "include": [n.lstrip("+") for n in names if not n.startswith("-")],
                "exclude": [n[1:] for n in names if n.startswith("-")],
            }
        else:
            body[key] = value
    if isinstance(body.get("filter"), str) and body.get("filter-lang") == "cql2-json":
        try:
            body["filter"] = json.loads(body["filter"])
        except json.JSONDecodeError:
            raise ValueError("filter is not valid CQL2-JSON") from None
    elif "filter" in body:
        body.setdefault("filter-lang", "cql2-text")
    return body


def query_from_search_body(body: dict[str, Any]) -> str:
    """The ``GET /search`` query string of a ``POST /search`` body (inverse of the above)."""
    params: dict[str, str] = {}
    for key, value in body.items():
        if value is None:
            continue
        if key in ("bbox", *_LIST_PARAMS) and isinstance(value, list):
            params[key] = ",".join(str(v) for v in value)
        elif key == "sortby" and isinstance(value, list):
            params[key] = ",".join(
                ("-" if s.get("direction") == "desc" else "+") + str(s.get("field")) for s in value
            )
        elif key == "fields" and isinstance(value, dict):
            include = [str(v) for v in value.get("include") or []]
            params[key] = ",".join(include + ["-" + str(v) for v in value.get("exclude") or []])
        elif isinstance(value, dict | list):
            params[key] = json.dumps(value, separators=(",", ":"))
        else:
            params[key] = str(value)
    if isinstance(body.get("filter"), dict | list):
        params["filter-lang"] = "cql2-json"
    return urllib.parse.urlencode(list(params.items()))


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    backend: tuple[str, int]


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards requests to rustac; ``GET /search`` goes as ``POST /search``.

    ``GET /collections/{id}/items`` with a ``bbox`` goes as ``POST /search`` with
    ``collections=[id]`` too (rustac 0.9 fails it with HTTP 500 whenever a ``next`` link is due).
    """

    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, *args: Any) -> None:  # quiet: the CLI prints its own lines
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path.rstrip("/") == "/search":
            try:
                body = search_body_from_query(query)
            except ValueError as err:
                self._reply(400, json.dumps({"code": "BadRequest", "description": str(err)}))
                return
            self._forward("POST", "/search", json.dumps(body).encode(), get_links=True)
            return
        items = _ITEMS_PATH.match(path)
        if items and "bbox" in urllib.parse.parse_qs(query):
            try:
                body = search_body_from_query(query)
            except ValueError as err:
                self._reply(400, json.dumps({"code": "BadRequest", "description": str(err)}))
                return
            body["collections"] = [urllib.parse.unquote(items.group(1))]
            self._forward("POST", "/search", json.dumps(body).encode(), get_links=True,
                          items_path=path)  # fmt: skip
        else:
            self._forward("GET", self.path, None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._forward("POST", self.path, self.rfile.read(length) if length else b"")

    def do_HEAD(self) -> None:
        self._forward("HEAD", self.path, None)

    def do_OPTIONS(self) -> None:
        self._forward("OPTIONS", self.path, None)

    def _forward(
        self,
        method: str,
        path: str,
        body: bytes | None,
        get_links: bool = False,
        items_path: str | None = None,
    ) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS}
        if body is not None:
            headers["Content-Length"] = str(len(body))
            if get_links:
                headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(*self.server.backend, timeout=300)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status, ctype = resp.status, resp.getheader("Content-Type", "application/json")
        except OSError as err:
            self._reply(502, json.dumps({"code": "BadGateway", "description": str(err)}))
            return
        finally:
            conn.close()
        if get_links and status == 200:
            data = _links_as_get(data, items_path, self.path)
        self._reply(status, data, ctype, head=method == "HEAD")

    def _reply(
        self, status: int, data: bytes | str, ctype: str = "application/json", head: bool = False
    ) -> None:
        raw = data.encode() if isinstance(data, str) else data
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if not head:
            self.wfile.write(raw)


def _links_as_get(data: bytes, items_path: str | None = None, request: str = "") -> bytes:
    """Rewrite the POST ``next``/``prev`` links of a search page as GET links.

    With ``items_path`` (``/collections/{id}/items``) the page answers a GET on that items
    endpoint: the paging links point back to it (without ``collections``), ``self`` is the
    request (``request``: its path and query) and a ``collection`` link is added.
    """
    try:
        page = json.loads(data)
    except json.JSONDecodeError:
        return data
    if not isinstance(page, dict):
        return data
    changed = False
    base = ""
    for link in page.get("links") or []:
        if not isinstance(link, dict):
            continue
        href = str(link.get("href", "")).split("?", 1)[0]
        if href.endswith("/search"):
            base = href[: -len("/search")]
        if link.get("method") == "POST" and "body" in link:
            body = link.pop("body") or {}
            if items_path is not None:
                body.pop("collections", None)
                href = base + items_path
            link["href"] = f"{href}?{query_from_search_body(body)}"
            link["method"] = "GET"
            link.pop("merge", None)
            changed = True
    if items_path is not None and base:
        links = [x for x in page.get("links") or [] if not (
            isinstance(x, dict) and x.get("rel") in ("self", "collection"))]  # fmt: skip
        links.append({"rel": "self", "href": base + request, "type": "application/geo+json"})
        links.append({"rel": "collection", "href": base + items_path.rstrip("/")[: -len("/items")],
                      "type": "application/json"})  # fmt: skip
        page["links"] = links
        changed = True
    return json.dumps(page).encode() if changed else data


def _bind_proxy(host: str, port: int) -> _ProxyServer:
    """Bind the public port now: a port in use is reported before anything is started."""
    try:
        return _ProxyServer((host, port), _ProxyHandler)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise StacApiError(
                f"port {port} on {host} is already in use (another server, perhaps another "
                f"`ecocube catalog serve`); choose another with --port N (0 picks a free port) "
                "or stop the other server"
            ) from err
        raise StacApiError(
            f"cannot listen on {host}:{port} ({err}); choose another --host/--port"
        ) from err


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
    proxy = _bind_proxy(host, int(port))  # the public port, bound before anything starts
    url = f"http://{host}:{proxy.server_address[1]}"
    admin = _admin_dsn(dsn)
    try:
        name = _create_database(admin)
    except BaseException:
        proxy.server_close()
        raise
    proc: subprocess.Popen | None = None
    thread: threading.Thread | None = None
    workdir = Path(tempfile.mkdtemp(prefix="ecocube-stac-api-"))
    try:
        db_dsn = _with_dbname(admin, name)
        # pgstac's migration creates cluster-wide roles: serialise concurrent migrations (other
        # test sessions, demos) with an advisory lock held on the admin database.
        with _psycopg().connect(admin, autocommit=True, connect_timeout=5) as lock:
            lock.execute("SELECT pg_advisory_lock(74027)")
            _load(db_dsn, collections, items)
        backend = ("127.0.0.1", _free_port("127.0.0.1"))
        log = workdir / "rustac-serve.log"
        addr = f"{backend[0]}:{backend[1]}"
        # --addr: the base of the hrefs in the responses (the public proxy URL); --bind: where
        # rustac listens (loopback, reached only through the proxy)
        cmd = [_rustac(), "serve", "--pgstac", _url_dsn(db_dsn), "--addr", url, "--bind", addr]
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                cmd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop it and drop the database
            )
        _wait_ready(f"http://{addr}", proc, log, timeout)
        proxy.backend = backend
        thread = threading.Thread(target=proxy.serve_forever, name="stac-api-proxy", daemon=True)
        thread.start()
        yield url
    finally:
        if thread is not None:
            proxy.shutdown()
        proxy.server_close()
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _drop_database(admin, name)
        shutil.rmtree(workdir, ignore_errors=True)
