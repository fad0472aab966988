"""Read STAC items from any source: pystac objects, a static catalog on disk or a STAC API.

Static catalogs are walked link by link, so a broken link is named with the file it points to
and the fix, and only the collections asked for are read where possible. STAC APIs are searched
through :func:`ecocube.catalog.open_client` (retries, backoff, timeouts).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ecocube.errors import CatalogError, InvalidInputError

__all__ = ["all_items", "catalog_items", "load_items", "read_error_cause", "read_link"]


def load_items(
    source: Any,
    *,
    bbox: Sequence[float] | None = None,
    time: tuple[datetime | None, datetime | None] | None = None,
    collections: Sequence[str] | None = None,
) -> list[Any]:
    """Return a list of ``pystac.Item`` from items, an ItemCollection, a catalog or an API URL.

    Parameters
    ----------
    source
        An iterable of ``pystac.Item`` (e.g. ``ItemSearch.items()``), a ``pystac`` catalog or
        collection, a path to a static catalog (folder or ``catalog.json``) or a STAC API URL
        (searched through :func:`ecocube.catalog.open_client`).
    bbox
        ``(west, south, east, north)`` in degrees; filters API searches only.
    time
        ``(start, end)``, either end ``None`` for open (naive values are UTC); filters API
        searches only.
    collections
        Collection ids wanted (static catalogs read only these where possible).

    Returns
    -------
    list of pystac.Item

    Raises
    ------
    CatalogError
        No catalog at the path, a file or link that cannot be read as STAC, or an unknown
        collection (the available ids are listed).
    InvalidInputError
        ``source`` is not a STAC source, or holds objects that are not pystac Items.
    StacApiError
        The STAC API is unreachable, fails or is not a STAC API.
    """
    import pystac

    if isinstance(source, (str, Path)):
        text = str(source)
        if text.startswith(("http://", "https://")) and not text.endswith(".json"):
            return _search_api(text, bbox=bbox, time=time, collections=collections)
        path = Path(text[7:] if text.startswith("file://") else text)
        if path.is_dir():
            path = path / "catalog.json"
        if not path.is_file():
            raise CatalogError(
                f"catalog={source!r}: no STAC catalog found (expected a folder with catalog.json, "
                "a catalog.json file or a STAC API URL); build one with `ecocube catalog build`"
            )
        try:
            cat = pystac.read_file(str(path))
        except Exception as err:  # pystac raises several unrelated types
            raise CatalogError(
                f"catalog={source!r}: {path} cannot be read as STAC ({read_error_cause(err)}); "
                f"rebuild the catalog with `ecocube catalog build --out {path.parent}`"
            ) from err
        source = cat
    if isinstance(source, pystac.Item):
        return [source]
    if isinstance(source, (pystac.Catalog, pystac.Collection)):
        return catalog_items(source, collections=collections)
    if isinstance(source, pystac.ItemCollection):
        return list(source.items)
    try:
        items = list(source)
    except TypeError as err:
        raise InvalidInputError(
            f"items={type(source).__name__} is not a STAC source; pass pystac Items, a catalog "
            "path or a STAC API URL"
        ) from err
    bad = [type(i).__name__ for i in items if not isinstance(i, pystac.Item)]
    if bad:
        raise InvalidInputError(
            f"items contains {sorted(set(bad))} objects; every element must be a pystac.Item "
            "(use pystac.Item.from_dict for JSON dictionaries)"
        )
    return items


def read_error_cause(err: BaseException) -> str:
    """Why a STAC file could not be read, from pystac's exception and the one it wraps."""
    import json

    import pystac

    cause = err.__cause__ if isinstance(err, pystac.STACError) and err.__cause__ else err
    if isinstance(cause, FileNotFoundError):
        return "the file does not exist"
    if isinstance(cause, json.JSONDecodeError) or "json" in type(cause).__name__.lower():
        return f"the file is not valid JSON: {cause}"
    if isinstance(cause, pystac.STACTypeError):
        return f"the file is not a STAC object: {cause}"
    return f"{type(cause).__name__}: {cause}"


def _catalog_label(node: Any) -> str:
    root = node.get_root() or node
    href = root.get_self_href()
    return str(Path(href).parent) if href else f"<in-memory catalog {root.id!r}>"


def read_link(owner: Any, link: Any, *, fix: str | None = None) -> Any:
    """Resolve one link of a static catalog; raise :class:`CatalogError` naming it if it is broken.

    Parameters
    ----------
    owner
        The catalog, collection or item holding ``link``.
    link
        A ``pystac.Link`` (``child`` or ``item``).
    fix
        What to do about a broken link (default: rebuild the catalog).

    Returns
    -------
    pystac.STACObject
        The object the link points to.

    Raises
    ------
    CatalogError
        When the target file is missing, is not JSON or is not a STAC object.
    """
    import pystac

    if link.is_resolved():
        return link.target
    where = _catalog_label(owner)
    try:
        link.resolve_stac_object(root=owner.get_root())
    except Exception as err:  # pystac wraps every read problem in STACError
        target = link.get_absolute_href() or link.href
        owner_href = owner.get_self_href() or f"{type(owner).__name__} {owner.id!r}"
        if fix is None:
            fix = (
                f"rebuild the catalog with `ecocube catalog build --out {where}` (or repair or "
                f"remove the link; `ecocube catalog validate {where}` lists every problem)"
            )
        raise CatalogError(
            f"catalog {where} is damaged: the {link.rel!r} link {link.href!r} in {owner_href} "
            f"points to {target}, which cannot be read ({read_error_cause(err)}); {fix}"
        ) from err
    obj = link.target
    expected = pystac.Item if link.rel == pystac.RelType.ITEM else pystac.Catalog
    if not isinstance(obj, expected):
        raise CatalogError(
            f"catalog {where} is damaged: the {link.rel!r} link {link.href!r} in "
            f"{owner.get_self_href()} points to a {type(obj).__name__}, not a "
            f"{expected.__name__}; rebuild the catalog with `ecocube catalog build --out {where}`"
        )
    return obj


def _link_stem(link: Any) -> str:
    """Folder name of a child link (``./chelsa/collection.json`` -> ``chelsa``)."""
    href = link.get_href(transform_href=False) or ""
    parts = [p for p in href.replace("\\", "/").split("/") if p not in ("", ".")]
    return parts[-2] if len(parts) >= 2 else Path(href).stem


def all_items(node: Any, fix: str | None = None) -> list[Any]:
    """Every item under ``node``, resolving each link with a clear error if it is broken."""
    items = [read_link(node, link, fix=fix) for link in node.get_item_links()]
    for link in node.get_child_links():
        items.extend(all_items(read_link(node, link, fix=fix), fix))
    return items


def _find_collections(
    node: Any, wanted: set[str], found: dict[str, Any], seen: set[str], loose: list[Any]
) -> None:
    """Walk the child links, recording wanted collections in ``found``, every collection id in
    ``seen`` and the items of plain (non-collection) catalogs in ``loose``; the items of
    unwanted collections are never read."""
    import pystac

    for link in node.get_child_links():
        child = read_link(node, link)
        if isinstance(child, pystac.Collection):
            seen.add(child.id)
            if child.id in wanted:
                found.setdefault(child.id, child)
                continue
        else:
            loose.extend(read_link(child, lk) for lk in child.get_item_links())
        _find_collections(child, wanted, found, seen, loose)


def catalog_items(catalog: Any, *, collections: Sequence[str] | None = None) -> list[Any]:
    """Items of a static catalog, reading only the requested collections where possible.

    Parameters
    ----------
    catalog
        A ``pystac.Catalog`` or ``pystac.Collection`` (e.g. read from ``catalog.json``).
    collections
        Collection ids wanted. The child links whose folder is named after a wanted id are read
        first, so a broken link elsewhere in the catalog does not matter; the other links are
        read only when a wanted collection is not found that way.

    Returns
    -------
    list of pystac.Item
        With ``collections``: the items of those collections (plus any items held directly by
        plain catalogs); without: every item.

    Raises
    ------
    CatalogError
        A link that has to be read is broken (missing file, malformed JSON, not STAC), or a
        requested collection is not in the catalog (the available ids are listed).
    """
    import pystac

    if not collections or isinstance(catalog, pystac.Collection):
        return all_items(catalog)
    wanted = set(collections)
    found: dict[str, Any] = {}
    loose = [read_link(catalog, link) for link in catalog.get_item_links()]
    for link in catalog.get_child_links():
        if _link_stem(link) in wanted:
            child = read_link(catalog, link)
            if isinstance(child, pystac.Collection) and child.id in wanted:
                found.setdefault(child.id, child)
    if set(found) != wanted:
        seen: set[str] = set()
        _find_collections(catalog, wanted, found, seen, loose)
        seen |= {i.collection_id for i in loose if i.collection_id}
        missing = sorted(wanted - set(found) - seen)
        if missing:
            raise CatalogError(
                f"collections={list(collections)!r}: unknown collection(s) {missing}; the "
                f"catalog {_catalog_label(catalog)} holds {sorted(seen)}"
            )
    items = [i for i in loose if (i.collection_id or "") in wanted]
    for cid in collections:
        if cid in found:
            items.extend(all_items(found.pop(cid)))
    return items


def _search_api(
    url: str,
    *,
    bbox: Sequence[float] | None,
    time: tuple[datetime | None, datetime | None] | None,
    collections: Sequence[str] | None,
) -> list[Any]:
    """Items of a STAC API search, through the one client (:func:`open_client`)."""
    from ecocube.catalog._search import (
        SearchQuery,
        item_search,
        normalize_bbox,
        normalize_datetime,
        open_client,
        unknown_collections,
    )

    query = SearchQuery(
        bbox=normalize_bbox(list(bbox)) if bbox is not None else None,
        datetime=normalize_datetime(time) if time is not None else None,
        collections=tuple(collections) if collections else None,
    )
    client = open_client(url)
    if collections:
        missing, known = unknown_collections(client, url, collections)
        if missing:
            raise CatalogError(
                f"collections={list(collections)!r}: {missing} not in the catalog at {url}; "
                f"available: {known}"
            )
    return list(item_search(client, url, query))
