"""Reading the projection extension: the EPSG code of an item or asset.

Catalogs write the code as ``proj:code`` (``"EPSG:32632"``, projection v2) or as the older
integer ``proj:epsg``; every reader in ecocube goes through :func:`epsg_of`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pystac

from ecocube.errors import InvalidInputError

__all__ = ["epsg_of", "item_epsg"]


def epsg_of(fields: Mapping[str, Any]) -> int | None:
    """EPSG code from one mapping of ``proj:`` fields (item properties or asset fields).

    ``proj:code`` wins over ``proj:epsg``. Returns ``None`` when neither holds an EPSG code
    (absent, ``None``, another authority such as ``"IAU_2015:49900"``, or not an integer).
    """
    code = fields.get("proj:code")
    if isinstance(code, str) and code.upper().startswith("EPSG:"):
        number = code.split(":", 1)[1]
        if number.isdigit():
            return int(number)
    epsg = fields.get("proj:epsg")
    if isinstance(epsg, int) and not isinstance(epsg, bool):
        return epsg
    if isinstance(epsg, str) and epsg.isdigit():
        return int(epsg)
    return None


def item_epsg(obj: pystac.Item | pystac.Asset | Mapping[str, Any]) -> int | None:
    """EPSG code of an item or asset, from ``proj:code`` (``"EPSG:n"``) or ``proj:epsg``.

    Asset-level fields win over the item's (assets on their own grids). Returns ``None`` when
    neither field is present or the code is not an EPSG code.

    Parameters
    ----------
    obj
        A pystac Item or Asset, an item dict (``properties`` are read) or a mapping of fields.

    Raises
    ------
    InvalidInputError
        ``obj`` is none of these.
    """
    if isinstance(obj, pystac.Asset):
        owner = obj.owner.properties if isinstance(obj.owner, pystac.Item) else {}
        sources: tuple[Mapping[str, Any], ...] = (obj.extra_fields, owner)
    elif isinstance(obj, pystac.Item):
        sources = (obj.properties,)
    elif isinstance(obj, Mapping):
        props = obj.get("properties", obj)
        sources = (props if isinstance(props, Mapping) else {},)
    else:
        raise InvalidInputError(
            f"item_epsg() needs a pystac Item, Asset or dict, not {type(obj).__name__}"
        )
    for fields in sources:
        epsg = epsg_of(fields)
        if epsg is not None:
            return epsg
    return None
