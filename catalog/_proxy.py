"""The public port of the STAC API: a small HTTP proxy in front of ``rustac serve``.

The proxy binds the requested port itself (a port in use is a clear error before anything
starts) and forwards requests to rustac on an internal loopback port. It turns ``GET /search``
into ``POST /search``: rustac 0.9 answers HTTP 500 "unsupported value" to GET searches with
``collections``/``bbox`` whenever it must write a GET ``next`` link. The ``next``/``prev``
links of converted searches are written back as GET links. For the same reason
``GET /collections/{id}/items?bbox=...`` goes as ``POST /search`` restricted to that
collection, and its links are written back as links of the items endpoint.

When the API is served beyond loopback, the proxy also serves the catalog's asset files,
read-only, under ``/assets/<path in the catalog folder>`` (HTTP range requests included):
only the files the served items list, never anything else on the machine.
"""

from __future__ import annotations

import errno
import http.client
import json
import re
import socket
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ecocube.errors import StacApiError

__all__ = [
    "ASSETS_PREFIX",
    "AssetFiles",
    "ProxyServer",
    "bind_proxy",
    "query_from_search_body",
    "search_body_from_query",
]

#: URL path under which the proxy serves asset files.
ASSETS_PREFIX = "/assets/"
_CHUNK = 1 << 20
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


@dataclass
class AssetFiles:
    """The files the proxy may serve: asset files, and the files inside asset folders (Zarr).

    Attributes
    ----------
    root
        The catalog folder; URL paths are relative to it.
    files
        Resolved paths of asset files.
    folders
        Resolved paths of asset folders (every file below one may be served).
    """

    root: Path
    files: set[Path] = field(default_factory=set)
    folders: set[Path] = field(default_factory=set)

    def add(self, path: Path) -> str:
        """Allow ``path`` (inside :attr:`root`); return its URL path under ``/assets/``."""
        resolved = path.resolve()
        rel = resolved.relative_to(self.root)  # the caller checked containment
        (self.folders if resolved.is_dir() else self.files).add(resolved)
        return ASSETS_PREFIX + urllib.parse.quote(rel.as_posix())

    def lookup(self, url_path: str) -> Path | None:
        """The file for a URL path under ``/assets/``, or ``None`` when it may not be served."""
        rel = urllib.parse.unquote(url_path[len(ASSETS_PREFIX) :])
        if not rel or "\x00" in rel:
            return None
        candidate = (self.root / rel).resolve()
        if not candidate.is_file():
            return None
        if candidate in self.files or any(candidate.is_relative_to(d) for d in self.folders):
            return candidate
        return None


_LIST_PARAMS = ("collections", "ids")
_ITEMS_PATH = re.compile(r"^/collections/([^/]+)/items/?$")
_HOP_HEADERS = frozenset(
    {
        *("connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"),
        *("proxy-connection", "te", "trailer", "upgrade", "accept-encoding", "host"),
    }
)


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


class ProxyServer(ThreadingHTTPServer):
    """The proxy: :attr:`backend` is rustac's ``(host, port)``; :attr:`assets` the files it
    serves under ``/assets/`` (``None``: none)."""

    daemon_threads = True
    backend: tuple[str, int]
    assets: AssetFiles | None = None


class _ProxyServer6(ProxyServer):
    address_family = socket.AF_INET6


class _ProxyHandler(BaseHTTPRequestHandler):
    """Forwards requests to rustac; ``GET /search`` goes as ``POST /search``.

    ``GET /collections/{id}/items`` with a ``bbox`` goes as ``POST /search`` with
    ``collections=[id]`` too (rustac 0.9 fails it with HTTP 500 whenever a ``next`` link is due).
    """

    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def log_message(self, *args: Any) -> None:  # quiet: the CLI prints its own lines
        pass

    def do_GET(self) -> None:
        path, _, query = self.path.partition("?")
        if path.startswith(ASSETS_PREFIX):
            self._send_asset(path, head=False)
            return
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
            data = json.dumps(body).encode()
            self._forward("POST", "/search", data, get_links=True, items_path=path)
        else:
            self._forward("GET", self.path, None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._forward("POST", self.path, self.rfile.read(length) if length else b"")

    def do_HEAD(self) -> None:
        path = self.path.partition("?")[0]
        if path.startswith(ASSETS_PREFIX):
            self._send_asset(path, head=True)
            return
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

    def _send_asset(self, path: str, *, head: bool) -> None:
        """Serve an asset file read-only, whole or one byte range (``Range: bytes=a-b``)."""
        assets = self.server.assets
        file = assets.lookup(path) if assets is not None else None
        if file is None:
            msg = {"code": "NotFound", "description": f"no asset at {path}"}
            self._reply(404, json.dumps(msg), head=head)
            return
        size = file.stat().st_size
        start, end = 0, size - 1
        status = 200
        wanted = _RANGE.match(self.headers.get("Range", "").strip())
        if wanted and (wanted.group(1) or wanted.group(2)):
            first, last = wanted.groups()
            if first:
                start, end = int(first), min(int(last), size - 1) if last else size - 1
            else:  # the last N bytes
                start = max(size - int(last), 0)
            if start > end or start >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        with file.open("rb") as fh:
            fh.seek(start)
            left = end - start + 1
            while left > 0:
                block = fh.read(min(_CHUNK, left))
                if not block:
                    break
                self.wfile.write(block)
                left -= len(block)

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
        links = [
            x
            for x in page.get("links") or []
            if not (isinstance(x, dict) and x.get("rel") in ("self", "collection"))
        ]
        collection = base + items_path.rstrip("/")[: -len("/items")]
        links.append({"rel": "self", "href": base + request, "type": "application/geo+json"})
        links.append({"rel": "collection", "href": collection, "type": "application/json"})
        page["links"] = links
        changed = True
    return json.dumps(page).encode() if changed else data


def bind_proxy(host: str, port: int) -> ProxyServer:
    """Bind the public port now: a port in use is reported before anything is started.

    Raises
    ------
    StacApiError
        The port is in use or cannot be bound on ``host``.
    """
    cls = _ProxyServer6 if ":" in host else ProxyServer
    try:
        return cls((host, port), _ProxyHandler)
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
