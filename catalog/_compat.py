"""Interoperability with readers of the older ``proj:epsg`` field (e.g. stackstac 0.5).

The catalog files carry both ``proj:code`` and ``proj:epsg``, but pystac (1.12+) migrates items
on read and drops ``proj:epsg``. :func:`stackable_items` puts it back into plain item dicts,
with absolute asset hrefs, so ``stackstac.stack(stackable_items(items))`` works unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pystac

from ecocube.catalog._proj import epsg_of

__all__ = ["stackable_items"]


def stackable_items(items: Iterable[pystac.Item | dict[str, Any]]) -> list[dict[str, Any]]:
    """Item dicts with ``proj:epsg`` set from ``proj:code`` and absolute asset hrefs.

    Parameters
    ----------
    items
        pystac Items (e.g. from :func:`ecocube.catalog.search`) or item dicts.

    Returns
    -------
    list of dict
        One STAC item dict per input item, ready for ``stackstac.stack``.
    """
    out = []
    for item in items:
        if isinstance(item, pystac.Item):
            clone = item.clone()
            if clone.get_self_href():
                clone.make_asset_hrefs_absolute()
            d = clone.to_dict(transform_hrefs=False)
        else:
            d = dict(item)
        props = d.setdefault("properties", {})
        epsg = epsg_of(props)
        if epsg is not None:
            props["proj:epsg"] = epsg
        for asset in (d.get("assets") or {}).values():
            a_epsg = epsg_of(asset)
            if a_epsg is not None:
                asset["proj:epsg"] = a_epsg
        out.append(d)
    return out
